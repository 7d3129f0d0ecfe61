import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ConfigError, SluiceError, type ConfigIssue, type ErrorCode } from '../errors';
import type { DelayResult, DelayTestOptions, GroupMemberState, GroupState } from '../outbound/groups';
import type { GroupControl } from './group-control';

/** What a worker is started with. */
export interface WorkerInit {
  readonly configPath: string;
  readonly index: number;
  /** Workers in the pool: each enforces its share of the caps (`limits.max_tcp_flows`, `udp.max_sessions`). */
  readonly workers: number;
  readonly mode: WorkerMode;
}

/** A group call the pool forwards to a worker ({@link GroupControl}, one method each). */
export type GroupRequest =
  | { readonly op: 'select'; readonly group: string; readonly member: string }
  | { readonly op: 'groups' }
  | { readonly op: 'test-delay'; readonly tag: string; readonly opts?: DelayTestOptions }
  | { readonly op: 'test-group-delay'; readonly group: string; readonly opts?: DelayTestOptions };

/** Messages between the pool and its workers. */
export interface PoolMessage {
  readonly type:
    | 'started'
    | 'failed'
    | 'stop'
    | 'stopped'
    | 'reload'
    | 'reloaded'
    | 'reload-failed'
    | 'group-request'
    | 'group-reply'
    | 'control'
    | 'control-reply'
    | 'logs'
    | 'log-lines';
  readonly drainMs?: number;
  /**
   * Pairs a reply with its request (`group-request`/`group-reply`,
   * `control`/`control-reply`: a control API operation for the worker's
   * Sluice, and its answer, or `message` on failure).
   */
  readonly requestId?: number;
  readonly op?: string;
  readonly arg?: Record<string, unknown>;
  readonly result?: unknown;
  readonly message?: string;
  readonly code?: string;
  readonly issues?: readonly ConfigIssue[];
  readonly request?: GroupRequest;
  /** A `group-reply`'s result; absent with `message` when the call failed. */
  readonly reply?: unknown;
  /** `logs`: forward log lines at or above this pino level number; absent: stop forwarding. */
  readonly minLevel?: number;
  /** `log-lines`: a batch of the worker's JSON log lines, and how many it dropped before it (bounded buffer). */
  readonly lines?: string[];
  readonly dropped?: number;
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
export class WorkerPool implements GroupControl {
  private readonly slots: Slot[] = [];
  /** The level workers forward log lines at, while the control API has a `/logs` subscriber; sent to workers that start later too. */
  private logLevel: number | undefined;
  private readonly logListeners = new Set<(worker: number, batch: { lines: string[]; dropped: number }) => void>();
  /** Selections made through {@link select}, replayed to a worker that restarts. */
  private readonly selections = new Map<string, string>();
  private requests = 0;
  private readonly pending = new Map<number, { worker: WorkerHandle; resolve: (v: unknown) => void; reject: (err: Error) => void }>();
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
    readonly mode: WorkerMode = 'process',
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
        if (m.type === 'group-reply') this.onReply(m);
        if (m.type === 'log-lines') for (const f of this.logListeners) f(index, { lines: m.lines ?? [], dropped: m.dropped ?? 0 });
        if (m.type === 'started') {
          started = true;
          if (this.logLevel !== undefined) w.send({ type: 'logs', minLevel: this.logLevel });
          // A restarted worker read the config afresh: give it the selections the others have.
          for (const [group, member] of this.selections) void this.ask(w, { op: 'select', group, member }).catch(() => undefined);
          resolve();
        }
        if (m.type === 'failed') reject(m.issues ? new ConfigError(m.issues) : Object.assign(new Error(m.message), { code: m.code }));
      });
      w.on('error', (err) => {
        if (started) this.logger.error({ err, worker: index }, 'worker failed');
        else reject(err);
      });
      w.on('exit', (code, signal) => {
        this.dropPending(w);
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

  private live(): WorkerHandle[] {
    return this.slots.map((s) => s.handle).filter((h): h is WorkerHandle => h !== undefined);
  }

  /** Sends `request` to worker `w` and resolves with its reply; rejects with the worker's error or when it exits first. */
  private ask(w: WorkerHandle, request: GroupRequest): Promise<unknown> {
    const requestId = ++this.requests;
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { worker: w, resolve, reject });
      w.send({ type: 'group-request', requestId, request });
    });
  }

  /** Settles the request a `group-reply` answers. */
  private onReply(m: PoolMessage): void {
    const p = this.pending.get(m.requestId!);
    if (!p) return;
    this.pending.delete(m.requestId!);
    if (m.message !== undefined) p.reject(new SluiceError((m.code ?? 'SLUICE_ERR_CONFIG') as ErrorCode, m.message));
    else p.resolve(m.reply);
  }

  /** Fails the requests `w` will never answer. */
  private dropPending(w: WorkerHandle): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.pending.delete(id);
      p.reject(new Error('the worker exited before answering'));
    }
  }

  /** The first live worker, or an error saying there is none. */
  private anyWorker(): WorkerHandle {
    const w = this.live()[0];
    if (!w) throw new SluiceError('SLUICE_ERR_SHUTDOWN', 'no worker is running');
    return w;
  }

  /** Selects `member` in every worker; see {@link GroupControl.select}. Kept for workers that restart. */
  async select(group: string, member: string): Promise<void> {
    await Promise.all(this.live().map((w) => this.ask(w, { op: 'select', group, member })));
    this.selections.set(group, member);
  }

  /**
   * Every worker's groups, merged: the first worker's choice (`now`; a
   * selector's is the same everywhere), and for each member the state of the
   * worker that tested it last (workers check on their own timers).
   */
  async groups(): Promise<GroupState[]> {
    const all = (await Promise.all(this.live().map((w) => this.ask(w, { op: 'groups' })))) as GroupState[][];
    return mergeGroupStates(all);
  }

  /** Tests through one worker; see {@link GroupControl.testDelay}. */
  async testDelay(tag: string, opts?: DelayTestOptions): Promise<DelayResult> {
    return (await this.ask(this.anyWorker(), { op: 'test-delay', tag, opts })) as DelayResult;
  }

  /** Tests every member through one worker; see {@link GroupControl.testGroupDelay}. */
  async testGroupDelay(group: string, opts?: DelayTestOptions): Promise<Record<string, DelayResult>> {
    return (await this.ask(this.anyWorker(), { op: 'test-group-delay', group, opts })) as Record<string, DelayResult>;
  }

  private nextRequest = 0;

  /**
   * Has every worker, and each one started later, send its log lines at or
   * above pino level number `minLevel` (`log-lines` messages, batched and
   * bounded by the worker); `undefined` stops them.
   */
  forwardLogs(minLevel: number | undefined): void {
    this.logLevel = minLevel;
    for (const w of this.live()) w.send(minLevel === undefined ? { type: 'logs' } : { type: 'logs', minLevel });
  }

  /** Calls `f` with each batch of log lines a worker (slot `worker`) forwards; returns the unsubscribe. */
  onLogLines(f: (worker: number, batch: { lines: string[]; dropped: number }) => void): () => void {
    this.logListeners.add(f);
    return () => void this.logListeners.delete(f);
  }

  /**
   * Runs a control API operation in every live worker (or only the first,
   * with `first`) and gathers the answers; a worker that fails or has not
   * answered within `timeoutMs` is left out and named in `errors`.
   * `workers[i]` is the slot (worker index) that answered `results[i]`.
   */
  async control(
    op: string,
    arg: Record<string, unknown> = {},
    opts: { first?: boolean; timeoutMs?: number } = {},
  ): Promise<{ results: unknown[]; errors: string[]; workers: number[] }> {
    let live = this.slots.flatMap((s, index) => (s.handle ? [{ w: s.handle, index }] : []));
    if (opts.first) live = live.slice(0, 1);
    const answers = await Promise.all(
      live.map(
        ({ w, index: i }) =>
          new Promise<{ result?: unknown; error?: string; worker: number }>((resolve) => {
            const requestId = ++this.nextRequest;
            const timer = setTimeout(() => done({ error: `worker ${i}: no answer within ${opts.timeoutMs ?? 5000} ms` }), opts.timeoutMs ?? 5000);
            const onMessage = (m: PoolMessage): void => {
              if (m.type === 'control-reply' && m.requestId === requestId) done(m.message !== undefined ? { error: m.message } : { result: m.result });
            };
            const done = (r: { result?: unknown; error?: string }): void => {
              clearTimeout(timer);
              w.off('message', onMessage);
              resolve({ ...r, worker: i });
            };
            w.on('message', onMessage);
            w.send({ type: 'control', requestId, op, arg });
          }),
      ),
    );
    const ok = answers.filter((a) => a.error === undefined);
    return { results: ok.map((a) => a.result), workers: ok.map((a) => a.worker), errors: answers.flatMap((a) => (a.error !== undefined ? [a.error] : [])) };
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

/** Merges the workers' group snapshots; see {@link WorkerPool.groups}. */
export function mergeGroupStates(perWorker: readonly (readonly GroupState[])[]): GroupState[] {
  const [first, ...rest] = perWorker;
  if (!first) return [];
  return first.map((g) => {
    const health = g.health.map((m) => {
      let latest: GroupMemberState = m;
      for (const other of rest) {
        const o = other.find((x) => x.tag === g.tag)?.health.find((x) => x.tag === m.tag);
        if (o && (o.checkedAt ?? 0) > (latest.checkedAt ?? 0)) latest = o;
      }
      return latest;
    });
    return { ...g, health };
  });
}
