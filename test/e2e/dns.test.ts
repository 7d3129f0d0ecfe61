import * as assert from 'node:assert/strict';
import { formatEndpoint, runProbe, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { digFromClient } from '../helpers/dig';
import { useE2E } from '../helpers/env';
import { Dnsmasq, startHttpServer, startUdpEchoServer, type ProbeServer } from '../helpers/servers';
import { applySluiceRules, contractConfig, writeFile } from '../helpers/sluice';
import { danteConfig, startDante, startMicrosocks, type DanteServer } from '../helpers/socks-servers';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildWatch } from '@sluice/testbed';
import { waitFor } from '../helpers/wait';

/** The fake range of these tests: the test bed's own addresses sit in the default 198.18.0.0/15. */
const FAKE4 = '100.64.0.0/24';
const MICRO_PORT = 1090;
/** dante, in the remote too, carries the UDP case: microsocks has no UDP ASSOCIATE. */
const DANTE_PORT = 1091;
/** microsocks runs in the remote and connects from its address, which the gateway never uses. */
const MICRO_OUT = A.remote.v4;

function dnsSection(mode: 'mapping' | 'fake-ip', store: string): string {
  return `dns:
  listen: ["${A.gwLan.v4}:1053", "[${A.gwLan.v6}]:1053"]
  upstreams: ["udp://${A.remote.v4}:53"]
  mode: ${mode}
  fake_ip_range: ["${FAKE4}"]
  fake_ip_store: ${store}
  hijack: true
`;
}

