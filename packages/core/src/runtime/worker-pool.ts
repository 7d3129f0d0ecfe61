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
  /** Workers in the pool: each enforces its share of the caps (`limits.max_tcp_flows`, `udp.max_sessions`). */
  readonly workers: number;
  readonly mode: WorkerMode;
}

/** Messages between the pool and its workers. */
export interface PoolMessage {
  readonly type: 'started' | 'failed' | 'stop' | 'stopped' | 'reload' | 'reloaded' | 'reload-failed' | 'control' | 'control-reply';
  readonly drainMs?: number;
  /** `control` / `control-reply`: a control API operation for the worker's Sluice, and its answer (or `message` on failure). */
  readonly requestId?: number;
  readonly op?: string;
  readonly arg?: Record<string, unknown>;
  readonly result?: unknown;
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
  readonly pid: number | undefined;
  send(msg: PoolMessage): void;
  on(event: 'message', f: (m: PoolMessage) => void): void;
  off(event: 'message', f: (m: PoolMessage) => void): void;
  on(event: 'error', f: (err: Error) => void): void;
  on(event: 'exit', f: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  kill(): Promise<void>;
}

function spawnWorker(mode: WorkerMode, file: string, init: WorkerInit): WorkerHandle {
  if (mode === 'thread') {
    const w = new Worker(file, { workerData: init });
    return {
      pid: process.pid,
      send: (m) => w.postMessage(m),
      on: (event: string, f: (...a: any[]) => void) => void w.on(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
      off: (event: string, f: (...a: any[]) => void) => void w.off(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
      kill: () => w.terminate().then(() => undefined),
    };
  }
  // stdout is inherited so every worker writes its own whole JSON lines to the same place.
  const c = fork(file, [], { env: { ...process.env, [WORKER_ENV]: JSON.stringify(init) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    pid: c.pid,
    send: (m) => void (c.connected && c.send(m)),
    on: (event: string, f: (...a: any[]) => void) => void c.on(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
    off: (event: string, f: (...a: any[]) => void) => void c.off(event, f), // eslint-disable-line @typescript-eslint/no-explicit-any
    kill: () =>
      new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      }),
  };
}

/** How a pool restarts workers that die. */
export interface RestartPolicy {
  /** Delay before the first restart; doubled after each restart that follows closely (default 250 ms). */
  readonly initialDelayMs: number;
  /** Largest delay (default 10 s). */
  readonly maxDelayMs: number;
  /** This many restarts of one worker within {@link windowMs} and the pool gives up (default 5). */
  readonly maxRestarts: number;
  readonly windowMs: number;
}

const DEFAULT_RESTART: RestartPolicy = { initialDelayMs: 250, maxDelayMs: 10_000, maxRestarts: 5, windowMs: 60_000 };

/** One worker position in the pool, and its recent restarts. */
interface Slot {
  handle: WorkerHandle | undefined;
  restarts: number[];
  timer?: NodeJS.Timeout;
}

/**
 * N event loops, one Sluice each, as worker threads or child processes. Each
 * opens its own transparent listeners with SO_REUSEPORT, so the kernel
 * spreads TCP flows and UDP 4-tuples across them; access-log lines are
 * written by each worker straight to stdout, whole lines at a time.
 *
 * The pool supervises them: a worker that exits unasked is logged (exit code
 * or signal) and started again after a backoff, while the others keep
 * serving; a worker that keeps dying ({@link RestartPolicy}) makes the pool
 * give up, and {@link failed} settles with the reason.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private stopping = false;
  private fail!: (err: Error) => void;
  /** Settles (never rejects) when the pool gave up on a worker; the pool is then stopped. */
  readonly failed: Promise<Error> = new Promise<Error>((resolve) => (this.fail = resolve));
  private readonly restart: RestartPolicy;
  private readonly file = path.join(__dirname, 'worker-main.js');

  constructor(
    private readonly configPath: string,
    private readonly count: number,
    private readonly logger: Logger,
    private readonly mode: WorkerMode = 'process',
    restart: Partial<RestartPolicy> = {},
  ) {
    this.restart = { ...DEFAULT_RESTART, ...restart };
  }

  /** Starts every worker; if one fails, stops the others and rethrows its error. */
  async start(): Promise<void> {
    for (let index = 0; index < this.count; index++) this.slots.push({ handle: undefined, restarts: [] });
    try {
      await Promise.all(this.slots.map((_, index) => this.startWorker(index)));
    } catch (err) {
      this.stopping = true;
      await Promise.all(this.slots.map((s) => s.handle?.kill()));
      throw err;
    }
    this.logger.info({ workers: this.count, mode: this.mode }, 'sluice started');
  }

  /** Starts the worker of slot `index` and resolves once it serves; supervises it from then on. */
  private startWorker(index: number): Promise<void> {
    const w = spawnWorker(this.mode, this.file, { configPath: path.resolve(this.configPath), index, workers: this.count, mode: this.mode });
    const slot = this.slots[index]!;
    slot.handle = w;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      w.on('message', (m) => {
        if (m.type === 'started') {
          started = true;
          resolve();
        }
        if (m.type === 'failed') reject(m.issues ? new ConfigError(m.issues) : Object.assign(new Error(m.message), { code: m.code }));
      });
      w.on('error', (err) => {
        if (started) this.logger.error({ err, worker: index }, 'worker failed');
        else reject(err);
      });
      w.on('exit', (code, signal) => {
        if (!started) reject(new Error(`worker ${index} exited (${describeExit(code, signal)}) before starting`));
        if (slot.handle !== w || this.stopping) return;
        slot.handle = undefined;
        this.logger.error({ worker: index, pid: w.pid, code, signal }, `worker exited (${describeExit(code, signal)})`);
        if (started) this.scheduleRestart(index);
      });
    });
  }

  private scheduleRestart(index: number): void {
    const slot = this.slots[index]!;
    const now = Date.now();
    const { initialDelayMs, maxDelayMs, maxRestarts, windowMs } = this.restart;
    slot.restarts = slot.restarts.filter((t) => now - t < windowMs);
    if (slot.restarts.length >= maxRestarts) {
      this.giveUp(new Error(`worker ${index} died ${maxRestarts + 1} times within ${windowMs / 1000} s; giving up`));
      return;
    }
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** slot.restarts.length);
    slot.restarts.push(now);
    this.logger.warn({ worker: index, delayMs: delay }, 'restarting worker');
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.stopping) return;
      this.startWorker(index).then(
        () => this.logger.info({ worker: index, pid: slot.handle?.pid }, 'worker restarted'),
        (err: unknown) => {
          this.logger.error({ err, worker: index }, 'worker restart failed');
          if (slot.handle) void slot.handle.kill();
          slot.handle = undefined;
          this.scheduleRestart(index);
        },
      );
    }, delay);
  }

  private giveUp(err: Error): void {
    if (this.stopping) return;
    this.logger.fatal({ err }, 'worker pool failed');
    void this.stop(0).finally(() => this.fail(err));
  }

  /**
   * Has every worker reload the config file (SIGHUP). Resolves when all have
   * answered; rejects with the first worker's error (the workers that failed
   * keep their running config).
   */
  async reload(): Promise<void> {
    const live = this.slots.map((s) => s.handle).filter((h): h is WorkerHandle => h !== undefined);
    const results = await Promise.all(
      live.map(
        (w, i) =>
          new Promise<string | undefined>((resolve) => {
            const onMessage = (m: PoolMessage): void => {
              if (m.type !== 'reloaded' && m.type !== 'reload-failed') return;
              w.off('message', onMessage);
              resolve(m.type === 'reloaded' ? undefined : `worker ${i}: ${m.message ?? 'reload failed'}`);
            };
            w.on('message', onMessage);
            w.on('exit', () => resolve(`worker ${i} exited`));
            w.send({ type: 'reload' });
          }),
      ),
    );
    const failed = results.filter((r): r is string => r !== undefined);
    if (failed.length > 0) throw new Error(failed.join('; '));
  }

  private nextRequest = 0;

  /**
   * Runs a control API operation in every live worker (or only the first,
   * with `first`) and gathers the answers; a worker that fails or has not
   * answered within `timeoutMs` is left out and named in `errors`.
   */
  async control(op: string, arg: Record<string, unknown> = {}, opts: { first?: boolean; timeoutMs?: number } = {}): Promise<{ results: unknown[]; errors: string[] }> {
    let live = this.slots.map((s) => s.handle).filter((h): h is WorkerHandle => h !== undefined);
    if (opts.first) live = live.slice(0, 1);
    const answers = await Promise.all(
      live.map(
        (w, i) =>
          new Promise<{ result?: unknown; error?: string }>((resolve) => {
            const requestId = ++this.nextRequest;
            const timer = setTimeout(() => done({ error: `worker ${i}: no answer within ${opts.timeoutMs ?? 5000} ms` }), opts.timeoutMs ?? 5000);
            const onMessage = (m: PoolMessage): void => {
              if (m.type === 'control-reply' && m.requestId === requestId) done(m.message !== undefined ? { error: m.message } : { result: m.result });
            };
            const done = (r: { result?: unknown; error?: string }): void => {
              clearTimeout(timer);
              w.off('message', onMessage);
              resolve(r);
            };
            w.on('message', onMessage);
            w.send({ type: 'control', requestId, op, arg });
          }),
      ),
    );
    return { results: answers.filter((a) => a.error === undefined).map((a) => a.result), errors: answers.flatMap((a) => (a.error !== undefined ? [a.error] : [])) };
  }

  /** Asks every worker to drain and stop, then ends them. */
  async stop(drainMs?: number): Promise<void> {
    if (this.stopping && drainMs === undefined) return;
    this.stopping = true;
    this.logger.info({ workers: this.count }, 'sluice stopping');
    for (const s of this.slots) clearTimeout(s.timer);
    await Promise.all(
      this.slots.map(
        ({ handle: w }) =>
          w &&
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

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}
