import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type FlowLog } from '@sluice/testbed';
import { curl, describeCurl, type CurlResult } from '../helpers/clients';
import { useE2EWithLeakCheck } from '../helpers/leaks';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { describeFlows, writeFile } from '../helpers/sluice';
import { addAddresses, danteConfig, startDante, type DanteServer } from '../helpers/socks-servers';
import { startTinyproxy, type Tinyproxy } from '../helpers/tinyproxy';

/*
 * The example plugin examples/plugin-http-connect, loaded by path, against
 * Debian's tinyproxy in the remote namespace:
 *
 *   client ─▶ gw: Sluice ─ http-connect ───────────────────▶ remote: tinyproxy :8888 ─▶ HTTP server
 *                        ─ http-connect (username/password) ─▶ remote: tinyproxy :8889 (BasicAuth) ─▶ HTTP server
 *                        ─ http-connect via socks ─▶ dante :1080 (sends from .10) ─▶ tinyproxy :8888 ─▶ HTTP server
 *
 * tinyproxy's log names its client, so it tells whether Sluice (the gateway)
 * or dante's own address reached it; its `ConnectPort` lines admit only the
 * HTTP servers' ports, so a flow to any other port is answered 403.
 */

const PLUGIN_DIR = path.resolve(__dirname, '..', '..', '..', 'examples', 'plugin-http-connect');
const PROXY_PORT = 8888;
const AUTH_PROXY_PORT = 8889;
const DANTE_PORT = 1080;
const DANTE_OUT = '198.19.2.10';
/** Destination ports that only select an outbound; tinyproxy refuses CONNECT to them. */
const REFUSED_RULE_PORT = 8093;
const BAD_AUTH_RULE_PORT = 8094;

// Random, so finding them in Sluice's output cannot be a coincidence.
const USER = `u${randomBytes(6).toString('hex')}`;
const GOOD_PASSWORD = `good${randomBytes(8).toString('hex')}`;
const BAD_PASSWORD = `bad${randomBytes(8).toString('hex')}`;

interface Servers {
  readonly plain: ProbeServer;
  readonly auth: ProbeServer;
  readonly via: ProbeServer;
}

function sluiceConfig(s: Servers): string {
  // Debug level: the password must stay out of every log line, not just the access log.
  return `log: { level: debug }
plugins: [${JSON.stringify(PLUGIN_DIR)}]
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: proxy, type: http-connect, server: ${A.remote.v4}, port: ${PROXY_PORT} }
  - { tag: proxy_auth, type: http-connect, server: ${A.remote.v4}, port: ${AUTH_PROXY_PORT}, username: ${USER}, password: ${GOOD_PASSWORD} }
  - { tag: proxy_bad_auth, type: http-connect, server: ${A.remote.v4}, port: ${AUTH_PROXY_PORT}, username: ${USER}, password: ${BAD_PASSWORD} }
  - { tag: dante, type: socks, server: ${A.remote.v4}, port: ${DANTE_PORT} }
  - { tag: proxy_via_socks, type: http-connect, server: ${A.remote.v4}, port: ${PROXY_PORT}, via: dante }
route:
  rules:
    - { name: refused, network: [tcp], dst_port: ${REFUSED_RULE_PORT}, outbound: proxy }
    - { name: auth, network: [tcp], dst_port: ${s.auth.port}, outbound: proxy_auth }
    - { name: bad-auth, network: [tcp], dst_port: ${BAD_AUTH_RULE_PORT}, outbound: proxy_bad_auth }
    - { name: via-socks, network: [tcp], dst_port: ${s.via.port}, outbound: proxy_via_socks }
    - { name: proxied, network: [tcp], dst_cidr: ["${A.remote.v4}/32", "${A.remote.v6}/128"], outbound: proxy }
  final: direct
timeouts: { drain_ms: 1000 }
`;
}

const url = (host: string, port: number, p: string): string => `http://${formatEndpoint(host, port)}${p}`;
const escape = (s: string): string => s.replace(/[.[\]]/g, (c) => `\\${c}`);

/**
 * curl exit codes for "Sluice closed the connection it had accepted": 52 empty reply (FIN), 55/56 reset while
 * sending/receiving, and 7 when the reset comes so fast that curl is still checking its connect. Not 28: curl's
 * own timer firing would mean nobody closed it.
 */
const CLOSED_BY_PROXY = [7, 52, 55, 56];

