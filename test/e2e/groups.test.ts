import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChildWatch, formatEndpoint, SluiceProcess, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2EWithLeakCheck } from '../helpers/leaks';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { describeFlows, writeFile } from '../helpers/sluice';
import { addAddresses, startMicrosocks, waitTcpListening } from '../helpers/socks-servers';

/*
 * Outbound groups with real SOCKS servers in the remote namespace:
 *
 *   client ─▶ gw: Sluice (embedded, fixtures/group-embed.js) ─▶ remote: microsocks "fast" :1090 (-b .11)
 *                                                                     slow proxy :1092 (+300 ms) ─▶ microsocks "slow" :1091 (-b .12)
 *                                                                     nothing on :1099 ("dead": refused)
 *
 * Each microsocks sends from an address of its own, so the HTTP server's
 * `peer` says which member carried a flow. Health checks request an HTTP
 * server in the remote through each member.
 */

const FAST_PORT = 1090;
const SLOW_PORT = 1091;
const SLOW_PROXY_PORT = 1092;
const DEAD_PORT = 1099;
const FAST_OUT = '198.19.2.11';
const SLOW_OUT = '198.19.2.12';
const SLOW_DELAY_MS = 300;
const FIXTURES = path.join(__dirname, 'fixtures');

function sluiceConfig(ports: { fb: number; ut: number; pick: number; check: number }): string {
  const check = `{ url: "http://${A.remote.v4}:${ports.check}/check", interval_ms: 60000, timeout_ms: 3000 }`;
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: dead, type: socks, server: ${A.remote.v4}, port: ${DEAD_PORT} }
  - { tag: fast, type: socks, server: ${A.remote.v4}, port: ${FAST_PORT} }
  - { tag: slow, type: socks, server: ${A.remote.v4}, port: ${SLOW_PROXY_PORT} }
  - { tag: fb, type: fallback, outbounds: [dead, fast], check: ${check} }
  - { tag: ut, type: url-test, outbounds: [slow, fast], tolerance_ms: 50, check: ${check} }
  - { tag: pick, type: selector, outbounds: [fast, slow], default: fast }
route:
  rules:
    - { name: to-fb, network: [tcp], dst_port: ${ports.fb}, outbound: fb }
    - { name: to-ut, network: [tcp], dst_port: ${ports.ut}, outbound: ut }
    - { name: to-pick, network: [tcp], dst_port: ${ports.pick}, outbound: pick }
  final: fast
