import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl, dig } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startDnsmasq, startHttpServer, type Dnsmasq, type ProbeServer } from '../helpers/servers';
import { describeFlows, installMarkCounter, readMarkCounter, writeFile } from '../helpers/sluice';
import { danteConfig, startDante } from '../helpers/socks-servers';

/*
 * client ─▶ gw: Sluice ─(direct, mark 0x2)─▶ hop1 ─(CONNECT / nested ASSOCIATE)─▶ hop2 ─▶ servers
 *
 * Both SOCKS servers are dante in the remote namespace: hop1 on the remote's
 * address, hop2 on 127.0.0.2 there, admitting only clients from hop1's
 * address. So the servers must see 127.0.0.2, and hop2 can only be reached
 * through hop1, which Sluice reaches through the marked `direct` outbound.
 */

const HOP1_PORT = 1080;
const HOP2 = '127.0.0.2';
const HOP2_PORT = 1081;
const DEAD_PORT = 1999; // nothing listens there
const DEAD_RULE_PORT = 8099; // flows to this port use the `dead` outbound
const SRC_PORT = 40054;

function sluiceConfig(): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
  - { tag: hop1, type: socks, server: ${A.remote.v4}, port: ${HOP1_PORT}, via: direct }
  - { tag: hop2, type: socks, server: ${HOP2}, port: ${HOP2_PORT}, via: hop1 }
  - { tag: dead, type: socks, server: ${A.remote.v4}, port: ${DEAD_PORT}, via: direct }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { dst_port: ${DEAD_RULE_PORT}, outbound: dead }
    - { network: [tcp, udp], dst_cidr: ["${A.remote.v4}/32"], outbound: hop2 }
  final: direct
timeouts: { udp_idle_ms: 1000, drain_ms: 1000 }
`;
}

describe('e2e: SOCKS chain (direct with mark → dante → dante) through Sluice', function () {
  const env = useE2E({ tag: 'socks', sluice: false });
  let http: ProbeServer;
  let dnsmasq: Dnsmasq;

  before(async function () {
    this.timeout(60_000);
    await startDante(env.topo, env.tmp, 'hop1', danteConfig({ internal: [{ address: A.remote.v4, port: HOP1_PORT }], external: [A.remote.v4], clientFrom: ['0.0.0.0/0'] }));
    await startDante(env.topo, env.tmp, 'hop2', danteConfig({ internal: [{ address: HOP2, port: HOP2_PORT }], external: [HOP2], clientFrom: [`${A.remote.v4}/32`] }));
    http = await startHttpServer(env.topo);
    dnsmasq = await startDnsmasq(env.topo, [A.remote.v4]);
    await installMarkCounter(env.topo, 0x2);
    await env.startSluice(writeFile(env.tmp, 'socks.yaml', sluiceConfig()));
  });

  it('TCP: the server sees hop2, the first hop is dialled with the mark, the access log names hop2', async function () {
    const marked = await readMarkCounter(env.topo);
    const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/via-socks`);
    assert.equal(r.exitCode, 0, describeCurl(r));
    const body = JSON.parse(r.body) as { peer: string; url: string };
    assert.equal(body.url, '/via-socks');
    assert.equal(body.peer, HOP2, `the server saw ${body.peer}, not hop2`);
    assert.ok((await readMarkCounter(env.topo)) > marked, 'no marked packets: hop1 was not reached through direct');
    const src = formatEndpoint(A.client.v4, r.localPort);
    const flow = await env.sluice!.waitForFlow((f) => f.src === src, 5000, `src ${src}`);
    assert.equal(flow.outbound, 'hop2', describeFlows([flow]));
    assert.equal(flow.error, undefined, describeFlows([flow]));
    assert.ok(flow.down > 0 && flow.up > 0);
  });

  it('UDP: dig gets its answer through two nested ASSOCIATEs, from the original destination', async function () {
    const r = await dig(env.topo, A.remote.v4, 'chain.example.test', 'A', `${A.client.v4}#${SRC_PORT}`);
    // dig drops replies from any other source than the one it asked, so an answer proves the source.
    assert.equal(r.code, 0, `dig exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(r.answers, ['192.0.2.7']);
    const line = dnsmasq.queries().find((l) => l.includes('chain.example.test'));
    if (line === undefined) assert.fail(`no query in dnsmasq's log:\n${dnsmasq.stderr}`);
    assert.match(line, /from 127\.0\.0\.2$/, `dnsmasq saw: ${line}`);
    const src = formatEndpoint(A.client.v4, SRC_PORT);
    const flow = await env.sluice!.waitForFlow((f) => f.network === 'udp' && f.src === src, 5000, `udp src ${src}`);
    assert.equal(flow.outbound, 'hop2', describeFlows([flow]));
  });

  it('a dead SOCKS server: the client is reset at once and the access log says why', async function () {
    const r = await curl(env.topo, `http://${A.remote.v4}:${DEAD_RULE_PORT}/`, 5);
    // Reset or refused (7, 52, 55, 56), not curl's own timeout (28): nobody left the client waiting.
    assert.ok([7, 52, 55, 56].includes(r.exitCode ?? -1), describeCurl(r));
    const src = formatEndpoint(A.client.v4, r.localPort);
    const flow = await env.sluice!.waitForFlow((f) => f.outbound === 'dead', 5000, `dead flow from ${src}`);
    assert.equal(flow.error, 'socks: connect to server failed (ECONNREFUSED)', describeFlows([flow]));
  });
});
