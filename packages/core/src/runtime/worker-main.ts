/**
 * Body of one worker of a {@link WorkerPool}, as a thread or a child process:
 * loads the config, runs its own Sluice (own event loop, own SO_REUSEPORT
 * listeners) and obeys the pool's `stop` message.
 */
import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { validateConfigFile, type SluiceConfig } from '../config';
import type { ControlOp } from '../control/local-control';
import type { LogBatch, LogForwarder } from '../control/log-forwarder';
import type { LogTap } from '../control/log-tap';
import { createSluice, type Sluice } from './sluice';
import { WORKER_ENV, type GroupRequest, type PoolMessage, type WorkerInit } from './worker-pool';

const isThread = parentPort !== null;
const init: WorkerInit = isThread ? (workerData as WorkerInit) : (JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerInit);
let sluice: Sluice | undefined;

function send(msg: PoolMessage): void {
  if (isThread) parentPort?.postMessage(msg);
  else process.send?.(msg);
}

/** Sends a batch of log lines; resolves once the channel took it, so the forwarder keeps one batch in flight. */
function sendLogs(batch: LogBatch): Promise<void> {
  const msg: PoolMessage = { type: 'log-lines', lines: batch.lines, dropped: batch.dropped };
  if (isThread) {
    parentPort?.postMessage(msg);
    return Promise.resolve();
  }
  const ipc = process.send?.bind(process);
  if (!ipc) return Promise.resolve();
  // The callback runs once the message is written to the channel (send() returning false only means it is queued).
  return new Promise((resolve, reject) => void ipc(msg, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve())));
}

/** This worker's log forwarding, while the pool has a `/logs` subscriber: the forwarder and the tap on this worker's logger. */
let logs: Promise<{ forwarder: LogForwarder; tap: LogTap } | undefined> = Promise.resolve(undefined);

/** Starts, re-levels or (`minLevel` undefined) stops forwarding this worker's log lines to the pool's `/logs`. */
function forwardLogs(s: Sluice, minLevel: number | undefined): void {
  logs = logs.then(async (current) => {
    if (minLevel === undefined) {
      current?.forwarder.close();
      current?.tap.close();
      return undefined;
    }
    if (!current) {
      // Loaded only once someone reads /logs.
      const [{ LogForwarder }, { LogTap }] = await Promise.all([import('../control/log-forwarder'), import('../control/log-tap')]);
      const tap = new LogTap(s.logger);
      current = { forwarder: new LogForwarder(tap, sendLogs), tap };
    }
    current.forwarder.setLevel(minLevel);
    return current;
  });
}

/** Runs a group call for the pool and answers with its result or error. */
function answer(s: Sluice, requestId: number, request: GroupRequest): void {
  const run = (): Promise<unknown> => {
    switch (request.op) {
      case 'select':
        return s.select(request.group, request.member);
      case 'groups':
        return s.groups();
      case 'test-delay':
        return s.testDelay(request.tag, request.opts);
      case 'test-group-delay':
        return s.testGroupDelay(request.group, request.opts);
    }
  };
  run().then(
    (reply) => send({ type: 'group-reply', requestId, reply }),
    (err: unknown) => send({ type: 'group-reply', requestId, message: (err as Error).message, code: (err as { code?: string }).code }),
  );
}

function onMessage(msg: PoolMessage): void {
  const s = sluice;
  if (!s) return;
  if (msg.type === 'group-request' && msg.request && msg.requestId !== undefined) answer(s, msg.requestId, msg.request);
  if (msg.type === 'logs') forwardLogs(s, msg.minLevel);
  if (msg.type === 'stop') s.stop(msg.drainMs).finally(() => s.logger.flush(() => send({ type: 'stopped' })));
  if (msg.type === 'control' && msg.op !== undefined) {
    s.controlRequest(msg.op as ControlOp, msg.arg ?? {}).then(
      (result) => send({ type: 'control-reply', requestId: msg.requestId, result }),
      (err: unknown) => send({ type: 'control-reply', requestId: msg.requestId, message: (err as Error).message }),
    );
  }
  if (msg.type === 'reload') {
    loadConfig().then((config) => s.reload(config)).then(
      () => send({ type: 'reloaded' }),
      (err: unknown) => send({ type: 'reload-failed', message: (err as Error).message }),
    );
  }
}

/** The config file, with every inbound shared: each worker binds the same address and port, and the kernel spreads flows across the group. */
async function loadConfig(): Promise<SluiceConfig> {
  const loaded = await validateConfigFile(init.configPath);
  return { ...loaded, inbounds: loaded.inbounds.map((i) => ({ ...i, reuse_port: true })) };
}

async function main(): Promise<void> {
  // Threads share this process's open-file limit; processes have one each.
  const workers = init.workers ?? 1;
  const workerShare = { workers, perProcess: init.mode === 'thread' ? workers : 1 };
  sluice = createSluice(await loadConfig(), { announce: false, workerShare });
  await sluice.start();
  send({ type: 'started' });
}

if (isThread) parentPort?.on('message', onMessage);
else {
  process.on('message', onMessage);
  // The pool decides when to stop: a Ctrl-C reaches the whole process group, so workers ignore it.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  // The pool is gone (killed without a goodbye): stop serving rather than linger as an orphan.
  process.on('disconnect', () => {
    const done = (): never => process.exit(0);
    if (sluice) void sluice.stop(0).finally(done);
    else done();
  });
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string; issues?: PoolMessage['issues'] };
  send({ type: 'failed', message: e.message, code: e.code, issues: e.issues });
});
