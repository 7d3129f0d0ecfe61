import * as assert from 'node:assert/strict';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHalfCloseServer, startHttpServer, type ProbeServer } from '../helpers/servers';
import { contractConfig, writeFile } from '../helpers/sluice';

/** The contract config with every flow to the remote's IPv4 address sent to the block outbound. */
const blockingConfig = (): string =>
  contractConfig().replace('    - { dst_cidr: [203.0.113.0/24], outbound: deny }', `    - { dst_cidr: [203.0.113.0/24, ${A.remote.v4}/32], outbound: deny }`);

describe('e2e: SIGHUP reloads the config', function () {
  const env = useE2E({ tag: 'reld', sluice: false });
  let http: ProbeServer;
  let hold: ProbeServer;

  before(async function () {
    http = await startHttpServer(env.topo);
    hold = await startHalfCloseServer(env.topo, 16);
  });
  afterEach(async function () {
    await env.stopSluice();
  });

  it('new flows follow the new rules, an established flow survives, and the log says what changed', async function () {
    const path = writeFile(env.tmp, 'reload.yaml', contractConfig());
    const sluice = await env.startSluice(path);
    const target = `http://${A.remote.v4}:${http.port}/`;
    const before = await curl(env.topo, target);
    assert.equal(before.exitCode, 0, `before the reload: ${describeCurl(before)}`);

    // A flow that is open across the reload; it finishes (and is answered) only afterwards.
    const client = env.topo.spawn('client', 'socat', ['-', `TCP4:${A.remote.v4}:${hold.port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let reply = '';
    client.stdout!.on('data', (d: Buffer) => (reply += d.toString()));
    const clientDone = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    try {
      await hold.probe.waitForEvent('connection', (e) => e.peer === A.gwWan.v4);

      writeFile(env.tmp, 'reload.yaml', blockingConfig());
      sluice.child.kill('SIGHUP');
      const line = await sluice.waitFor((l) => l.msg === 'config reloaded', 10_000, 'the "config reloaded" line');
      const rules = line.rules as { added: number; removed: number; before: number; after: number };
      assert.deepEqual(rules, { before: 1, after: 1, added: 1, removed: 1 }, JSON.stringify(line));

      const after = await curl(env.topo, target, 3);
      assert.notEqual(after.exitCode, 0, `after the reload the request should be blocked: ${describeCurl(after)}`);
      await sluice.waitFor((l) => l.msg === 'flow closed' && l.outbound === 'deny' && l.dst === `${A.remote.v4}:${http.port}`, 5000, 'the blocked flow');

      client.stdin!.end('request');
      await clientDone;
      // The server reports what it read, then sends 16 bytes, after the client's EOF.
      assert.equal(reply, 'received 7\nabcdefghijklmnop', 'the established flow should complete after the reload');
      const held = await sluice.waitFor((l) => l.msg === 'flow closed' && l.dst === `${A.remote.v4}:${hold.port}`, 5000, 'the held flow');
      assert.equal(held.outbound, 'direct');
      assert.equal(held.error, undefined, JSON.stringify(held));
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('a config that does not validate is rejected and the running one kept', async function () {
    const path = writeFile(env.tmp, 'reload-bad.yaml', contractConfig());
    const sluice = await env.startSluice(path);
    writeFile(env.tmp, 'reload-bad.yaml', contractConfig().replace('type: block', 'type: nosuchtype'));
    sluice.child.kill('SIGHUP');
    const failed = await sluice.waitFor((l) => l.msg === 'reload failed; the running config is kept', 10_000, 'the reload failure line');
    assert.match(JSON.stringify(failed), /nosuchtype/);
    const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/`);
    assert.equal(r.exitCode, 0, `still serving with the old config: ${describeCurl(r)}`);
    assert.equal(sluice.exitStatus, undefined, 'sluice exited');
  });
});