describe('e2e: the DNS resolver, hijack and fake IPs', function () {
  this.timeout(120_000);
  const env = useE2E({ tag: 'dns', firewall: false, sluice: false });
  let dnsmasq: Dnsmasq;
  let http: ProbeServer;
  let mappingConfig: string;
  let fakeConfig: string;

  before(async function () {
    const { topo, tmp } = env;
    // dnsmasq answers example.test (as the other suites' does) and web.test with the remote's own address.
    const args = ['--no-daemon', '--no-resolv', '--no-hosts', '--pid-file=', `--listen-address=${A.remote.v4}`, '--bind-interfaces', '--address=/example.test/192.0.2.7', '--address=/example.test/2001:db8::7', `--address=/web.test/${A.remote.v4}`, '--address=/sockweb.test/192.0.2.99', '--local-ttl=60', '--log-queries', '--log-facility=-'];
    dnsmasq = new Dnsmasq(topo.spawn('remote', 'dnsmasq', args), `dnsmasq in ${topo.names.remote}`);
    await dnsmasq.waitUntil(() => (/started, version/.test(dnsmasq.stderr) ? true : undefined), 5000, 'dnsmasq "started"');
    http = await startHttpServer(topo, 'remote');
    mappingConfig = writeFile(tmp, 'mapping.yaml', contractConfig() + dnsSection('mapping', `${tmp}/fake.json`));
    fakeConfig = writeFile(tmp, 'fake.yaml', contractConfig() + dnsSection('fake-ip', `${tmp}/fake.json`));
    await applySluiceRules(topo, mappingConfig);
    await topo.installFinalDrop();
  });

  after(async () => {
    await dnsmasq?.stop('SIGKILL');
    await http?.probe.stop();
  });

  const digVia = (server: string, name: string, type: 'A' | 'AAAA', tcp: boolean, source: string, port = 53): Promise<string[]> =>
    digFromClient(env.topo, { server, name, type, tcp, source, port });

  describe('mode: mapping', () => {
    before(async () => {
      await env.startSluice(mappingConfig);
    });
    after(async () => {
      await env.stopSluice();
    });

    for (const c of [
      { family: 'IPv4', server: A.remote.v4, source: A.client.v4, type: 'A', answer: '192.0.2.7' },
      { family: 'IPv6', server: A.remote.v6, source: A.client.v6, type: 'AAAA', answer: '2001:db8::7' },
    ] as const) {
      for (const tcp of [false, true]) {
        it(`${c.family} over ${tcp ? 'TCP' : 'UDP'}: a client's query to any server is answered by the resolver through its upstream`, async () => {
          const name = `${c.family.toLowerCase()}-${tcp ? 'tcp' : 'udp'}.example.test`;
          assert.deepEqual(await digVia(c.server, name, c.type, tcp, c.source), [c.answer]);
          // Sluice asked dnsmasq from the gateway's WAN address: the client's query never reached the remote itself.
          const line = await waitFor(`dnsmasq query log for ${name}`, () => dnsmasq.queries().find((l) => l.includes(` ${name} from`)));
          assert.match(line, new RegExp(`from ${A.gwWan.v4.replace(/\./g, '\\.')}$`), line);
        });
      }
    }

    it('a later flow to an answered address carries the name (host_source: dns)', async () => {
      assert.deepEqual(await digVia(A.remote.v4, 'web.test', 'A', false, A.client.v4), [A.remote.v4]);
      const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/`);
      assert.equal(r.httpCode, 200, describeCurl(r));
      const flow = await env.sluice!.waitForFlow((f) => f.network === 'tcp' && f.dst === `${A.remote.v4}:${http.port}`, 5000, 'the curl flow');
      assert.equal((flow as { host?: string }).host, 'web.test');
      assert.equal((flow as { host_source?: string }).host_source, 'dns');
    });
  });

  describe('mode: fake-ip', () => {
    before(async () => {
      await env.startSluice(fakeConfig);
    });
    after(async () => {
      await env.stopSluice();
    });

    it('a name resolves to a fake IP, and curl to it reaches the real server through direct; a restart keeps the mapping', async () => {
      const [fake] = await digVia(A.remote.v4, 'web.test', 'A', false, A.client.v4);
      assert.match(fake, /^100\.64\.0\.\d+$/);
      const r = await curl(env.topo, `http://${fake}:${http.port}/`);
      assert.equal(r.httpCode, 200, describeCurl(r));
      // The access line shows the address dialled (the real one) and the name.
      const flow = await env.sluice!.waitForFlow((f) => f.network === 'tcp' && (f as { host?: string }).host === 'web.test', 5000, 'the fake-IP flow');
      assert.equal(flow.dst, `${A.remote.v4}:${http.port}`);

      await env.stopSluice();
      await env.startSluice(fakeConfig);
      const again = await curl(env.topo, `http://${fake}:${http.port}/`);
      assert.equal(again.httpCode, 200, `after a restart: ${describeCurl(again)}`);
      assert.deepEqual(await digVia(A.remote.v4, 'web.test', 'A', false, A.client.v4), [fake], 'the same fake address after a restart');
    });

    it('a flow to a fake IP with no known name is refused, never sent on', async () => {
      const r = await curl(env.topo, `http://100.64.0.200:${http.port}/`, 3);
      assert.notEqual(r.httpCode, 200, describeCurl(r));
      const flow = await env.sluice!.waitForFlow((f) => f.network === 'tcp' && f.dst === `100.64.0.200:${http.port}`, 5000, 'the refused flow');
      assert.match(String(flow.error), /100\.64\.0\.200 is a fake IP with no known name/);
    });
  });
  describe('through a SOCKS server', () => {
    let micro: ChildWatch;
    let dante: DanteServer;
    let echo: ProbeServer;
    let etcNetns: string;
    before(async () => {
      // The remote's own resolver (its /etc/hosts, as `ip netns exec` mounts it) knows sockweb.test as the remote;
      // Sluice's upstream answers it with an address nothing listens on. Reaching the server therefore proves the
      // SOCKS server was sent the name, not an address.
      etcNetns = `/etc/netns/${env.topo.names.remote}`;
      mkdirSync(etcNetns, { recursive: true });
      writeFileSync(`${etcNetns}/hosts`, `127.0.0.1 localhost\n${A.remote.v4} sockweb.test\n`);
      // No `-b`: dnsmasq refuses queries from an extra /32 address as non-local.
      micro = await startMicrosocks(env.topo, { address: A.remote.v4, port: MICRO_PORT });
      // Started after the hosts file is written: dante resolves names in UDP frames with it too.
      dante = await startDante(env.topo, env.tmp, 'udphop', danteConfig({ internal: [{ address: A.remote.v4, port: DANTE_PORT }], external: [A.remote.v4], clientFrom: ['0.0.0.0/0'] }));
      echo = await startUdpEchoServer(env.topo, 'remote');
      // The client's UDP to the echo server goes to dante (through direct, as TCP goes to microsocks); only the
      // client's: were dante sent the address, its datagram to 192.0.2.99 would come back through the gateway, not loop.
      const socks = `  - { tag: hop, type: socks, server: ${A.remote.v4}, port: ${MICRO_PORT}, via: direct }\n  - { tag: udphop, type: socks, server: ${A.remote.v4}, port: ${DANTE_PORT}, via: direct }\n`;
      const base = contractConfig()
        .replace('  - { tag: deny, type: block }\n', `  - { tag: deny, type: block }\n${socks}`)
        .replace('  rules:\n', `  rules:\n    - { network: udp, src_cidr: [${A.client.v4}/32], dst_port: [${echo.port}], outbound: udphop }\n`)
        .replace('  final: direct', '  final: hop')
        .replace('log: { level: info }', 'log: { level: debug }');
      const section = dnsSection('fake-ip', `${env.tmp}/fake-socks.json`).replace(`upstreams: ["udp://${A.remote.v4}:53"]`, `upstreams: [{ address: "tcp://${A.remote.v4}:53", via: hop }]`);
      await env.startSluice(writeFile(env.tmp, 'socks.yaml', base + section));
    });
    after(async () => {
      await env.stopSluice();
      await micro?.stop('SIGKILL');
      await dante?.stop('SIGKILL');
      await echo?.probe.stop();
      rmSync(etcNetns, { recursive: true, force: true });
    });

    it('DNS goes to the upstream over the SOCKS hop (via), and a fake-IP flow reaches the server by name', async () => {
      const [fake] = await digVia(A.remote.v4, 'sockweb.test', 'A', false, A.client.v4);
      assert.match(fake, /^100\.64\.0\.\d+$/);
      const r = await curl(env.topo, `http://${fake}:${http.port}/`);
      assert.equal(r.httpCode, 200, `${describeCurl(r)}\ndnsmasq: ${dnsmasq.stderr.split('\n').slice(-6).join('\n')}`);
      // The flow's real-address lookup went upstream over TCP through microsocks (the client got a fake answer).
      const line = await waitFor('dnsmasq query for sockweb.test', () => dnsmasq.queries().find((l) => l.includes(' sockweb.test from')));
      assert.match(line, new RegExp(`from ${MICRO_OUT.replace(/\./g, '\\.')}$`), line);
      assert.match(r.body, new RegExp(MICRO_OUT.replace(/\./g, '\\.')), 'the HTTP server saw microsocks');
    });

    it('UDP to a fake IP reaches the server through dante by name, and the reply comes back from the fake IP', async () => {
      const [fake] = await digVia(A.remote.v4, 'sockweb.test', 'A', false, A.client.v4);
      assert.match(fake, /^100\.64\.0\.\d+$/);
      // udp-send is connected to the fake address: the kernel drops a reply from any other source.
      const r = await runProbe(env.topo, 'client', ['udp-send', '--host', fake, '--port', String(echo.port), '--message', 'by-name']);
      assert.equal(r.ok, true, `${JSON.stringify(r)}\n${env.sluice!.describe(20)}\ndante: ${dante.stderr.split('\n').slice(-6).join('\n')}`);
      assert.deepEqual(r.from, { address: fake, port: echo.port });
      // The echo server saw dante, which resolved sockweb.test itself: Sluice's upstream says 192.0.2.99, where nothing listens.
      const reply = JSON.parse(r.reply as string) as { peer: string; echo: string };
      assert.deepEqual([reply.peer, reply.echo], [A.remote.v4, 'by-name']);
      assert.ok(dante.sessions().some((l) => l.includes('udp/udpassociate')), dante.stderr);
      const flow = await env.sluice!.waitForFlow((f) => f.network === 'udp' && (f as { host?: string }).host === 'sockweb.test', 5000, 'the fake-IP UDP session');
      assert.equal(flow.outbound, 'udphop');
      assert.equal(flow.dst, formatEndpoint('192.0.2.99', echo.port), 'the flow carries the upstream\'s address; dante got the name');
    });
  });
});
