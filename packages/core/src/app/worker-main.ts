/**
 * Body of one worker thread of a {@link WorkerPool}: loads the config, runs
 * its own Sluice (own event loop, own SO_REUSEPORT listeners) and obeys the
 * pool's `stop` message.
 */
import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { validateConfigFile } from '../config';
import { createSluice, type Sluice } from './sluice';
import type { PoolMessage, WorkerInit } from './worker-pool';

const init = workerData as WorkerInit;
let sluice: Sluice | undefined;

function send(msg: PoolMessage): void {
  parentPort?.postMessage(msg);
}

async function main(): Promise<void> {
  const loaded = await validateConfigFile(init.configPath);
  // Every worker binds the same address and port; the kernel spreads flows across the group.
  const config = { ...loaded, inbounds: loaded.inbounds.map((i) => ({ ...i, reuse_port: true })) };
  sluice = createSluice(config, { announce: false });
  await sluice.start();
  send({ type: 'started' });
}

parentPort?.on('message', (msg: PoolMessage) => {
  if (msg.type !== 'stop' || !sluice) return;
  const s = sluice;
  s.stop(msg.drainMs).finally(() => s.logger.flush(() => send({ type: 'stopped' })));
});

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  send({ type: 'failed', message: e.message, code: e.code, issues: (e as { issues?: unknown }).issues as PoolMessage['issues'] });
});
