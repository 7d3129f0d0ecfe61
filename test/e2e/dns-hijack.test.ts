import * as assert from 'node:assert/strict';
import { formatEndpoint, runProbe, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { digFromClient } from '../helpers/dig';
import { useE2E } from '../helpers/env';
import { Dnsmasq, startUdpEchoServer, type ProbeServer } from '../helpers/servers';
import { applySluiceRules, contractConfig, writeFile } from '../helpers/sluice';
import { waitFor } from '../helpers/wait';

/** The fake range of these tests: the test bed's own addresses sit in the default 198.18.0.0/15. */
const FAKE4 = '100.64.0.0/24';
/** A port nothing listens on in the remote: only Sluice's resolver can answer a query sent there. */
const ODD_PORT = 5353;

/**
 * The contract config with sniffing inbounds, the rules of a gateway that
 * answers its clients' DNS itself (`protocol: dns → hijack-dns`) and blocks
 * one name, and a `dns` section in `mode`. No `dns.hijack`: the tproxy
 * capture brings the queries, the route sends them to the resolver.
 */
function gatewayConfig(mode: 'mapping' | 'fake-ip', store: string): string {
  const rules = `  rules:
    - { protocol: dns, outbound: hijack-dns }
    - { domain: [blocked.test], outbound: deny }
`;
  return (
    contractConfig()
      .replace(/network: \[tcp, udp\] \}/g, 'network: [tcp, udp], sniff: true }')
      .replace('  rules:\n', rules) +
    `dns:
  listen: ["127.0.0.1:1053"]
  upstreams: ["udp://${A.remote.v4}:53"]
  hosts: { only-sluice.test: [192.0.2.55, "2001:db8::55"] }
  mode: ${mode}
  fake_ip_range: ["${FAKE4}"]
  fake_ip_store: ${store}
`
  );
}

