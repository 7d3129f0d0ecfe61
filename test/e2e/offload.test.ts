import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type Topology } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { applySluiceRules, describeFlows, writeFile } from '../helpers/sluice';

const FAMILIES = [
  { family: 'IPv4', client: A.client.v4, remote: A.remote.v4, gw: A.gwWan.v4 },
  { family: 'IPv6', client: A.client.v6, remote: A.remote.v6, gw: A.gwWan.v6 },
] as const;

const CONTROL = '127.0.0.1:19090';

/**
 * The contract inbounds, two offloadable rules (the remote on the offloaded
 * server's port; the clients' own subnet), and /metrics.
 */
function config(offload: boolean, offloadedPort: number): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
route:
  rules:
    - { name: offloaded, dst_cidr: [${A.remote.v4}/32, "${A.remote.v6}/128"], dst_port: ${offloadedPort}, outbound: direct }
    # The clients' own LAN sent direct, as users do: the clients' requests elsewhere must still be captured.
    - { name: lan, dst_cidr: [${A.client.v4}/${A.client.v4PrefixLen}, "${A.client.v6}/${A.client.v6PrefixLen}"], outbound: direct }
  final: direct
control: { listen: "${CONTROL}" }
firewall: { offload: ${offload} }
timeouts: { drain_ms: 1000 }
`;
}

/**
 * The gateway forwards nothing but the offloaded server's traffic: a flow
 * that should have gone through Sluice but was forwarded fails instead of
 * passing unnoticed (the other suites' final drop, with one exception).
 */
function dropAllButOffloaded(port: number): string {
  return [
    'table inet sluice_test {}',
    'delete table inet sluice_test',
    'table inet sluice_test {',
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    `    ip daddr ${A.remote.v4} tcp dport ${port} accept`,
    `    ip saddr ${A.remote.v4} tcp sport ${port} accept`,
    `    ip6 daddr ${A.remote.v6} tcp dport ${port} accept`,
    `    ip6 saddr ${A.remote.v6} tcp sport ${port} accept`,
    '  }',
    '}',
    '',
  ].join('\n');
}

interface Totals {
  up: { packets: number; bytes: number };
  down: { packets: number; bytes: number };
}

async function nftCounters(topo: Topology): Promise<Totals> {
  const r = await topo.exec('gw', 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'sluice']);
  const items = (JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number; bytes: number } }[] }).nftables;
  const get = (name: string): { packets: number; bytes: number } => {
    const c = items.find((i) => i.counter?.name === name)?.counter;
    assert.ok(c, `no counter ${name} in ${r.stdout}`);
    return { packets: c.packets, bytes: c.bytes };
  };
  return { up: get('offload_up'), down: get('offload_down') };
}

/** `name{direction="…"} value` lines of the control API's /metrics, read inside the gateway. */
async function offloadMetrics(topo: Topology): Promise<Record<string, number>> {
  const r = await topo.exec('gw', 'curl', ['-sS', '--noproxy', '*', '-m', '5', `http://${CONTROL}/metrics`]);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^(sluice_offload_\w+)\{direction="(\w+)"\} (\d+)$/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
  return out;
}

