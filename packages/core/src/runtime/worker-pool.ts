import { fork } from 'node:child_process';
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
  readonly type: 'started' | 'failed' | 'stop' | 'stopped' | 'reload' | 'reloaded' | 'reload-failed';
  readonly drainMs?: number;
  readonly message?: string;
  readonly code?: string;
  readonly issues?: readonly ConfigIssue[];
}

/** How workers run: threads share one process (and its open-file limit); processes each get their own. */
export type WorkerMode = 'thread' | 'process';

/** Environment variable through which a worker process receives its {@link WorkerInit}. */
export const WORKER_ENV = 'SLUICE_WORKER';

/** `auto` → the number of CPUs this process may use; numbers are taken as they are (at least 1). */
export function resolveWorkerCount(value: number | 'auto'): number {
  return value === 'auto' ? Math.max(1, os.availableParallelism()) : Math.max(1, Math.floor(value));
}

/** The little a pool needs of a thread or a child process. */
interface WorkerHandle {
  send(msg: PoolMessage): void;
  on(event: 'message', f: (m: PoolMessage) => void): void;
  on(event: 'error', f: (err: Error) => void): void;
  on(event: 'exit', f: (code: number | null) => void): void;
  kill(): Promise<void>;
}

function spawnWorker(mode: WorkerMode, file: string, init: WorkerInit): WorkerHandle {
  if (mode === 'thread') {
    const w = new Worker(file, { workerData: init });
    return {
      send: (m) => w.postMessage(m),
      on: (event: string, f: (...a: any[]) => void) => void w.on(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
      kill: () => w.terminate().then(() => undefined),
    };
  }
  // stdout is inherited so every worker writes its own whole JSON lines to the same place.
  const c = fork(file, [], { env: { ...process.env, [WORKER_ENV]: JSON.stringify(init) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    send: (m) => void (c.connected && c.send(m)),
    on: (event: string, f: (...a: any[]) => void) => void c.on(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
    kill: () =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      }),
  };
}

/**
 * N event loops, one Sluice each, as worker threads or child processes. Each
 * opens its own transparent listeners with SO_REUSEPORT, so the kernel
 * spreads TCP flows and UDP 4-tuples across them; access-log lines are
 * written by each worker straight to stdout, whole lines at a time.
 */
export class WorkerPool {
  private readonly workers: WorkerHandle[] = [];

  constructor(
    private readonly configPath: string,
    private readonly count: number,
    private readonly logger: Logger,
    private readonly mode: WorkerMode = 'process',
  ) {}

  /** Starts every worker; if one fails, stops the others and rethrows its error. */
  async start(): Promise<void> {
    const file = path.join(__dirname, 'worker-main.js');
    const started = [];
    for (let index = 0; index < this.count; index++) {
      const w = spawnWorker(this.mode, file, { configPath: path.resolve(this.configPath), index });
      this.workers.push(w);
      started.push(
        new Promise<void>((resolve, reject) => {
          w.on('message', (m) => {
            if (m.type === 'started') resolve();
            if (m.type === 'failed') reject(m.issues ? new ConfigError(m.issues) : Object.assign(new Error(m.message), { code: m.code }));
          });
          w.on('error', reject);
          w.on('exit', (code) => reject(new Error(`worker ${index} exited with code ${code} before starting`)));
        }),
      );
    }
    try {
      await Promise.all(started);
    } catch (err) {
      await Promise.all(this.workers.map((w) => w.kill()));
      throw err;
    }
    for (const [i, w] of this.workers.entries()) {
      w.on('error', (err) => this.logger.error({ err, worker: i }, 'worker failed'));
    }
    this.logger.info({ workers: this.count, mode: this.mode }, 'sluice started');
  }

  /**
   * Has every worker reload the config file (SIGHUP). Resolves when all have
   * answered; rejects with the first worker's error (the workers that failed
   * keep their running config).
   */
  async reload(): Promise<void> {
    const results = await Promise.all(
      this.workers.map(
        (w, i) =>
          new Promise<string | undefined>((resolve) => {
            const onMessage = (m: PoolMessage): void => {
              if (m.type === 'reloaded') resolve(undefined);
              else if (m.type === 'reload-failed') resolve(`worker ${i}: ${m.message ?? 'reload failed'}`);
            };
            w.on('message', onMessage);
            w.send({ type: 'reload' });
          }),
      ),
    );
    const failed = results.filter((r): r is string => r !== undefined);
    if (failed.length > 0) throw new Error(failed.join('; '));
  }

  /** Asks every worker to drain and stop, then ends them. */
  async stop(drainMs?: number): Promise<void> {
    this.logger.info({ workers: this.count }, 'sluice stopping');
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.on('message', (m) => m.type === 'stopped' && void w.kill().then(resolve));
            w.on('exit', () => resolve());
            w.send({ type: 'stop', drainMs });
          }),
      ),
    );
    this.logger.info('sluice stopped');
  }
}