timeouts: { drain_ms: 500 }
`;
}

describe('e2e: outbound groups over real SOCKS servers', function () {
  const env = useE2EWithLeakCheck({ tag: 'grp', sluice: false });
  let httpFb: ProbeServer;
  let httpUt: ProbeServer;
  let httpPick: ProbeServer;
  let httpCheck: ProbeServer;
  let slowProxy: ChildWatch | undefined;
  let sluice: SluiceProcess | undefined;

  before(async function () {
    this.timeout(60_000);
    await addAddresses(env.topo, 'remote', [FAST_OUT, SLOW_OUT]);
    await startMicrosocks(env.topo, { address: A.remote.v4, port: FAST_PORT, bind: FAST_OUT });
    await startMicrosocks(env.topo, { address: A.remote.v4, port: SLOW_PORT, bind: SLOW_OUT });
    slowProxy = new ChildWatch(
      env.topo.spawn('remote', process.execPath, [path.join(FIXTURES, 'slow-tcp-proxy.js'), A.remote.v4, String(SLOW_PROXY_PORT), A.remote.v4, String(SLOW_PORT), String(SLOW_DELAY_MS)]),
      'slow proxy',
    );
    await waitTcpListening(env.topo, 'remote', SLOW_PROXY_PORT, slowProxy);
    [httpFb, httpUt, httpPick, httpCheck] = await Promise.all([startHttpServer(env.topo), startHttpServer(env.topo), startHttpServer(env.topo), startHttpServer(env.topo)]);
    const configPath = writeFile(env.tmp, 'groups.yaml', sluiceConfig({ fb: httpFb.port, ut: httpUt.port, pick: httpPick.port, check: httpCheck.port }));
    sluice = new SluiceProcess(env.topo.spawn('gw', process.execPath, [path.join(FIXTURES, 'group-embed.js'), configPath]), 'group-embed.js in gw');
    await sluice.waitForStarted();
  });

  after(async function () {
    await sluice?.stop('SIGTERM');
    await slowProxy?.stop('SIGTERM');
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && sluice) console.log(sluice.describe());
  });

  /** curls `port` in the remote and returns the peer the HTTP server saw and the flow's access-log line. */
  async function fetchThrough(port: number, urlPath: string): Promise<{ peer: string; chain: string | undefined; outbound: string }> {
    const r = await curl(env.topo, `http://${formatEndpoint(A.remote.v4, port)}${urlPath}`);
    assert.equal(r.exitCode, 0, describeCurl(r));
    const body = JSON.parse(r.body) as { peer: string; url: string };
    assert.equal(body.url, urlPath);
    const src = formatEndpoint(r.localIp, r.localPort);
    const flow = await sluice!.waitForFlow((f) => f.src === src && f.dst === formatEndpoint(A.remote.v4, port), 5000, `${urlPath} from ${src}`);
    assert.equal(flow.error, undefined, describeFlows([flow]));
    return { peer: body.peer, chain: flow.chain, outbound: flow.outbound };
  }

  it('fallback: the first member is a dead SOCKS server; flows go to the second, and the log says it is down', async function () {
    const r = await fetchThrough(httpFb.port, '/fallback');
    assert.equal(r.peer, FAST_OUT, 'carried by the fast microsocks');
    assert.deepEqual({ outbound: r.outbound, chain: r.chain }, { outbound: 'fb', chain: 'fb > fast' });
    await sluice!.waitFor((l) => l.msg === 'group member is down' && l.member === 'dead', 5000, 'dead marked down');
  });

  it('url-test: after the checks it uses the faster of two SOCKS servers (the other is 300 ms slower)', async function () {
    await sluice!.waitFor((l) => l.msg === 'url-test switched member' && l.to === 'fast', 10_000, 'ut switching to fast');
    const r = await fetchThrough(httpUt.port, '/url-test');
    assert.equal(r.peer, FAST_OUT);
    assert.deepEqual({ outbound: r.outbound, chain: r.chain }, { outbound: 'ut', chain: 'ut > fast' });
  });

  it('select() through the embedding API changes where new flows of a selector go, and groups() shows it', async function () {
    const before = await fetchThrough(httpPick.port, '/pick-default');
    assert.deepEqual(before, { peer: FAST_OUT, chain: 'pick > fast', outbound: 'pick' });
    type Groups = { tag: string; type: string; now?: string; members: string[]; health: { tag: string; alive: boolean; delayMs?: number }[] }[];
    // The url-test group may switch to `fast` before the slow member's first check has finished: ask again
    // (select is idempotent) until both members have a measured delay.
    let groups: Groups = [];
    for (let attempt = 0; ; attempt++) {
      const seen = sluice!.lines.length;
      sluice!.child.kill('SIGUSR2');
      const line = await sluice!.waitFor(
        (l) => (l.msg === 'group-embed: groups' || l.msg === 'group-embed: select failed') && sluice!.lines.indexOf(l) >= seen,
        5000,
        'the select and groups() answer',
      );
      assert.equal(line.msg, 'group-embed: groups', JSON.stringify(line));
      groups = line.groups as Groups;
      const measured = groups.find((g) => g.tag === 'ut')?.health.every((m) => m.delayMs !== undefined);
      if (measured || attempt === 20) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.deepEqual(
      groups.map((g) => [g.tag, g.type, g.now]),
      [
        ['fb', 'fallback', 'fast'],
        ['ut', 'url-test', 'fast'],
        ['pick', 'selector', 'slow'],
      ],
    );
    const ut = groups.find((g) => g.tag === 'ut')!;
    const slow = ut.health.find((m) => m.tag === 'slow')!;
    const fast = ut.health.find((m) => m.tag === 'fast')!;
    assert.ok(slow.alive && fast.alive, JSON.stringify(ut));
    assert.ok(slow.delayMs! > fast.delayMs!, `slow ${slow.delayMs} ms, fast ${fast.delayMs} ms`);
    const after = await fetchThrough(httpPick.port, '/pick-slow');
    assert.deepEqual(after, { peer: SLOW_OUT, chain: 'pick > slow', outbound: 'pick' });
  });
});