describe('e2e: protocol: dns → hijack-dns, names for UDP flows, fake-IP UDP', function () {
  this.timeout(120_000);
  const env = useE2E({ tag: 'dnshj', firewall: false, sluice: false });
  let dnsmasq: Dnsmasq;
  let echo: ProbeServer;
  let mappingConfig: string;
  let fakeConfig: string;

  before(async function () {
    const { topo, tmp } = env;
    // Two names answer the same address (the remote, where the echo server is): one allowed, one blocked by rule.
    const args = [
      '--no-daemon', '--no-resolv', '--no-hosts', '--pid-file=', `--listen-address=${A.remote.v4}`, '--bind-interfaces',
      '--address=/example.test/192.0.2.7', '--address=/example.test/2001:db8::7',
      `--address=/allowed.test/${A.remote.v4}`, `--address=/blocked.test/${A.remote.v4}`, `--address=/game.test/${A.remote.v4}`,
      '--local-ttl=60', '--log-queries', '--log-facility=-',
    ];
    dnsmasq = new Dnsmasq(topo.spawn('remote', 'dnsmasq', args), `dnsmasq in ${topo.names.remote}`);
    await dnsmasq.waitUntil(() => (/started, version/.test(dnsmasq.stderr) ? true : undefined), 5000, 'dnsmasq "started"');
    echo = await startUdpEchoServer(topo, 'remote');
    mappingConfig = writeFile(tmp, 'hijack-mapping.yaml', gatewayConfig('mapping', `${tmp}/fake.json`));
    fakeConfig = writeFile(tmp, 'hijack-fake.yaml', gatewayConfig('fake-ip', `${tmp}/fake.json`));
    await applySluiceRules(topo, mappingConfig);
    await topo.installFinalDrop();
  });

  after(async () => {
    await dnsmasq?.stop('SIGKILL');
    await echo?.probe.stop();
  });

  const digVia = (server: string, name: string, type: 'A' | 'AAAA', tcp: boolean, source: string, port = 53): Promise<string[]> =>
    digFromClient(env.topo, { server, name, type, tcp, source, port }, env.sluice?.describe(20) ?? '');

  describe('mode: mapping', () => {
    before(async () => {
      await env.startSluice(mappingConfig);
    });
    after(async () => {
      await env.stopSluice();
    });

    for (const c of [
      { family: 'IPv4', server: A.remote.v4, source: A.client.v4, type: 'A', own: '192.0.2.55', upstream: '192.0.2.7' },
      { family: 'IPv6', server: A.remote.v6, source: A.client.v6, type: 'AAAA', own: '2001:db8::55', upstream: '2001:db8::7' },
    ] as const) {
      for (const tcp of [false, true]) {
        const net = tcp ? 'tcp' : 'udp';
        it(`${c.family} over ${tcp ? 'TCP' : 'UDP'}: a query to port 53 is answered by Sluice's resolver (its hosts, and its upstream)`, async () => {
          // Only Sluice's own `hosts` know this name: the answer proves the resolver answered, not the server asked.
          const srcPort = 41000 + (c.family === 'IPv6' ? 10 : 0) + (tcp ? 1 : 0);
          assert.deepEqual(await digVia(c.server, 'only-sluice.test', c.type, tcp, `${c.source}#${srcPort}`), [c.own]);
          const name = `${c.family.toLowerCase()}-${net}.example.test`;
          assert.deepEqual(await digVia(c.server, name, c.type, tcp, c.source), [c.upstream]);
          // Sluice asked dnsmasq from the gateway's WAN address, over its upstream (UDP).
          const line = await waitFor(`dnsmasq query log for ${name}`, () => dnsmasq.queries().find((l) => l.includes(` ${name} from`)));
          assert.match(line, new RegExp(`from ${A.gwWan.v4.replace(/\./g, '\\.')}$`), line);
          const flow = await env.sluice!.waitForFlow(
            (f) => f.network === net && f.src === formatEndpoint(c.source, srcPort),
            5000,
            `the hijacked ${net} flow`,
          );
          assert.equal(flow.outbound, 'hijack-dns', JSON.stringify(flow));
          assert.equal(flow.rule, 'rules[0]');
          assert.equal(flow.dst, formatEndpoint(c.server, 53));
        });
      }
    }

    for (const tcp of [false, true]) {
      it(`a DNS query to another port (${tcp ? 'TCP' : 'UDP'} ${ODD_PORT}) is found by sniffing and hijacked, its access line saying protocol: dns`, async () => {
        assert.deepEqual(await digVia(A.remote.v4, 'only-sluice.test', 'A', tcp, A.client.v4, ODD_PORT), ['192.0.2.55']);
        const net = tcp ? 'tcp' : 'udp';
        const flow = await env.sluice!.waitForFlow((f) => f.network === net && f.dst === formatEndpoint(A.remote.v4, ODD_PORT), 5000, `the sniffed ${net} DNS flow`);
        assert.equal(flow.outbound, 'hijack-dns', JSON.stringify(flow));
        assert.equal(flow.protocol, 'dns', JSON.stringify(flow));
      });
    }

    it('a UDP flow to an IP answered for a blocked name is blocked, while the same IP under an allowed name passes (last answer wins)', async () => {
      const send = (message: string) => runProbe(env.topo, 'client', ['udp-send', '--host', A.remote.v4, '--port', String(echo.port), '--message', message, '--timeout-ms', '2000']);
      assert.deepEqual(await digVia(A.remote.v4, 'allowed.test', 'A', false, A.client.v4), [A.remote.v4]);
      const allowed = await send('allowed');
      assert.equal(allowed.ok, true, `allowed: ${JSON.stringify(allowed)}\n${env.sluice!.describe(20)}`);
      assert.equal(JSON.parse(allowed.reply as string).peer, A.gwWan.v4, 'carried by direct');

      assert.deepEqual(await digVia(A.remote.v4, 'blocked.test', 'A', false, A.client.v4), [A.remote.v4]);
      const blocked = await send('blocked');
      assert.equal(blocked.ok, false, `blocked: ${JSON.stringify(blocked)}`);

      const dst = formatEndpoint(A.remote.v4, echo.port);
      const lines = await waitFor('both echo sessions logged', () => {
        const l = env.sluice!.flows().filter((f) => f.network === 'udp' && f.dst === dst);
        return l.length >= 2 ? l : undefined;
      });
      const byHost = Object.fromEntries(lines.map((f) => [(f as { host?: string }).host, f]));
      assert.equal(byHost['allowed.test']?.outbound, 'direct', JSON.stringify(lines));
      assert.equal(byHost['blocked.test']?.outbound, 'deny', JSON.stringify(lines));
      assert.equal((byHost['blocked.test'] as { host_source?: string }).host_source, 'dns');
    });
  });

  describe('mode: fake-ip', () => {
    before(async () => {
      await env.startSluice(fakeConfig);
    });
    after(async () => {
      await env.stopSluice();
    });

    it('UDP to a fake IP reaches the real server through direct, and the client sees replies only from the fake IP', async () => {
      const [fake] = await digVia(A.remote.v4, 'game.test', 'A', false, A.client.v4);
      assert.match(fake, /^100\.64\.0\.\d+$/);
      // udp-send is connected to the fake address: the kernel drops a reply from any other source.
      const r = await runProbe(env.topo, 'client', ['udp-send', '--host', fake, '--port', String(echo.port), '--message', 'through-fake']);
      assert.equal(r.ok, true, `${JSON.stringify(r)}\n${env.sluice!.describe(20)}`);
      assert.deepEqual(r.from, { address: fake, port: echo.port });
      const reply = JSON.parse(r.reply as string) as { peer: string; echo: string };
      assert.deepEqual([reply.peer, reply.echo], [A.gwWan.v4, 'through-fake']);
      const flow = await env.sluice!.waitForFlow((f) => f.network === 'udp' && (f as { host?: string }).host === 'game.test', 5000, 'the fake-IP UDP session');
      assert.equal(flow.dst, formatEndpoint(A.remote.v4, echo.port), 'dialled at the real address');
      assert.equal(flow.outbound, 'direct');
    });
  });
});
