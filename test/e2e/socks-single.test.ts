import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type FlowLog } from '@sluice/testbed';
import { curl, describeCurl, dig, type CurlResult } from '../helpers/clients';
import { useE2EWithLeakCheck } from '../helpers/leaks';
import { startDnsmasq, startHttpServer, type Dnsmasq, type ProbeServer } from '../helpers/servers';
import { describeFlows, runSluice, writeFile } from '../helpers/sluice';
import {
  addAddresses,
  danteConfig,
  installSilentPort,
  readSilentDrops,
  startDante,
  startMicrosocks,
  type DanteServer,
} from '../helpers/socks-servers';
import { waitFor } from '../helpers/wait';

/*
 * One SOCKS hop, each server a real Debian one in the remote namespace:
 *
 *   client ─▶ gw: Sluice ──(own TCP/UDP socket)──▶ remote: dante      (198.19.2.2 / 2001:db8:2::2 :1080)
 *                                                         microsocks (198.19.2.2:1090, -u/-P, -b .11)
 *                                                         a silent port (SYNs dropped)
 *
 * Every server sends from an address of its own (dante's `external:`,
 * microsocks' `-b`) that nothing else in the topology uses, so what the HTTP
 * server and dnsmasq report as their peer says which server carried the flow;
 * dante's own log says the gateway (Sluice), not the client, was its client.
 * These outbounds have no `via`: the `socks` outbound's own sockets are what is
 * tested here (the chain suite, socks.test.ts, covers `via`).
 */

const DANTE_PORT = 1080;
const DANTE_OUT4 = '198.19.2.10';
const DANTE_OUT6 = '2001:db8:2::10';
const MICRO_PORT = 1090;
const MICRO_OUT = '198.19.2.11';
const SILENT_PORT = 1099;
/** Destination ports that only select an outbound: these flows never reach a server. */
const BAD_AUTH_RULE_PORT = 8091;
const SILENT_RULE_PORT = 8092;
const BAD_AUTH_TIMEOUT_MS = 4000;
/** Longer than the flows run next to the stuck one may take (2 s each), so they all end while it waits. */
const SILENT_TIMEOUT_MS = 5000;

// Random, so finding them in Sluice's output cannot be a coincidence, and never in this file's text.
const USER = `u-${randomBytes(6).toString('hex')}`;
const GOOD_PASSWORD = `pw-good-${randomBytes(8).toString('hex')}`;
const BAD_PASSWORD = `pw-bad-${randomBytes(8).toString('hex')}`;

function sluiceConfig(httpMicro: number): string {
  // Debug level: the password must stay out of every log line, not just the access log.
  return `log: { level: debug }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
  - { tag: dante, type: socks, server: ${A.remote.v4}, port: ${DANTE_PORT} }
  - { tag: dante6, type: socks, server: "${A.remote.v6}", port: ${DANTE_PORT} }
  - { tag: micro, type: socks, server: ${A.remote.v4}, port: ${MICRO_PORT}, username: ${USER}, password: ${GOOD_PASSWORD} }
  - tag: micro_bad
    type: socks
    server: ${A.remote.v4}
    port: ${MICRO_PORT}
    username: ${USER}
    password: ${BAD_PASSWORD}
    connect_timeout_ms: ${BAD_AUTH_TIMEOUT_MS}
    handshake_timeout_ms: ${BAD_AUTH_TIMEOUT_MS}
  - { tag: silent, type: socks, server: ${A.remote.v4}, port: ${SILENT_PORT}, connect_timeout_ms: ${SILENT_TIMEOUT_MS} }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { name: bad-auth, network: [tcp], dst_port: ${BAD_AUTH_RULE_PORT}, outbound: micro_bad }
    - { name: silent-upstream, network: [tcp], dst_port: ${SILENT_RULE_PORT}, outbound: silent }
    - { name: to-micro, network: [tcp], dst_port: ${httpMicro}, outbound: micro }
    - { name: dante-v4, network: [tcp, udp], dst_cidr: ["${A.remote.v4}/32"], outbound: dante }
    - { name: dante-v6, network: [tcp, udp], dst_cidr: ["${A.remote.v6}/128"], outbound: dante6 }
  final: direct
timeouts: { udp_idle_ms: 1000, drain_ms: 1000 }
`;
}

