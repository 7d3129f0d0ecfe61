import type { ByteTotals } from './agent';

/** One `/traffic` sample: bytes in the last second. */
export interface TrafficSample {
  readonly up: number;
  readonly down: number;
}

/**
 * Samples the byte totals once a second while someone listens, and hands
 * each listener the difference: one reading for all `/traffic` streams.
 */
export class TrafficMeter {
  private readonly listeners = new Set<(s: TrafficSample) => void>();
  private timer: NodeJS.Timeout | undefined;
  private last: ByteTotals | undefined;
  private reading = false;

  constructor(private readonly read: () => Promise<ByteTotals>) {}

  subscribe(f: (s: TrafficSample) => void): () => void {
    this.listeners.add(f);
    if (!this.timer) {
      void this.sample();
      this.timer = setInterval(() => void this.sample(), 1000);
    }
    return () => {
      this.listeners.delete(f);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.last = undefined;
      }
    };
  }

  private async sample(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const now = await this.read();
      const last = this.last ?? now;
      this.last = now;
      const s = { up: Math.max(0, now.up - last.up), down: Math.max(0, now.down - last.down) };
      for (const f of this.listeners) f(s);
    } catch {
      // A worker that did not answer this second: the next sample covers it.
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
