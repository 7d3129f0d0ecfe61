import * as assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { formatEndpoint, runProbe, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl, dig } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startDnsmasq, startHttpServer, startUdpEchoServer, type Dnsmasq, type ProbeServer } from '../helpers/servers';
import { assertRefusedForCapNetAdmin, contractConfig, startSluice, writeFile } from '../helpers/sluice';

/** nobody/nogroup: a user that owns nothing here. */
const NOBODY = '65534';

/** Runs node as nobody, with no supplementary groups and `caps` as the only capabilities it can ever hold. */
function asNobody(caps: string): string[] {
  const base = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
  if (caps === '') return [...base, '--inh-caps=-all', '--bounding-set=-all', '--'];
  // Ambient capabilities survive exec for a non-root user; they must also be inheritable and in the bounding set.
  return [...base, `--inh-caps=+${caps}`, `--ambient-caps=+${caps}`, `--bounding-set=-all,+${caps}`, '--'];
}

describe('e2e: least privilege (a non-root user with only CAP_NET_ADMIN)', function () {
  const env = useE2E({ tag: 'priv', sluice: false, udpIdleMs: 1000 });
  let http: ProbeServer;
  let udpEcho: ProbeServer;
  let dnsmasq: Dnsmasq;
  let config: string;

  before(async function () {
    http = await startHttpServer(env.topo);
    udpEcho = await startUdpEchoServer(env.topo);
    dnsmasq = await startDnsmasq(env.topo, [A.remote.v4, A.remote.v6]);
    // nobody must be able to read the config: the suite's temp dir is root's (0700).
    chmodSync(env.tmp, 0o755);
    config = writeFile(env.tmp, 'nobody.yaml', contractConfig({ udpIdleMs: 1000 }));
  });
  afterEach(async function () {
    await env.stopSluice();
  });

  it('carries a TCP flow and a UDP session end to end as nobody with CAP_NET_ADMIN alone', async function () {
    const sluice = await startSluice(env.topo, { args: ['run', '-c', config], wrapper: asNobody('net_admin') });
    env.sluice = sluice;
    const status = await env.topo.exec('gw', 'cat', [`/proc/${sluice.child.pid}/status`]);
    assert.match(status.stdout, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, 'runs as nobody');
    // CAP_NET_ADMIN is bit 12: the effective set holds it and nothing else.
    assert.match(status.stdout, /^CapEff:\s+0000000000001000$/m, status.stdout);

    const target = `http://${A.remote.v4}:${http.port}/`;
    const r = await curl(env.topo, target);
    assert.equal(r.exitCode, 0, `TCP through Sluice: ${describeCurl(r)}\n${sluice.describe(20)}`);
    assert.equal(JSON.parse(r.body).peer, A.gwWan.v4, 'the remote saw the gateway, not the client');

    const u = await runProbe(env.topo, 'client', ['udp-send', '--host', A.remote.v4, '--port', String(udpEcho.port), '--message', 'least-privilege']);
    assert.equal(u.ok, true, `UDP through Sluice: ${JSON.stringify(u)}\n${sluice.describe(20)}`);

    const tcp = await sluice.waitForFlow((f) => f.network === 'tcp' && f.dst === formatEndpoint(A.remote.v4, http.port), 5000, 'tcp flow');
    assert.equal(tcp.error, undefined, JSON.stringify(tcp));
    const udp = await sluice.waitForFlow((f) => f.network === 'udp' && f.dst === formatEndpoint(A.remote.v4, udpEcho.port), 5000, 'udp session (1 s idle)');
    assert.equal(udp.error, undefined, JSON.stringify(udp));

    // Replies must come from the original destination: to a port below 1024 (DNS) that needs a bind the
    // kernel allows only with CAP_NET_BIND_SERVICE. The session fails with a message that says so.
    const q = await dig(env.topo, A.remote.v4, 'nobody.example.test', 'A', `${A.client.v4}#40153`);
    assert.notEqual(q.code, 0);
    const dns = await sluice.waitForFlow((f) => f.network === 'udp' && f.dst === formatEndpoint(A.remote.v4, 53), 5000, 'failed DNS session');
    assert.match(String(dns.error), /CAP_NET_BIND_SERVICE/);
  });

  it('with CAP_NET_BIND_SERVICE as well, carries UDP to ports below 1024 (DNS)', async function () {
    const sluice = await startSluice(env.topo, { args: ['run', '-c', config], wrapper: asNobody('net_admin,+net_bind_service') });
    env.sluice = sluice;
    const q = await dig(env.topo, A.remote.v4, 'nobody-bind.example.test', 'A', `${A.client.v4}#40154`);
    assert.equal(q.code, 0, `UDP through Sluice: ${q.stdout}${q.stderr}\n${sluice.describe(20)}`);
    assert.deepEqual(q.answers, ['192.0.2.7']);
    assert.ok(dnsmasq.queries().some((l) => l.includes('nobody-bind.example.test') && l.endsWith(`from ${A.gwWan.v4}`)), 'dnsmasq saw the gateway');
  });

  it('as nobody without CAP_NET_ADMIN, exits 1 and says CAP_NET_ADMIN', async function () {
    const sluice = await startSluice(env.topo, { args: ['run', '-c', config], wrapper: asNobody(''), waitStarted: false });
    env.sluice = sluice;
    await assertRefusedForCapNetAdmin(sluice);
  });
});
