import type { Logger } from 'pino';

/**
 * Writes a repeated warning at most once per interval per key; the next line
 * after a quiet spell carries `suppressed`, the number of lines left out, so
 * a flood (a loop, a failing route hit by every datagram) costs one line per
 * interval and still says how big it was.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `msg` at `warn` unless a line with the same key was written less than an interval ago. */
  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    // Bounded: keys are config tags and fixed texts, but forget old ones anyway.
    if (this.last.size > 1000) this.last.clear();
    this.last.set(key, { at: t, suppressed: 0 });
    this.logger.warn(suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  }
}
