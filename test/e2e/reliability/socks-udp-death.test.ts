import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import {
  assertFootprintReturns,
  assertStillServing,
  footprint,
  GC_NODE_ARGS,
  reliabilityConfig,
  spawnNodeClient,
} from '../../helpers/reliability';
import { startHttpServer, startUdpEchoServer, type ProbeServer } from '../../helpers/servers';
import { describeFlows, writeFile } from '../../helpers/sluice';
import { danteConfig, startDante, type DanteServer } from '../../helpers/socks-servers';
import { waitFor } from '../../helpers/wait';

/**
 * Sends a datagram to argv host:port every 100 ms until a line on stdin,
 * counting replies; prints `progress` (sent, replies) every 100 ms and its
 * own port in the first line.
 */
const UDP_STREAM_CLIENT = `
const dgram = require('dgram');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
let sent = 0, replies = 0;
s.on('message', () => replies++);
s.on('error', () => {});
s.bind(0, () => {
  emit({ event: 'bound', port: s.address().port });
  const t = setInterval(() => { s.send('datagram ' + sent++, port, host); emit({ event: 'progress', sent, replies }); }, 100);
  process.stdin.once('data', () => { clearInterval(t); emit({ event: 'stopped', sent, replies }); process.exit(0); });
});
`;

const DANTE_PORT = 1080;

describe('e2e reliability: the SOCKS server dies during a UDP session', function () {
  const env = useE2E({ tag: 'rsd', sluice: false });
  let http: ProbeServer;
  let udpEcho: ProbeServer;
  let dante: DanteServer | undefined;
  const clients: ChildWatch[] = [];
  const conf = danteConfig({ internal: [{ address: A.remote.v4, port: DANTE_PORT }, { address: A.remote.v6, port: DANTE_PORT }], external: [A.remote.v4, A.remote.v6] });

  before(async function () {
    http = await startHttpServer(env.topo);
    udpEcho = await startUdpEchoServer(env.topo);
    dante = await startDante(env.topo, env.tmp, 'dante', conf);
    // Each family's sessions go to dante over that family (the control connection and the relay).
    const config = reliabilityConfig()
      .replace(
        'outbounds:\n',
        `outbounds:\n  - { tag: dante, type: socks, server: ${A.remote.v4}, port: ${DANTE_PORT} }\n  - { tag: dante6, type: socks, server: "${A.remote.v6}", port: ${DANTE_PORT} }\n`,
      )
      .replace(
        'route:\n',
        `route:\n  rules:\n    - { network: [udp], dst_port: ${udpEcho.port}, dst_cidr: ["${A.remote.v6}/128"], outbound: dante6 }\n    - { network: [udp], dst_port: ${udpEcho.port}, outbound: dante }\n`,
      );
    await env.startSluice(writeFile(env.tmp, 'socks-udp-death.yaml', config), GC_NODE_ARGS);
    await assertStillServing(env, http);
    // One session per family first: the inbound's reply socket for each destination (kept 60 s after its
    // last use) is then part of the baseline, not counted as a leak of the test that opened it.
    for (const [client, remote] of [[A.client.v4, A.remote.v4], [A.client.v6, A.remote.v6]]) {
      const warm = await udpStream(remote!, 1);
      await warm.client.stop('SIGKILL');
      await env.sluice!.waitForFlow((f) => f.src === formatEndpoint(client!, warm.port), 10_000, 'the warm-up session to end');
    }
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) await c.stop('SIGKILL');
  });
  after(async function () {
    await dante?.stop('SIGKILL');
  });

  /** Starts {@link UDP_STREAM_CLIENT} towards the echo server and waits until `replies` came back. */
  async function udpStream(remote: string, replies: number): Promise<{ client: ChildWatch; port: number }> {
    const client = spawnNodeClient(env.topo, 'client', UDP_STREAM_CLIENT, [remote, String(udpEcho.port)]);
    clients.push(client);
    const bound = await client.waitFor((l) => l.event === 'bound', 5000, 'the client bound');
    await client.waitFor((l) => l.event === 'progress' && (l.replies as number) >= replies, 10_000, `${replies} replies through dante`);
    return { client, port: bound.port as number };
  }

  /** SIGKILLs every danted process (the parent and the children it forked) in this suite's remote namespace. */
  async function killDante(): Promise<number> {
    const pids = (await env.topo.pids('remote')).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'danted';
      } catch {
        return false;
      }
    });
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await dante?.exited;
    dante = undefined;
    return pids.length;
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: the session ends with an error in its access line, nothing leaks, and new sessions work once dante is back`, async function () {
      this.timeout(60_000);
      const sluice = env.sluice!;
      const [client, remote] = family === 4 ? [A.client.v4, A.remote.v4] : [A.client.v6, A.remote.v6];
      const before = footprint(sluice.child.pid!);
      const { client: stream, port } = await udpStream(remote, 3);
      const src = formatEndpoint(client, port);

      const killed = await killDante();
      assert.ok(killed > 0, 'no danted process found');
      const flow = await sluice.waitForFlow((f) => f.src === src && f.network === 'udp', 15_000, `the session from ${src} to end`);
      console.log(`      [outcome] dante killed (${killed} processes) during a UDP session (IPv${family}): up ${flow.up} B, down ${flow.down} B, error: ${flow.error}`);
      assert.equal(flow.outbound, family === 4 ? 'dante' : 'dante6', describeFlows([flow]));
      assert.match(flow.error ?? '', /^socks: /, describeFlows([flow]));
      assert.ok(flow.down > 0, describeFlows([flow]));
      await stream.stop('SIGKILL');
      assert.equal(sluice.exitStatus, undefined, 'Sluice exited');

      dante = await startDante(env.topo, env.tmp, 'dante', conf);
      const again = await udpStream(remote, 3);
      await again.client.stop('SIGKILL');
      await assertStillServing(env, http);
      // The new session's own fds go when it idles out.
      await waitFor('the sessions idle-closed', () => sluice.flows().some((f) => f.src === formatEndpoint(client, again.port)), { timeoutMs: 15_000, intervalMs: 200 });
      await assertFootprintReturns(sluice, before, `SOCKS server killed during a UDP session (IPv${family})`);
    });
  }
});
