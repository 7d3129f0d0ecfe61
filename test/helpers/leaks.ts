import * as assert from 'node:assert/strict';
import { isAlive, listNamespaces, NAMESPACE_ROLES } from '@sluice/testbed';
import { uniquePrefix, useE2E, type E2EEnv, type E2EOptions } from './env';

/**
 * {@link useE2E}, plus a check that its teardown left nothing behind. Just
 * before the teardown, the pids of every process in the suite's namespaces
 * are noted (Sluice, probes, dnsmasq, SOCKS servers and whatever they forked);
 * after it, none may still be alive and none of the suite's namespaces may
 * exist. Mocha runs `after` hooks in the order they were registered, which
 * is what puts the two hooks on either side of the teardown; and it runs
 * them even when `before` or a test failed.
 */
export function useE2EWithLeakCheck(opts: E2EOptions): E2EEnv {
  const pids: number[] = [];
  let env: E2EEnv | undefined;
  after(async function () {
    if (!env?.topo) return;
    for (const role of NAMESPACE_ROLES) pids.push(...(await env.topo.pids(role)));
  });
  env = useE2E(opts);
  after(async function () {
    const alive = pids.filter(isAlive);
    assert.deepEqual(alive, [], `processes of the suite still alive after teardown: ${alive.join(' ')}`);
    const left = await listNamespaces(`${uniquePrefix(opts.tag)}-`);
    assert.deepEqual(left, [], `namespaces left after teardown: ${left.join(' ')}`);
  });
  return env;
}