const url = (host: string, port: number, path: string): string => `http://${formatEndpoint(host, port)}${path}`;
/** An endpoint as dante logs it, `198.19.2.1.41456` or `2001:db8:2::1.41456`, as a regex source. */
const ep = (address: string): string => `${address.replace(/\./g, '\\.')}\\.\\d+`;

/**
 * curl exit codes for "Sluice closed the connection it had accepted": 52 empty reply (FIN), 55/56 reset while
 * sending/receiving, and 7 when the reset comes so fast (a few ms after the accept) that curl is still checking
 * its connect. Not 28: curl's own timer firing would mean nobody closed it.
 */
const CLOSED_BY_PROXY = [7, 52, 55, 56];

describe('e2e: one SOCKS hop (dante, microsocks) through Sluice', function () {
  const env = useE2EWithLeakCheck({ tag: 'sock1', sluice: false });
  let httpDante: ProbeServer;
  let httpMicro: ProbeServer;
  let dnsmasq: Dnsmasq;
  let dante: DanteServer;
  let configPath: string;

  before(async function () {
    this.timeout(60_000);
    await addAddresses(env.topo, 'remote', [DANTE_OUT4, DANTE_OUT6, MICRO_OUT]);
    dante = await startDante(
      env.topo,
      env.tmp,
      'dante',
      danteConfig({
        internal: [
          { address: A.remote.v4, port: DANTE_PORT },
          { address: A.remote.v6, port: DANTE_PORT },
        ],
        external: [DANTE_OUT4, DANTE_OUT6],
      }),
    );
    await startMicrosocks(env.topo, { address: A.remote.v4, port: MICRO_PORT, user: USER, password: GOOD_PASSWORD, bind: MICRO_OUT });
    await installSilentPort(env.topo, SILENT_PORT);
    httpDante = await startHttpServer(env.topo);
    httpMicro = await startHttpServer(env.topo);
    dnsmasq = await startDnsmasq(env.topo, [A.remote.v4, A.remote.v6]);
    configPath = writeFile(env.tmp, 'socks-single.yaml', sluiceConfig(httpMicro.port));
    await env.startSluice(configPath);
  });

  /**
   * The access-log line of a curl run: by the client's source port, or, when a
   * reset came so early that curl cannot name its port (exit 7), the first line
   * for `dst` that was not there before the run (`seen`: the count of lines then).
   */
  function flowOf(r: CurlResult, dst: string, seen: number, what: string): Promise<FlowLog> {
    const src = r.localPort > 0 ? formatEndpoint(r.localIp, r.localPort) : undefined;
    return env.sluice!.waitUntil(
      () => env.sluice!.flows().slice(seen).find((f) => f.network === 'tcp' && f.dst === dst && (src === undefined || f.src === src)),
      5000,
      `access-log line: ${what} to ${dst}${src ? ` from ${src}` : ''}`,
    );
  }

  /** Waits for a line of dante's session log that matches `re`. */
  function danteLogged(re: RegExp, what: string): Promise<string> {
    return dante.waitUntil(() => dante.sessions().find((l) => re.test(l)), 5000, `dante's log: ${what}`);
  }

  const families = [
    { family: 'IPv4', remote: A.remote.v4, gw: A.gwWan.v4, danteOut: DANTE_OUT4, tag: 'dante', rule: 'dante-v4', inbound: 'in4' },
    { family: 'IPv6', remote: A.remote.v6, gw: A.gwWan.v6, danteOut: DANTE_OUT6, tag: 'dante6', rule: 'dante-v6', inbound: 'in6' },
  ] as const;

  for (const f of families) {
    it(`TCP through dante (${f.family}): the server sees dante's external address; access log names ${f.tag}, ${f.rule}, bytes both ways`, async function () {
      const path = `/one-hop-${f.family}`;
      const seen = env.sluice!.flows().length;
      const r = await curl(env.topo, url(f.remote, httpDante.port, path));
      assert.equal(r.exitCode, 0, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string; url: string };
      assert.equal(body.url, path);
      assert.equal(body.peer, f.danteOut, `the server saw ${body.peer}, not dante's external address`);
      // dante's client was the gateway, i.e. Sluice dialled it; the client never reached dante itself.
      // `[: client dante-internal -> dante-external destination`
      await danteLogged(new RegExp(`tcp/connect \\[: ${ep(f.gw)} ${ep(f.remote)} -> ${ep(f.danteOut)} `), `a CONNECT from ${f.gw}`);

      const dst = formatEndpoint(f.remote, httpDante.port);
      const flow = await flowOf(r, dst, seen, `curl through ${f.tag}`);
      assert.deepEqual(
        { dst: flow.dst, inbound: flow.inbound, rule: flow.rule, outbound: flow.outbound, error: flow.error },
        { dst, inbound: f.inbound, rule: f.rule, outbound: f.tag, error: undefined },
        describeFlows([flow]),
      );
      assert.ok(flow.up > 0 && flow.down > 0, describeFlows([flow]));
      // SOCKS framing stays on Sluice's upstream leg: the client's bytes are exactly what the server got and sent.
      const closed = await httpDante.probe.waitForEvent('closed', (e) => (e.urls as string[]).includes(path));
      assert.equal(flow.up, closed.bytesRead, JSON.stringify(closed));
      assert.equal(flow.down, closed.bytesWritten, JSON.stringify(closed));
    });
  }

  it('TCP through microsocks with good credentials: the server sees its -b address', async function () {
    const seen = env.sluice!.flows().length;
    const r = await curl(env.topo, url(A.remote.v4, httpMicro.port, '/micro'));
    assert.equal(r.exitCode, 0, describeCurl(r));
    const body = JSON.parse(r.body) as { peer: string; url: string };
    assert.equal(body.url, '/micro');
    assert.equal(body.peer, MICRO_OUT, `the server saw ${body.peer}, not microsocks' -b address`);
    const flow = await flowOf(r, formatEndpoint(A.remote.v4, httpMicro.port), seen, 'curl through micro');
    assert.equal(flow.outbound, 'micro', describeFlows([flow]));
    assert.equal(flow.rule, 'to-micro', describeFlows([flow]));
    assert.equal(flow.error, undefined, describeFlows([flow]));
    assert.ok(flow.up > 0 && flow.down > 0, describeFlows([flow]));
  });

  it('bad credentials: the client is closed on the rejection (not by the handshake timeout), "socks: auth rejected", no secret in any output', async function () {
    const seen = env.sluice!.flows().length;
    const r = await curl(env.topo, url(A.remote.v4, BAD_AUTH_RULE_PORT, '/bad'), 10);
    assert.ok(CLOSED_BY_PROXY.includes(r.exitCode ?? -1), `expected Sluice to close the connection: ${describeCurl(r)}`);
    const flow = await flowOf(r, formatEndpoint(A.remote.v4, BAD_AUTH_RULE_PORT), seen, 'curl through micro_bad');
    assert.equal(flow.outbound, 'micro_bad', describeFlows([flow]));
    assert.equal(flow.rule, 'bad-auth', describeFlows([flow]));
    assert.equal(flow.error, 'socks: auth rejected', describeFlows([flow]));
    // The error is the rejection's, not `socks: handshake timeout`: the close was caused by the server's answer.
    assert.equal(flow.up, 0, 'nothing may reach an upstream that refused us');
    assert.equal(flow.down, 0);

    // Sluice at debug level plus `sluice check` on the same config: neither secret, nor the user name.
    const check = await runSluice(env.topo, ['check', '-c', configPath], { allowFailure: true });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const outputs = {
      'sluice run stdout': env.sluice!.lines.map((l) => JSON.stringify(l)).join('\n'),
      'sluice run stderr': env.sluice!.stderr,
      'sluice check': check.stdout + check.stderr,
    };
    assert.ok(outputs['sluice run stdout'].includes('socks: auth rejected'), 'the output checked is the one that has the failure');
    for (const [where, text] of Object.entries(outputs)) {
      for (const [name, secret] of Object.entries({ 'the bad password': BAD_PASSWORD, 'the good password': GOOD_PASSWORD, 'the user name': USER })) {
        assert.ok(!text.includes(secret), `${name} appears in ${where}`);
      }
    }
  });

  for (const f of [
    { family: 'IPv4', server: A.remote.v4, client: A.client.v4, out: DANTE_OUT4, gw: A.gwWan.v4, tag: 'dante', rule: 'dante-v4', type: 'A', answer: '192.0.2.7', srcPort: 40061 },
    { family: 'IPv6', server: A.remote.v6, client: A.client.v6, out: DANTE_OUT6, gw: A.gwWan.v6, tag: 'dante6', rule: 'dante-v6', type: 'AAAA', answer: '2001:db8::7', srcPort: 40062 },
  ] as const) {
    it(`UDP through dante (${f.family}): dig gets its answer through UDP ASSOCIATE; dnsmasq saw dante's external address`, async function () {
      const name = `one-hop-${f.family.toLowerCase()}.example.test`;
      const r = await dig(env.topo, f.server, name, f.type, `${f.client}#${f.srcPort}`);
      // dig drops replies from any other source than the server it asked, so an answer proves the source.
      assert.equal(r.code, 0, `dig exit ${r.code}: ${r.stdout}${r.stderr}`);
      assert.deepEqual(r.answers, [f.answer]);
      const line = dnsmasq.queries().find((l) => l.includes(name));
      if (line === undefined) assert.fail(`no query for ${name} in dnsmasq's log:\n${dnsmasq.stderr}`);
      assert.ok(line.endsWith(`from ${f.out}`), `dnsmasq saw: ${line}`);
      const src = formatEndpoint(f.client, f.srcPort);
      const flow = await env.sluice!.waitForFlow((l) => l.network === 'udp' && l.src === src, 5000, `udp src ${src}`);
      assert.deepEqual(
        { rule: flow.rule, outbound: flow.outbound, error: flow.error },
        { rule: f.rule, outbound: f.tag, error: undefined },
        describeFlows([flow]),
      );
      assert.ok(flow.up > 0 && flow.down > 0, describeFlows([flow]));
      // dante logs a UDP session when it ends (the flow's idle timeout closed it above): the datagrams came
      // from the gateway's address (Sluice's UDP socket) and left from dante's external address to dnsmasq.
      // `]: bytes/packets -> client relay -> …, … -> dante-external destination -> …`
      await danteLogged(
        new RegExp(`udp/udpassociate \\]: \\S+ -> ${ep(f.gw)} ${ep(f.server)} -> \\S+ \\S+ -> ${ep(f.out)} ${ep(f.server)} -> `),
        `a UDP ASSOCIATE session from ${f.gw} relayed from ${f.out}`,
      );
    });
  }

  it('while a flow waits on a silent upstream, flows through dante and microsocks are unaffected; it then fails in bounded time', async function () {
    const dropsBefore = await readSilentDrops(env.topo);
    const seen = env.sluice!.flows().length;
    let silentDone = false;
    const silent = curl(env.topo, url(A.remote.v4, SILENT_RULE_PORT, '/silent'), 20).finally(() => (silentDone = true));
    // The failing flow is under way once Sluice's SYN to the silent port has been dropped there.
    await waitFor('Sluice dialling the silent upstream', async () => (await readSilentDrops(env.topo)) > dropsBefore, { timeoutMs: 3000 });
    const stuckSince = Date.now();

    const [viaDante, viaMicro, dns, bad] = await Promise.all([
      curl(env.topo, url(A.remote.v4, httpDante.port, '/during-dante')),
      curl(env.topo, url(A.remote.v4, httpMicro.port, '/during-micro')),
      dig(env.topo, A.remote.v4, 'during.example.test', 'A', `${A.client.v4}#40063`),
      curl(env.topo, url(A.remote.v4, BAD_AUTH_RULE_PORT, '/during-bad')),
    ]);
    assert.equal(silentDone, false, `the silent-upstream flow ended before the others were done (${Date.now() - stuckSince} ms): the test proves nothing`);
    assert.equal(viaDante.exitCode, 0, describeCurl(viaDante));
    assert.equal((JSON.parse(viaDante.body) as { peer: string }).peer, DANTE_OUT4);
    assert.equal(viaMicro.exitCode, 0, describeCurl(viaMicro));
    assert.equal((JSON.parse(viaMicro.body) as { peer: string }).peer, MICRO_OUT);
    assert.equal(dns.code, 0, `dig: ${dns.stdout}${dns.stderr}`);
    assert.deepEqual(dns.answers, ['192.0.2.7']);
    assert.ok(CLOSED_BY_PROXY.includes(bad.exitCode ?? -1), describeCurl(bad));

    const r = await silent;
    assert.ok(CLOSED_BY_PROXY.includes(r.exitCode ?? -1), `expected Sluice to close the connection: ${describeCurl(r)}`);
    const flow = await flowOf(r, formatEndpoint(A.remote.v4, SILENT_RULE_PORT), seen, 'curl to the silent upstream');
    assert.equal(flow.outbound, 'silent', describeFlows([flow]));
    assert.equal(flow.rule, 'silent-upstream', describeFlows([flow]));
    assert.equal(flow.error, 'socks: connect timeout', describeFlows([flow]));
  });
});
