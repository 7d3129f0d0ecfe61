import * as assert from 'node:assert/strict';
import { createTopology, isAlive, listNamespaces, TOPOLOGY_ADDRESSES as A, type Topology } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { uniquePrefix } from '../helpers/env';
import { freePort } from '../helpers/ports';
import { startHttpServer, type ProbeServer } from '../helpers/servers';

// The test bed itself, without Sluice: the gateway is a plain router until the
// final drop is installed, and then nothing gets through. Every other suite
// relies on both facts.
describe('e2e: network-namespace topology', function () {
  let topo: Topology;
  let http: ProbeServer;

  before(async function () {
    this.timeout(30_000);
    topo = (await createTopology({ prefix: uniquePrefix('top') })).destroyOnExit();
    // A port chosen up front, as a config file would need it.
    http = await startHttpServer(topo, 'remote', await freePort(topo, 'remote', '::'));
  });
  after(async function () {
    this.timeout(30_000);
    await topo?.destroy();
  });

  for (const [family, addr, clientAddr] of [
    ['IPv4', A.remote.v4, A.client.v4],
    ['IPv6', A.remote.v6, A.client.v6],
  ] as const) {
    const url = addr.includes(':') ? `http://[${addr}]:PORT/` : `http://${addr}:PORT/`;

    it(`${family}: without the final drop the gateway forwards, and the remote sees the client itself`, async function () {
      await topo.removeFinalDrop();
      const r = await curl(topo, url.replace('PORT', String(http.port)), 5);
      assert.equal(r.exitCode, 0, describeCurl(r));
      assert.equal(JSON.parse(r.body).peer, clientAddr, describeCurl(r));
    });

    it(`${family}: with the final drop, forwarded traffic is dropped`, async function () {
      await topo.installFinalDrop();
      const before = http.probe.eventsNamed('closed').length;
      const r = await curl(topo, url.replace('PORT', String(http.port)), 2);
      assert.equal(r.exitCode, 28, `expected a timeout (28): ${describeCurl(r)}`);
      assert.equal(http.probe.eventsNamed('closed').length, before, 'the remote server saw a connection');
    });
  }

  it('refuses firewall commands that would leave the namespace', async function () {
    await assert.rejects(topo.installFirewall('gw', '', ['ip -n other route add default dev lo']), /namespace-switching/);
  });

  it('destroy() kills every process in the namespaces, deletes them, and is idempotent', async function () {
    this.timeout(20_000);
    const t = await createTopology({ prefix: uniquePrefix('del') });
    try {
      // A process that ignores SIGTERM forces the SIGKILL path.
      t.spawn('remote', 'sh', ['-c', 'trap "" TERM; while :; do sleep 1; done']);
      t.spawn('gw', 'sleep', ['600']);
      const pids = [...(await t.pids('remote')), ...(await t.pids('gw'))];
      assert.ok(pids.length >= 2, `expected processes in the namespaces, got ${pids.join(',')}`);
      assert.deepEqual((await listNamespaces(t.prefix + '-')).sort(), Object.values(t.names).sort());
      await Promise.all([t.destroy(), t.destroy()]);
      await t.destroy();
      assert.deepEqual(await listNamespaces(t.prefix + '-'), []);
      assert.deepEqual(pids.filter(isAlive), [], 'processes survived destroy()');
    } finally {
      // Whatever failed above, nothing of this topology outlives the test.
      await t.destroy().catch(() => undefined);
    }
  });

  it('refuses to reuse an existing namespace and leaves it alone', async function () {
    await assert.rejects(createTopology({ prefix: topo.prefix }), /exists/i);
    assert.equal((await listNamespaces(topo.prefix + '-')).length, 3);
  });
});
