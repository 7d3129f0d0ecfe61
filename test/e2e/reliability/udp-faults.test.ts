import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import { freePort } from '../../helpers/ports';
import {
  assertFootprintReturns,
  assertStillServing,
  footprint,
  RELIABILITY_TIMEOUTS as T,
  spawnNodeClient,
  startReliabilitySluice,
} from '../../helpers/reliability';
import { startHttpServer, startUdpEchoServer, type ProbeServer } from '../../helpers/servers';
import { describeFlows } from '../../helpers/sluice';

/**
 * Sends argv[3] datagrams to argv host:port, 100 ms apart, then listens for
 * a second more and prints one line: replies received and socket errors.
 */
const UDP_CLIENT = `
const dgram = require('dgram');
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
let replies = 0; const errors = [];
s.on('message', () => replies++);
s.on('error', (e) => errors.push(e.code || e.message));
s.bind(0, () => {
  let i = 0;
  const t = setInterval(() => {
    s.send('datagram ' + i, port, host);
    if (++i === n) { clearInterval(t); setTimeout(() => { console.log(JSON.stringify({ event: 'done', port: s.address().port, replies, errors })); process.exit(0); }, 1000); }
  }, 100);
});
`;

describe('e2e reliability: upstream UDP faults', function () {
  const env = useE2E({ tag: 'ruf', sluice: false });
  let http: ProbeServer;
  let udpEcho: ProbeServer;
  const clients: ChildWatch[] = [];

  before(async function () {
    http = await startHttpServer(env.topo);
    udpEcho = await startUdpEchoServer(env.topo);
    await startReliabilitySluice(env);
    await assertStillServing(env, http);
    await udpExchange(udpEcho.port, 1);
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) await c.stop('SIGKILL');
  });

  async function udpExchange(port: number, n: number, host: string = A.remote.v4): Promise<{ port: number; replies: number; errors: string[] }> {
    const c = spawnNodeClient(env.topo, 'client', UDP_CLIENT, [host, String(port), String(n)]);
    clients.push(c);
    const done = await c.waitFor((l) => l.event === 'done', 10_000, 'the datagrams sent and replies counted');
    return done as unknown as { port: number; replies: number; errors: string[] };
  }

  /**
   * Sends to a closed UDP port of the remote, which answers ICMP port
   * unreachable. `expectError` is what the session's access line must say.
   */
  async function icmpUnreachable(path: string, family: 4 | 6, expectError: RegExp): Promise<void> {
    const sluice = env.sluice!;
    const before = footprint(sluice.child.pid!);
    const [client, remote] = family === 4 ? [A.client.v4, A.remote.v4] : [A.client.v6, A.remote.v6];
    const port = await freePort(env.topo, 'remote', remote, 'udp');
    const sent = await udpExchange(port, 3, remote);
    assert.equal(sent.replies, 0, JSON.stringify(sent));
    const src = formatEndpoint(client, sent.port);
    const flow = await sluice.waitForFlow((f) => f.src === src && f.network === 'udp', T.udpIdleMs + 5000, `udp session from ${src}`);
    console.log(`      [outcome] ICMP unreachable (${path}, IPv${family}): session up ${flow.up} B, down ${flow.down} B, error: ${flow.error}`);
    assert.equal(flow.dst, formatEndpoint(remote, port), describeFlows([flow]));
    assert.equal(flow.down, 0, describeFlows([flow]));
    assert.match(flow.error ?? '', expectError, describeFlows([flow]));
    const echoed = await udpExchange(udpEcho.port, 3, remote);
    assert.equal(echoed.replies, 3, `UDP to a live server after the fault: ${JSON.stringify(echoed)}`);
    await assertStillServing(env, http);
    await assertFootprintReturns(sluice, before, `ICMP unreachable (UDP, ${path}, IPv${family})`);
  }

  it('ICMP port unreachable (native datagram path): the session ends with the error in its access line, nothing leaks, and UDP still works', async function () {
    await icmpUnreachable('native path', 4, /^upstream: ECONNREFUSED/);
  });

  it('ICMP port unreachable over IPv6 (native datagram path): the same', async function () {
    await udpExchange(udpEcho.port, 1, A.remote.v6);
    await icmpUnreachable('native path', 6, /^upstream: ECONNREFUSED/);
  });

  // The JavaScript path: direct's UdpSocketChannel reports the refusal through the PacketChannel's onClose.
  describe('relay.native_udp: false (the JavaScript datagram path)', function () {
    before(async function () {
      await env.stopSluice();
      await startReliabilitySluice(env, 'relay: { native_udp: false }\n');
      await assertStillServing(env, http);
      await udpExchange(udpEcho.port, 1);
      await udpExchange(udpEcho.port, 1, A.remote.v6);
    });

    it('ICMP port unreachable: the session ends at once with the error in its access line, nothing leaks, and UDP still works', async function () {
      await icmpUnreachable('JavaScript path', 4, /^upstream: ECONNREFUSED \(port unreachable\)$/);
    });

    it('ICMP port unreachable over IPv6: the same', async function () {
      await icmpUnreachable('JavaScript path', 6, /^upstream: ECONNREFUSED \(port unreachable\)$/);
    });
  });
});
