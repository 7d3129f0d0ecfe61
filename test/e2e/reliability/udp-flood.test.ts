import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import {
  assertFootprintReturns,
  assertStillServing,
  collectGarbage,
  footprint,
  samplePeak,
  spawnNodeClient,
  type AfterCollection,
  type Footprint,
  startNodeServer,
  startReliabilitySluice,
} from '../../helpers/reliability';
import { curl, describeCurl, type CurlResult } from '../../helpers/clients';
import { startHttpServer, type ProbeServer } from '../../helpers/servers';
import { describeFlows } from '../../helpers/sluice';
import { waitFor } from '../../helpers/wait';

/**
 * Receives datagrams without answering; prints `{"event":"count"}` with the
 * datagrams and distinct peers seen (each peer is one of Sluice's upstream
 * sockets, so one session), when they changed, at most every 250 ms.
 */
const SINK_SERVER = `
const dgram = require('dgram');
const peers = new Set();
let datagrams = 0, said = -1;
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => { datagrams++; peers.add(r.port); });
s.bind(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: s.address().port })));
setInterval(() => { if (datagrams !== said) { said = datagrams; console.log(JSON.stringify({ event: 'count', datagrams, peers: peers.size })); } }, 250);
`;

/**
 * Sends one datagram from each source port argv[3] … argv[3] + argv[4] − 1
 * to argv host:port: argv[5] sockets at a time, each bound to its port,
 * closed once its datagram is sent. Prints `done` with what was sent and the
 * errors by code.
 */
const FLOOD_CLIENT = `
const dgram = require('dgram');
const [host, port, first, count, batch] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const errors = {};
let sent = 0;
const fail = (code) => { errors[code] = (errors[code] || 0) + 1; };
function one(p) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let done = false;
    const finish = () => { if (done) return; done = true; try { s.close(); } catch {} resolve(); };
    s.on('error', (e) => { fail(e.code || e.message); finish(); });
    s.bind(p, () => s.send('flood ' + p, port, host, (err) => { if (err) fail(err.code || err.message); else sent++; finish(); }));
  });
}
(async () => {
  for (let p = first; p < first + count; p += batch) {
    const ports = [];
    for (let q = p; q < Math.min(first + count, p + batch); q++) ports.push(q);
    await Promise.all(ports.map(one));
  }
  emit({ event: 'done', sent, errors });
  process.exit(0);
})();
`;

const SOURCE_PORTS = 50_000;
const FIRST_PORT = 10_000;
/** The session cap under test: small next to the flood, so it is reached many times over. */
const MAX_SESSIONS = 1000;
/** Long enough that the cap, not the idle timeout, is what ends most sessions during the flood. */
const UDP_IDLE_MS = 8000;
/** fds Sluice may hold past its baseline and the capped sessions: a reply socket per destination, curl flows, splice pipes (pool of 16), log. */
const FD_SLACK = 64;

/** How far the heap may grow over one flood once collected: a leak bound, under ~100 bytes per session of a flood. */
const HEAP_SLACK_KIB = 1024;

const mib = (kib: number): string => (kib / 1024).toFixed(1);

