/**
 * Body of one worker of a {@link WorkerPool}, as a thread or a child process:
 * loads the config, runs its own Sluice (own event loop, own SO_REUSEPORT
 * listeners) and obeys the pool's `stop` message.
 */
import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { validateConfigFile } from '../config';
import { createSluice, type Sluice } from './sluice';
import { WORKER_ENV, type PoolMessage, type WorkerInit } from './worker-pool';

const isThread = parentPort !== null;
const init: WorkerInit = isThread ? (workerData as WorkerInit) : (JSON.parse(process.env[WORKER_ENV] ?? '{}') as WorkerInit);
let sluice: Sluice | undefined;

function send(msg: PoolMessage): void {
  if (isThread) parentPort?.postMessage(msg);
  else process.send?.(msg);
}

function onMessage(msg: PoolMessage): void {
  if (msg.type !== 'stop' || !sluice) return;
  const s = sluice;
  s.stop(msg.drainMs).finally(() => s.logger.flush(() => send({ type: 'stopped' })));
}

async function main(): Promise<void> {
  const loaded = await validateConfigFile(init.configPath);
  // Every worker binds the same address and port; the kernel spreads flows across the group.
  const config = { ...loaded, inbounds: loaded.inbounds.map((i) => ({ ...i, reuse_port: true })) };
  sluice = createSluice(config, { announce: false });
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
