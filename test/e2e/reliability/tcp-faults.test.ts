import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import { freePort } from '../../helpers/ports';
import {
  addNftTable,
  assertFootprintReturns,
  assertStillServing,
  clientEnd,
  footprint,
  RELIABILITY_TIMEOUTS as T,
  removeNftTable,
  RSS_SLACK_KIB,
  spawnNodeClient,
  startNodeServer,
  startReliabilitySluice,
  TCP_CLIENT,
} from '../../helpers/reliability';
import { startHttpServer, type ProbeServer } from '../../helpers/servers';
import { describeFlows } from '../../helpers/sluice';

/** Sends 64 KiB on each connection, then resets it (RST, not FIN) once the bytes have had time to leave. */
const RESET_SERVER = `
const net = require('net');
const server = net.createServer((s) => {
  s.on('error', () => {});
  s.write(Buffer.alloc(65536, 97), () => setTimeout(() => s.resetAndDestroy(), 200));
});
server.listen(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

/** Sends a banner on each connection and then nothing more; reads and ignores whatever arrives. */
const BANNER_SERVER = `
const net = require('net');
const server = net.createServer((s) => { s.on('error', () => {}); s.resume(); s.write('banner\\n'); });
server.listen(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

/** Accepts connections and never reads from them: the client's bytes pile up in front of it. */
const NEVER_READS_SERVER = `
const net = require('net');
const held = [];
const server = net.createServer({ pauseOnConnect: true }, (s) => { s.on('error', () => {}); held.push(s); });
server.listen(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

const MiB = 1024 * 1024;

describe('e2e reliability: upstream TCP faults', function () {
  const env = useE2E({ tag: 'rtf', sluice: false });
  let http: ProbeServer;
  const servers: ChildWatch[] = [];
  const clients: ChildWatch[] = [];

  before(async function () {
    http = await startHttpServer(env.topo);
    await startReliabilitySluice(env);
    // Code paths run once before the first baseline, so lazy start-up costs are not counted as a leak.
    await assertStillServing(env, http);
  });
  afterEach(async function () {
    for (const c of clients.splice(0)) await c.stop('SIGKILL');
    for (const s of servers.splice(0)) await s.stop('SIGKILL');
    await removeNftTable(env.topo, 'remote', 'rel_fault');
  });

  const sluicePid = (): number => env.sluice!.child.pid!;

  function tcpClient(remote: string, port: number, toSend = 0): ChildWatch {
    const c = spawnNodeClient(env.topo, 'client', TCP_CLIENT, [remote, String(port), String(toSend)]);
    clients.push(c);
    return c;
  }

  for (const family of [4, 6] as const) {
    const remote = family === 4 ? A.remote.v4 : A.remote.v6;
    const ipv = `IPv${family}`;
    // Other flows are checked over IPv4 always, and over the fault's own family too.
    const serving = (): Promise<void> => assertStillServing(env, http, 5, family === 4 ? [4] : [4, 6]);

    describe(ipv, function () {
      // This family's code paths run once before its first baseline, as the suite's before() does for IPv4.
      before(serving);

      it('refused: the client is reset at once and the access line names ECONNREFUSED', async function () {
        const before = footprint(sluicePid());
        const port = await freePort(env.topo, 'remote', remote);
        const end = await clientEnd(tcpClient(remote, port, 100), 5000);
        assert.equal(end.outcome, 'ECONNRESET', JSON.stringify(end));
        const dst = formatEndpoint(remote, port);
        const flow = await env.sluice!.waitForFlow((f) => f.dst === dst, 5000, `dst ${dst}`);
        assert.match(flow.error ?? '', /ECONNREFUSED/, describeFlows([flow]));
        await serving();
        await assertFootprintReturns(env.sluice!, before, `refused (${ipv})`);
      });

      it('reset mid-stream: the client gets the bytes sent before the reset, then its connection ends', async function () {
        const before = footprint(sluicePid());
        const server = await startNodeServer(env.topo, 'remote', RESET_SERVER, [remote]);
        servers.push(server.watch);
        const end = await clientEnd(tcpClient(remote, server.port), 5000);
        const dst = formatEndpoint(remote, server.port);
        const flow = await env.sluice!.waitForFlow((f) => f.dst === dst, 5000, `dst ${dst}`);
        console.log(`      [outcome] reset mid-stream (${ipv}): client ${end.outcome} after ${end.received} bytes; access line error: ${flow.error}`);
        assert.equal(end.received, 65536, `the bytes sent before the reset: ${JSON.stringify(end)}`);
        // The upstream's reset reaches the client as a reset, not as a clean end of stream.
        assert.equal(end.outcome, 'ECONNRESET', JSON.stringify(end));
        assert.match(flow.error ?? '', /ECONNRESET/, describeFlows([flow]));
        await serving();
        await assertFootprintReturns(env.sluice!, before, `reset mid-stream (${ipv})`);
      });

      it('blackholed SYN: the client is reset after timeouts.connect_ms and the access line says connect timeout', async function () {
        const before = footprint(sluicePid());
        const port = await freePort(env.topo, 'remote', remote);
        await addNftTable(env.topo, 'remote', 'rel_fault', `  chain input { type filter hook input priority 0; policy accept; tcp dport ${port} drop; }`);
        // Without Sluice's connect timeout the kernel would retry the SYN for about two minutes.
        const end = await clientEnd(tcpClient(remote, port), T.connectMs + 5000);
        assert.equal(end.outcome, 'ECONNRESET', JSON.stringify(end));
        const dst = formatEndpoint(remote, port);
        const flow = await env.sluice!.waitForFlow((f) => f.dst === dst, 5000, `dst ${dst}`);
        assert.equal(flow.error, `connect timeout after ${T.connectMs} ms`, describeFlows([flow]));
        await removeNftTable(env.topo, 'remote', 'rel_fault');
        await serving();
        await assertFootprintReturns(env.sluice!, before, `blackholed SYN (${ipv})`);
      });

      it('silent mid-stream (packets dropped after the handshake): the idle timeout closes the flow', async function () {
        const before = footprint(sluicePid());
        const server = await startNodeServer(env.topo, 'remote', BANNER_SERVER, [remote]);
        servers.push(server.watch);
        const client = tcpClient(remote, server.port);
        await client.waitFor((l) => l.event === 'data', 5000, 'the banner');
        await addNftTable(
          env.topo,
          'remote',
          'rel_fault',
          `  chain input { type filter hook input priority 0; policy accept; tcp dport ${server.port} drop; }
      chain output { type filter hook output priority 0; policy accept; tcp sport ${server.port} drop; }`,
        );
        // Bytes towards a remote that has vanished: Sluice's upstream socket holds them unacknowledged.
        client.child.stdin!.write('go\n');
        const end = await clientEnd(client, T.tcpIdleMs + 5000);
        const dst = formatEndpoint(remote, server.port);
        const flow = await env.sluice!.waitForFlow((f) => f.dst === dst, 5000, `dst ${dst}`);
        console.log(`      [outcome] silent mid-stream (${ipv}): client ${end.outcome}; access line error: ${flow.error}`);
        assert.equal(end.outcome, 'ECONNRESET', JSON.stringify(end));
        assert.equal(flow.error, 'idle timeout', describeFlows([flow]));
        await removeNftTable(env.topo, 'remote', 'rel_fault');
        await serving();
        await assertFootprintReturns(env.sluice!, before, `silent mid-stream (${ipv})`);
      });

      it('a server that never reads while the client sends 50 MiB: Sluice holds no more than its pipes, not the bytes', async function () {
        const before = footprint(sluicePid());
        const server = await startNodeServer(env.topo, 'remote', NEVER_READS_SERVER, [remote]);
        servers.push(server.watch);
        const client = tcpClient(remote, server.port, 50 * MiB);
        let peakKiB = before.rssKiB;
        let peakFds = before.fds;
        const sampler = setInterval(() => {
          const now = footprint(sluicePid());
          peakKiB = Math.max(peakKiB, now.rssKiB);
          peakFds = Math.max(peakFds, now.fds);
        }, 100);
        let end;
        try {
          // The bytes stall once every buffer on the way is full; the idle timeout then ends the flow.
          end = await clientEnd(client, 30_000);
        } finally {
          clearInterval(sampler);
        }
        console.log(`      [outcome] never reads (${ipv}): client ${end.outcome} after the kernel took ${(end.sent / MiB).toFixed(1)} MiB; Sluice peak RSS ${(peakKiB / 1024).toFixed(1)} MiB, peak fds ${peakFds}`);
        assert.ok(end.sent < 50 * MiB, `all 50 MiB left the client, so nothing stalled and this test checks nothing: ${JSON.stringify(end)}`);
        assert.equal(end.outcome, 'ECONNRESET', JSON.stringify(end));
        assert.ok(peakKiB < before.rssKiB + RSS_SLACK_KIB, `Sluice's RSS peaked at ${peakKiB} KiB from ${before.rssKiB} KiB`);
        const dst = formatEndpoint(remote, server.port);
        const flow = await env.sluice!.waitForFlow((f) => f.dst === dst, 5000, `dst ${dst}`);
        assert.equal(flow.error, 'idle timeout', describeFlows([flow]));
        await serving();
        await assertFootprintReturns(env.sluice!, before, `never reads (50 MiB) (${ipv})`);
      });
    });
  }
});