describe('e2e reliability: UDP from 50,000 source ports', function () {
  const env = useE2E({ tag: 'ruo', sluice: false });
  let http: ProbeServer;
  let sink: { watch: ChildWatch; port: number };
  const procs: ChildWatch[] = [];

  before(async function () {
    http = await startHttpServer(env.topo);
    sink = await startNodeServer(env.topo, 'remote', SINK_SERVER, [A.remote.v4]);
    procs.push(sink.watch);
    await startReliabilitySluice(env, `udp: { max_sessions: ${MAX_SESSIONS} }\n`, { connectMs: 10_000, tcpIdleMs: 10_000, udpIdleMs: UDP_IDLE_MS });
    await assertStillServing(env, http);
    // A first flood grows the JavaScript heap and malloc's arenas to their working size; the baseline is
    // taken after it, so what the test compares is what a flood leaves behind, not what the first one needs.
    const pid = env.sluice!.child.pid!;
    const first = footprint(pid);
    const started = (await collectGarbage(env.sluice!))!;
    const warm = await runFlood();
    warmCollected = (await collectGarbage(env.sluice!))!;
    console.log(
      `      [warm-up] UDP flood: ${warm.sessions} sessions; Sluice fds ${first.fds} -> peak ${warm.peak.fds}, RSS ${mib(first.rssKiB)} -> peak ${mib(warm.peak.rssKiB)} MiB; ` +
        `after full collections (RSS without V8's emptied pages, heap) ${mib(started.rssKiB)}, ${mib(started.heapUsedKiB)} MiB before it, ` +
        `${mib(warmCollected.rssKiB)}, ${mib(warmCollected.heapUsedKiB)} MiB after it`,
    );
  });
  /** Sluice's memory after the first flood and full garbage collections: what the second is held to. */
  let warmCollected: AfterCollection;
  after(async function () {
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
  });

  /** What one flood did. */
  interface FloodResult {
    readonly sent: number;
    readonly errors: unknown;
    /** Datagrams and distinct sessions the sink saw in this flood. */
    readonly datagrams: number;
    readonly peers: number;
    /** Access lines of this flood's sessions, and how many of them closed at the cap. */
    readonly sessions: number;
    readonly atCap: number;
    readonly tcp: readonly CurlResult[];
    readonly seconds: number;
    readonly peak: Footprint;
  }

  /**
   * Runs {@link FLOOD_CLIENT} once, with TCP flows through Sluice one after
   * another while it runs, and waits until every session has ended (its fd
   * closed, its access line written).
   */
  async function runFlood(): Promise<FloodResult> {
    const sluice = env.sluice!;
    const pid = sluice.child.pid!;
    const before = footprint(pid);
    const seenLines = sluice.flows().length;
    const sinkBefore = sink.watch.lines.filter((l) => l.event === 'count').at(-1) ?? { datagrams: 0, peers: 0 };
    const peak = samplePeak(pid);
    const startedAt = Date.now();
    const flood = spawnNodeClient(env.topo, 'client', FLOOD_CLIENT, [A.remote.v4, String(sink.port), String(FIRST_PORT), String(SOURCE_PORTS), '500']);
    procs.push(flood);
    try {
      // New TCP flows while the flood runs: each must be served.
      const tcp: CurlResult[] = [];
      while (!flood.lines.some((l) => l.event === 'done') && flood.exitStatus === undefined) {
        tcp.push(await curl(env.topo, `http://${formatEndpoint(A.remote.v4, http.port)}/during-flood`, 30));
      }
      const done = await flood.waitFor((l) => l.event === 'done', 240_000, 'the flood sent');
      const seconds = (Date.now() - startedAt) / 1000;
      // Every session ends (at the cap during the flood, by the idle timeout after it) and closes its fd.
      await waitFor('every session closed', () => footprint(pid).fds <= before.fds, { timeoutMs: UDP_IDLE_MS + 30_000, intervalMs: 500 });
      const seen = sink.watch.lines.filter((l) => l.event === 'count').at(-1) ?? { datagrams: 0, peers: 0 };
      const dst = formatEndpoint(A.remote.v4, sink.port);
      const mine = sluice.flows().slice(seenLines).filter((f) => f.network === 'udp' && f.dst === dst);
      return {
        sent: done.sent as number,
        errors: done.errors,
        // The sink's counts are cumulative; a source port reused by a later flood counts once.
        datagrams: (seen.datagrams as number) - (sinkBefore.datagrams as number),
        peers: (seen.peers as number) - (sinkBefore.peers as number),
        sessions: mine.length,
        atCap: mine.filter((f) => f.error === 'session limit').length,
        tcp,
        seconds,
        peak: peak.stop(),
      };
    } finally {
      peak.stop();
      await flood.stop('SIGKILL');
    }
  }

  it(`the session cap (${MAX_SESSIONS}) holds, TCP is still accepted during the flood, and fds and RSS return to the baseline`, async function () {
    this.timeout(300_000);
    const sluice = env.sluice!;
    const before = footprint(sluice.child.pid!);
    const r = await runFlood();
    console.log(
      `      [outcome] UDP flood: client sent ${r.sent} datagrams from distinct ports in ${r.seconds.toFixed(1)} s (errors ${JSON.stringify(r.errors)}); ` +
        `the remote saw ${r.datagrams} datagrams; ${r.sessions} sessions (access lines), ${r.atCap} closed at the cap; ` +
        `${r.tcp.length} TCP flows (${r.tcp.filter((c) => c.exitCode === 0).length} ok) during the flood; ` +
        `Sluice fds ${before.fds} -> peak ${r.peak.fds}, RSS ${mib(before.rssKiB)} MiB -> peak ${mib(r.peak.rssKiB)} MiB`,
    );
    assert.equal(r.sent, SOURCE_PORTS, JSON.stringify(r.errors));
    assert.ok(r.tcp.length > 0, 'no TCP flow ran during the flood');
    const httpDst = formatEndpoint(A.remote.v4, http.port);
    for (const c of r.tcp) {
      const mine = sluice.flows().filter((f) => f.dst === httpDst && f.src === formatEndpoint(A.client.v4, c.localPort));
      assert.equal(c.exitCode, 0, `a TCP flow during the flood failed: ${describeCurl(c)}; Sluice: ${describeFlows(mine)}`);
    }
    assert.ok(r.atCap > 0, `no session was closed at the cap: the flood never reached ${MAX_SESSIONS} sessions`);
    // One fd per session: the cap bounds what the flood can make Sluice hold.
    assert.ok(r.peak.fds <= before.fds + MAX_SESSIONS + FD_SLACK, `Sluice held ${r.peak.fds} fds (baseline ${before.fds}, cap ${MAX_SESSIONS})`);
    assert.equal(sluice.exitStatus, undefined, 'Sluice exited');
    await assertStillServing(env, http);
    // Bounded memory: after the second flood and full collections, Sluice holds no more than after the first
    // (plus slack; the first grows malloc's arenas and V8's code once). The heap is the sharp check: what
    // JavaScript still references once the flood's sessions are gone; a leak of even 100 bytes per session
    // (~1.6 MiB a flood) shows there.
    await assertFootprintReturns(sluice, { fds: before.fds, rssKiB: warmCollected.rssKiB }, `UDP from ${SOURCE_PORTS} source ports`);
    const collected = (await collectGarbage(sluice))!;
    console.log(`      [heap] after a full collection: ${mib(warmCollected.heapUsedKiB)} MiB after the first flood, ${mib(collected.heapUsedKiB)} MiB after the second`);
    assert.ok(
      collected.heapUsedKiB < warmCollected.heapUsedKiB + HEAP_SLACK_KIB,
      `the JavaScript heap grew from ${mib(warmCollected.heapUsedKiB)} MiB to ${mib(collected.heapUsedKiB)} MiB over one flood (bound: +${mib(HEAP_SLACK_KIB)} MiB)`,
    );
  });
});
