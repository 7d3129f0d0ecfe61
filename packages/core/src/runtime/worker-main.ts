/**
 * Body of one worker of a {@link WorkerPool}, as a thread or a child process:
 * loads the config, runs its own Sluice (own event loop, own SO_REUSEPORT
 * listeners) and obeys the pool's `stop` message.
 */
import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { validateConfigFile, type SluiceConfig } from '../config';
import type { ControlOp } from '../control/local-control';
import { createSluice, type Sluice } from './sluice';
import { WORKER_ENV, type GroupRequest, type PoolMessage, type WorkerInit } from './worker-pool';

const isThread = parentPort !== null;
const init: WorkerInit = isThread ? (workerData as WorkerInit) : (JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerInit);
let sluice: Sluice | undefined;

function send(msg: PoolMessage): void {
  if (isThread) parentPort?.postMessage(msg);
  else process.send?.(msg);
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
