import type { LogSource } from './log-tap';

/** Lines a worker hands to its pool at once, and how many it had to drop since the last batch. */
export interface LogBatch {
  readonly lines: string[];
  readonly dropped: number;
}

/** Bounds of a {@link LogForwarder}. */
export interface LogForwarderOptions {
  /** Most lines waiting to be sent; lines beyond are dropped and counted (default 1000). */
  readonly maxLines?: number;
  /** Most bytes (UTF-16 code units) of lines waiting to be sent (default 1 MiB). */
  readonly maxBytes?: number;
  /** How long the first waiting line waits for others to share its batch (default 50 ms). */
  readonly flushMs?: number;
}

/**
 * Hands a worker's log lines (at or above a level) to the pool process in
 * batches, while the pool has a `/logs` subscriber. One batch is in flight
 * at a time: `send` resolves when the channel took it, and lines written
 * meanwhile wait, up to `maxLines` and `maxBytes`. Past that they are
 * dropped and counted in the next batch, so a pool (or a dashboard behind
 * it) that reads slowly costs the worker a bounded buffer, never its memory.
 */
export class LogForwarder {
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly flushMs: number;
  private buffer: string[] = [];
  private bytes = 0;
  private dropped = 0;
  private inFlight = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly source: LogSource,
    private readonly send: (batch: LogBatch) => Promise<void> | void,
    opts: LogForwarderOptions = {},
  ) {
    this.maxLines = opts.maxLines ?? 1000;
    this.maxBytes = opts.maxBytes ?? 1024 * 1024;
    this.flushMs = opts.flushMs ?? 50;
  }

  /** Forwards lines at or above pino level number `minLevel` from now on (replacing the previous level). */
  setLevel(minLevel: number): void {
    if (this.closed) return;
    this.unsubscribe?.();
    this.unsubscribe = this.source.subscribe((line) => this.take(line), minLevel);
  }

  /** Lines (and drops) waiting to be sent: what the bounds cap. */
  get pending(): { lines: number; bytes: number; dropped: number } {
    return { lines: this.buffer.length, bytes: this.bytes, dropped: this.dropped };
  }

  private take(line: string): void {
    if (this.buffer.length >= this.maxLines || this.bytes + line.length > this.maxBytes) {
      this.dropped++;
    } else {
      this.buffer.push(line);
      this.bytes += line.length;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.inFlight || this.closed) return;
    this.timer = setTimeout(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.inFlight || this.closed || (this.buffer.length === 0 && this.dropped === 0)) return;
    const batch: LogBatch = { lines: this.buffer, dropped: this.dropped };
    this.buffer = [];
    this.bytes = 0;
    this.dropped = 0;
    this.inFlight = true;
    try {
      await this.send(batch);
    } catch {
      // The pool went away or the channel closed: these lines are lost, the worker keeps serving.
    } finally {
      this.inFlight = false;
      if (this.buffer.length > 0 || this.dropped > 0) this.schedule();
    }
  }

  /** Stops listening and forgets what waits. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer = [];
    this.bytes = 0;
    this.dropped = 0;
  }
}