describe('e2e: firewall.offload', function () {
  const env = useE2E({ tag: 'offl', firewall: false, sluice: false });
  let offloaded: ProbeServer;
  let proxied: ProbeServer;

  before(async function () {
    this.timeout(60_000);
    offloaded = await startHttpServer(env.topo);
    proxied = await startHttpServer(env.topo);
    writeFile(env.tmp, 'sluice.yaml', config(true, offloaded.port));
    await applySluiceRules(env.topo, env.configPath);
    await env.topo.installFirewall('gw', dropAllButOffloaded(offloaded.port));
    await env.startSluice();
  });

  for (const f of FAMILIES) {
    it(`${f.family}: a flow of the offloaded rule is forwarded by the kernel, counted by nftables, and never reaches Sluice`, async function () {
      const before = await nftCounters(env.topo);
      const path = `/offloaded-${f.family}`;
      const r = await curl(env.topo, `http://${formatEndpoint(f.remote, offloaded.port)}${path}`);
      assert.equal(r.httpCode, 200, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string };
      // Forwarded, not proxied: the remote sees the client itself, not the gateway.
      assert.equal(body.peer, f.client);
      const closed = await offloaded.probe.waitForEvent('closed', (e) => (e.urls as string[]).includes(path), 5000);

      // A flow that still goes through Sluice, to the same remote: its access line proves Sluice was running and logging.
      const p = await curl(env.topo, `http://${formatEndpoint(f.remote, proxied.port)}/proxied-${f.family}`);
      assert.equal(p.httpCode, 200, describeCurl(p));
      assert.equal((JSON.parse(p.body) as { peer: string }).peer, f.gw);
      await env.sluice!.waitForFlow((l) => l.src === formatEndpoint(f.client, p.localPort), 5000, `proxied flow from ${f.family}`);
      const seen = env.sluice!.flows().filter((l) => l.dst === formatEndpoint(f.remote, offloaded.port));
      assert.deepEqual(seen, [], `Sluice saw an offloaded flow: ${describeFlows(seen)}`);

      const after = await nftCounters(env.topo);
      // Every byte of the request and the reply crossed the forward hook (TCP/IP headers on top).
      assert.ok(after.up.bytes - before.up.bytes >= (closed.bytesRead as number), `up ${JSON.stringify({ before, after, closed })}`);
      assert.ok(after.down.bytes - before.down.bytes >= (closed.bytesWritten as number), `down ${JSON.stringify({ before, after, closed })}`);
      assert.ok(after.up.packets > before.up.packets && after.down.packets > before.down.packets);
    });
  }

  it('/metrics reports the kernel counters, and "offload totals" is logged at stop', async function () {
    const counters = await nftCounters(env.topo);
    assert.ok(counters.down.bytes > 0, 'no offloaded traffic yet: run the flow tests first');
    const metrics = await offloadMetrics(env.topo);
    // Nothing is offloaded while the tests wait here, so the counters stand still between the two reads.
    assert.deepEqual(metrics, {
      'sluice_offload_packets_total/up': counters.up.packets,
      'sluice_offload_packets_total/down': counters.down.packets,
      'sluice_offload_bytes_total/up': counters.up.bytes,
      'sluice_offload_bytes_total/down': counters.down.bytes,
    });
    const sluice = env.sluice!;
    await env.stopSluice();
    const line = sluice.lines.find((l) => l.msg === 'offload totals');
    assert.ok(line, sluice.describe(20));
    assert.deepEqual({ up: line.up, down: line.down }, counters);
  });

  it('with firewall.offload off, the same flows go through Sluice', async function () {
    writeFile(env.tmp, 'sluice.yaml', config(false, offloaded.port));
    await applySluiceRules(env.topo, env.configPath);
    // Now nothing may be forwarded.
    await env.topo.installFinalDrop();
    const nft = await env.topo.exec('gw', 'nft', ['list', 'table', 'inet', 'sluice']);
    assert.doesNotMatch(nft.stdout, /offload/);
    await env.startSluice();
    for (const f of FAMILIES) {
      const r = await curl(env.topo, `http://${formatEndpoint(f.remote, offloaded.port)}/now-proxied`);
      assert.equal(r.httpCode, 200, describeCurl(r));
      assert.equal((JSON.parse(r.body) as { peer: string }).peer, f.gw);
      const flow = await env.sluice!.waitForFlow((l) => l.src === formatEndpoint(f.client, r.localPort), 5000, `${f.family} flow to the formerly offloaded port`);
      assert.equal(flow.rule, 'offloaded');
      assert.equal(flow.outbound, 'direct');
    }
  });
});
