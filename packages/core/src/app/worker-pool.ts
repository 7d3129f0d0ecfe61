import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ConfigError, type ConfigIssue } from '../errors';

/** What a worker is started with. */
export interface WorkerInit {
  readonly configPath: string;
  readonly index: number;
}

/** Messages between the pool and its workers. */
export interface PoolMessage {
  readonly type: 'started' | 'failed' | 'stop' | 'stopped';
  readonly drainMs?: number;
  readonly message?: string;
  readonly code?: string;
  readonly issues?: readonly ConfigIssue[];
}

/** `auto` → the number of CPUs this process may use; numbers are taken as they are (at least 1). */
export function resolveWorkerCount(value: number | 'auto'): number {
  return value === 'auto' ? Math.max(1, os.availableParallelism()) : Math.max(1, Math.floor(value));
}

/**
 * N event loops, one Sluice each, in worker threads. Each opens its own
 * transparent listeners with SO_REUSEPORT, so the kernel spreads TCP flows
 * and UDP 4-tuples across them; access-log lines are written by each worker
 * straight to stdout, whole lines at a time.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];

  constructor(
    private readonly configPath: string,
    private readonly count: number,
    private readonly logger: Logger,
  ) {}

  /** Starts every worker; if one fails, stops the others and rethrows its error. */
  async start(): Promise<void> {
    const file = path.join(__dirname, 'worker-main.js');
    const started = [];
    for (let index = 0; index < this.count; index++) {
      const w = new Worker(file, { workerData: { configPath: path.resolve(this.configPath), index } satisfies WorkerInit });
      this.workers.push(w);
      started.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (m: PoolMessage): void => {
            if (m.type === 'started') resolve();
            if (m.type === 'failed') {
              const err = m.issues ? new ConfigError(m.issues) : Object.assign(new Error(m.message), { code: m.code });
              reject(err);
            }
          };
          w.on('message', onMessage);
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`worker ${index} exited with code ${code} before starting`)));
        }),
      );
    }
    try {
      await Promise.all(started);
    } catch (err) {
      await Promise.all(this.workers.map((w) => w.terminate()));
      throw err;
    }
    for (const [i, w] of this.workers.entries()) {
      w.on('error', (err) => this.logger.error({ err, worker: i }, 'worker failed'));
    }
    this.logger.info({ workers: this.count }, 'sluice started');
  }

  /** Asks every worker to drain and stop, then ends the threads. */
  async stop(drainMs?: number): Promise<void> {
    this.logger.info({ workers: this.count }, 'sluice stopping');
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const done = (): void => void w.terminate().then(() => resolve());
            w.on('message', (m: PoolMessage) => m.type === 'stopped' && done());
            w.once('exit', () => resolve());
            w.postMessage({ type: 'stop', drainMs } satisfies PoolMessage);
          }),
      ),
    );
    this.logger.info('sluice stopped');
  }
}
