import type { LogBatch } from './log-forwarder';
import { lineLevel, type LogSource, type LogSubscriber } from './log-tap';

/** What a {@link PoolLogSource} needs of a worker pool: the workers' log forwarding. */
export interface PoolLogPort {
  /**
   * Has every worker (and every worker started later) forward its lines at
   * or above pino level number `minLevel`; `undefined` stops forwarding.
   */
  forwardLogs(minLevel: number | undefined): void;
  /** Calls `f` with each batch a worker forwards; returns the unsubscribe. */
  onLogLines(f: (worker: number, batch: LogBatch) => void): () => void;
}

interface Subscription {
  readonly f: LogSubscriber;
  readonly minLevel: number;
}

/**
 * `GET /logs` of a worker pool: the pool process's own lines and the lines
 * every worker forwards. Workers forward only while someone subscribes, and
 * only lines at the lowest level a subscriber asked for; each subscriber
 * still gets only its own level's lines. A batch a worker had to cut short
 * ends with a warning line saying how many lines it dropped.
 */
export class PoolLogSource implements LogSource {
  private readonly subscriptions = new Set<Subscription>();
  private stopListening: (() => void) | undefined;
  private forwarding: number | undefined;

  constructor(
    private readonly local: LogSource,
    private readonly pool: PoolLogPort,
  ) {}

  subscribe(f: LogSubscriber, minLevel = 0): () => void {
    const sub: Subscription = { f, minLevel };
    const offLocal = this.local.subscribe(f, minLevel);
    this.subscriptions.add(sub);
    this.stopListening ??= this.pool.onLogLines((worker, batch) => this.deliver(worker, batch));
    this.update();
    return () => {
      offLocal();
      if (!this.subscriptions.delete(sub)) return;
      this.update();
    };
  }

  private deliver(worker: number, batch: LogBatch): void {
    const lines = batch.dropped > 0 ? [...batch.lines, droppedLine(worker, batch.dropped)] : batch.lines;
    for (const line of lines) {
      const level = lineLevel(line);
      for (const s of this.subscriptions) if (level >= s.minLevel) s.f(line);
    }
  }

  /** Tells the workers the lowest level anyone wants, or to stop when nobody listens (or everyone asked for `silent`). */
  private update(): void {
    let min = Infinity;
    for (const s of this.subscriptions) min = Math.min(min, s.minLevel);
    const wanted = Number.isFinite(min) ? min : undefined;
    if (this.subscriptions.size === 0) {
      this.stopListening?.();
      this.stopListening = undefined;
    }
    if (wanted === this.forwarding) return;
    this.forwarding = wanted;
    this.pool.forwardLogs(wanted);
  }

  /** Stops every worker's forwarding. */
  close(): void {
    this.subscriptions.clear();
    this.update();
  }
}

/** The warning a subscriber sees in place of the lines a worker dropped. */
function droppedLine(worker: number, dropped: number): string {
  return JSON.stringify({ level: 40, time: Date.now(), worker, dropped, msg: 'log lines dropped: the /logs reader fell behind' });
}