describe('e2e: HTTP CONNECT outbound (examples/plugin-http-connect) through tinyproxy', function () {
  const env = useE2EWithLeakCheck({ tag: 'hconn', sluice: false });
  let servers: Servers;
  let proxy: Tinyproxy;
  let authProxy: Tinyproxy;
  let dante: DanteServer;

  before(async function () {
    this.timeout(60_000);
    servers = { plain: await startHttpServer(env.topo), auth: await startHttpServer(env.topo), via: await startHttpServer(env.topo) };
    const ports = [servers.plain.port, servers.auth.port, servers.via.port];
    proxy = await startTinyproxy(env.topo, env.tmp, 'tinyproxy', { listen: A.remote.v4, port: PROXY_PORT, connectPorts: ports });
    authProxy = await startTinyproxy(env.topo, env.tmp, 'tinyproxy-auth', {
      listen: A.remote.v4,
      port: AUTH_PROXY_PORT,
      connectPorts: [...ports, BAD_AUTH_RULE_PORT],
      basicAuth: { user: USER, password: GOOD_PASSWORD },
    });
    await addAddresses(env.topo, 'remote', [DANTE_OUT]);
    dante = await startDante(
      env.topo,
      env.tmp,
      'dante',
      danteConfig({ internal: [{ address: A.remote.v4, port: DANTE_PORT }], external: [DANTE_OUT], clientFrom: [`${A.gwWan.v4}/32`] }),
    );
    await env.startSluice(writeFile(env.tmp, 'http-connect.yaml', sluiceConfig(servers)));
  });

  /** The access-log line of a curl run, by the client's port, or the first new line for `dst` when curl has none. */
  function flowOf(r: CurlResult, dst: string, seen: number, what: string): Promise<FlowLog> {
    const src = r.localPort > 0 ? formatEndpoint(r.localIp, r.localPort) : undefined;
    return env.sluice!.waitUntil(
      () => env.sluice!.flows().slice(seen).find((f) => f.dst === dst && (src === undefined || f.src === src)),
      5000,
      `access-log line: ${what} to ${dst}${src ? ` from ${src}` : ''}`,
    );
  }

  for (const f of [
    { family: 'IPv4', remote: A.remote.v4, inbound: 'in4' },
    { family: 'IPv6', remote: A.remote.v6, inbound: 'in6' },
  ] as const) {
    it(`${f.family}: curl gets its answer through tinyproxy, which Sluice (the gateway) asked to CONNECT to the IP; bytes match the server's`, async function () {
      const p = `/http-connect-${f.family}`;
      const seen = env.sluice!.flows().length;
      const r = await curl(env.topo, url(f.remote, servers.plain.port, p));
      assert.equal(r.exitCode, 0, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string; url: string };
      assert.equal(body.url, p);
      // tinyproxy runs on the remote, so the server sees the remote's own address: not the client, not the gateway.
      assert.equal(body.peer, f.remote, `the server saw ${body.peer}`);
      const target = formatEndpoint(f.remote, servers.plain.port);
      await proxy.logged(new RegExp(`Request \\(file descriptor \\d+\\): CONNECT ${escape(target)} HTTP/1\\.1`), `CONNECT ${target}`);
      assert.ok(
        proxy.log().some((l) => new RegExp(`Connect \\(file descriptor \\d+\\): ${escape(A.gwWan.v4)}$`).test(l)),
        `tinyproxy's client was not the gateway:\n${proxy.log().join('\n')}`,
      );

      const flow = await flowOf(r, target, seen, 'curl through proxy');
      assert.deepEqual(
        { inbound: flow.inbound, rule: flow.rule, outbound: flow.outbound, error: flow.error },
        { inbound: f.inbound, rule: 'proxied', outbound: 'proxy', error: undefined },
        describeFlows([flow]),
      );
      // The CONNECT exchange stays on Sluice's upstream leg: the client's bytes are exactly what the server got and sent.
      const closed = await servers.plain.probe.waitForEvent('closed', (e) => (e.urls as string[]).includes(p));
      assert.equal(flow.up, closed.bytesRead, JSON.stringify(closed));
      assert.equal(flow.down, closed.bytesWritten, JSON.stringify(closed));
    });
  }

  it('a CONNECT tinyproxy refuses (port not allowed: 403): the client is closed, the access log says "proxy answered 403 Forbidden"', async function () {
    const seen = env.sluice!.flows().length;
    const r = await curl(env.topo, url(A.remote.v4, REFUSED_RULE_PORT, '/refused'));
    assert.ok(CLOSED_BY_PROXY.includes(r.exitCode ?? -1), `expected Sluice to close the connection: ${describeCurl(r)}`);
    const target = formatEndpoint(A.remote.v4, REFUSED_RULE_PORT);
    await proxy.logged(new RegExp(`CONNECT ${escape(target)} HTTP/1\\.1`), `the refused CONNECT ${target}`);
    const flow = await flowOf(r, target, seen, 'curl to a refused port');
    assert.deepEqual(
      { rule: flow.rule, outbound: flow.outbound, error: flow.error, up: flow.up, down: flow.down },
      { rule: 'refused', outbound: 'proxy', error: 'http-connect: proxy answered 403 Forbidden', up: 0, down: 0 },
      describeFlows([flow]),
    );
  });

  it('Basic auth: good credentials get through; wrong ones give "proxy answered 401 …"; no secret in any output', async function () {
    const seen = env.sluice!.flows().length;
    const good = await curl(env.topo, url(A.remote.v4, servers.auth.port, '/auth'));
    assert.equal(good.exitCode, 0, describeCurl(good));
    assert.equal((JSON.parse(good.body) as { url: string }).url, '/auth');
    const goodFlow = await flowOf(good, formatEndpoint(A.remote.v4, servers.auth.port), seen, 'curl through proxy_auth');
    assert.deepEqual({ outbound: goodFlow.outbound, error: goodFlow.error }, { outbound: 'proxy_auth', error: undefined }, describeFlows([goodFlow]));

    const bad = await curl(env.topo, url(A.remote.v4, BAD_AUTH_RULE_PORT, '/bad-auth'));
    assert.ok(CLOSED_BY_PROXY.includes(bad.exitCode ?? -1), describeCurl(bad));
    const badFlow = await flowOf(bad, formatEndpoint(A.remote.v4, BAD_AUTH_RULE_PORT), seen, 'curl through proxy_bad_auth');
    // tinyproxy answers a CONNECT with wrong credentials 401, not 407.
    assert.deepEqual(
      { rule: badFlow.rule, outbound: badFlow.outbound, error: badFlow.error },
      { rule: 'bad-auth', outbound: 'proxy_bad_auth', error: 'http-connect: proxy answered 401 Unauthorized' },
      describeFlows([badFlow]),
    );

    const output = env.sluice!.lines.map((l) => JSON.stringify(l)).join('\n') + env.sluice!.stderr;
    assert.ok(output.includes('401 Unauthorized'), 'the output checked is the one that has the failure');
    for (const [name, secret] of Object.entries({ 'the good password': GOOD_PASSWORD, 'the bad password': BAD_PASSWORD, 'the user name': USER })) {
      assert.ok(!output.includes(secret), `${name} appears in Sluice's output`);
    }
  });

  it('via: HTTP CONNECT over a SOCKS hop: dante (asked by the gateway) reaches tinyproxy, which reaches the server', async function () {
    const p = '/via-socks';
    const seen = env.sluice!.flows().length;
    const r = await curl(env.topo, url(A.remote.v4, servers.via.port, p));
    assert.equal(r.exitCode, 0, describeCurl(r));
    assert.equal((JSON.parse(r.body) as { url: string }).url, p);
    // dante's client is the gateway, and it connected to tinyproxy from its external address …
    const ep = (a: string): string => `${escape(a)}\\.\\d+`;
    await dante.waitUntil(
      () => dante.sessions().find((l) => new RegExp(`tcp/connect \\[: ${ep(A.gwWan.v4)} ${ep(A.remote.v4)} -> ${ep(DANTE_OUT)} ${escape(A.remote.v4)}\\.${PROXY_PORT}\\b`).test(l)),
      5000,
      `dante's log: a CONNECT from ${A.gwWan.v4} to tinyproxy`,
    );
    // … which tinyproxy names as its client.
    await proxy.logged(new RegExp(`Connect \\(file descriptor \\d+\\): ${escape(DANTE_OUT)}$`), `a client at dante's address ${DANTE_OUT}`);
    const flow = await flowOf(r, formatEndpoint(A.remote.v4, servers.via.port), seen, 'curl through proxy_via_socks');
    assert.deepEqual(
      { rule: flow.rule, outbound: flow.outbound, error: flow.error },
      { rule: 'via-socks', outbound: 'proxy_via_socks', error: undefined },
      describeFlows([flow]),
    );
    assert.ok(flow.up > 0 && flow.down > 0, describeFlows([flow]));
  });
});
