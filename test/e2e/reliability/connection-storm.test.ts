import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import {
  assertFootprintReturns,
  assertStillServing,
  footprint,
  spawnNodeClient,
  startNodeServer,
  startReliabilitySluice,
  type Footprint,
} from '../../helpers/reliability';
import { startHttpServer, type ProbeServer } from '../../helpers/servers';

/** Echoes every connection back to itself. */
const ECHO_SERVER = `
const net = require('net');
const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
server.listen(0, process.argv[1], 1024, () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

/** On each connection, sends a numbered 1 KiB record every 10 ms until the client goes. */
const STREAM_SERVER = `
const net = require('net');
const server = net.createServer((s) => {
  s.on('error', () => {});
  let seq = 0;
  const t = setInterval(() => { const b = Buffer.alloc(1024, 46); b.writeUInt32BE(seq++, 0); s.write(b); }, 10);
  s.on('close', () => clearInterval(t));
});
server.listen(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

/**
 * Reads {@link STREAM_SERVER}'s records, checks they arrive whole and in
 * order, and prints its progress every 200 ms (and `end` if the stream stops).
 */
const STREAM_CLIENT = `
const net = require('net');
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let buf = Buffer.alloc(0), records = 0, broken = false;
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 1024) { if (buf.readUInt32BE(0) !== records) broken = true; records++; buf = buf.subarray(1024); }
});
const t = setInterval(() => emit({ event: 'progress', records, broken }), 200);
s.on('error', (e) => emit({ event: 'end', error: e.code }));
s.on('close', () => { clearInterval(t); emit({ event: 'end', records, broken }); process.exit(0); });
`;

/**
 * Opens argv[3] short connections to argv host:port, argv[4] at a time, each
 * sending "x" and closing once it is echoed; prints the outcomes at the end.
 */
const STORM_CLIENT = `
const net = require('net');
const [host, port, total, parallel] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let started = 0, finished = 0;
const outcomes = {};
function one() {
  if (started === total) return;
  started++;
  const s = net.connect({ host, port });
  let done = false;
  const finish = (o) => { if (done) return; done = true; outcomes[o] = (outcomes[o] || 0) + 1; s.destroy(); if (++finished === total) { console.log(JSON.stringify({ event: 'done', outcomes })); process.exit(0); } one(); };
  s.setTimeout(10000, () => finish('timeout'));
  s.on('error', (e) => finish(e.code || e.message));
  s.on('close', () => finish('closed early'));
  s.once('data', (d) => finish(d.toString() === 'x' ? 'ok' : 'bad'));
  s.write('x');
}
for (let i = 0; i < parallel; i++) one();
`;

const STORM_CONNECTIONS = 2000;
const STORM_PARALLEL = 100;

describe('e2e reliability: connection storm', function () {
  const env = useE2E({ tag: 'rcs', sluice: false });
  let http: ProbeServer;
  let echo: { watch: ChildWatch; port: number };
  let stream: { watch: ChildWatch; port: number };
  const procs: ChildWatch[] = [];

  /** Runs {@link STORM_CLIENT} to the echo server and returns its outcome counts. */
  async function storm(): Promise<Record<string, number>> {
    const args = [A.remote.v4, String(echo.port), String(STORM_CONNECTIONS), String(STORM_PARALLEL)];
    const client = spawnNodeClient(env.topo, 'client', STORM_CLIENT, args);
    procs.push(client);
    const done = await client.waitFor((l) => l.event === 'done', 50_000, 'the storm to finish');
    return done.outcomes as Record<string, number>;
  }

  before(async function () {
    http = await startHttpServer(env.topo);
    echo = await startNodeServer(env.topo, 'remote', ECHO_SERVER, [A.remote.v4]);
    procs.push(echo.watch);
    stream = await startNodeServer(env.topo, 'remote', STREAM_SERVER, [A.remote.v4]);
    procs.push(stream.watch);
    await startReliabilitySluice(env);
    await assertStillServing(env, http);
    // A first storm grows the JavaScript heap to its working size; the baseline is taken after it, so
    // what the test compares is what a storm leaves behind, not what the first one needs.
    assert.deepEqual(await storm(), { ok: STORM_CONNECTIONS }, 'the warm-up storm');
  });
  after(async function () {
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
  });

  it(`${STORM_CONNECTIONS} short connections, ${STORM_PARALLEL} at a time: all served, and an established flow keeps moving data`, async function () {
    const sluice = env.sluice!;
    const pid = sluice.child.pid!;
    // Baseline before the established flow opens: it is closed again before the footprint is compared.
    const before = footprint(pid);
    const streamClient = spawnNodeClient(env.topo, 'client', STREAM_CLIENT, [A.remote.v4, String(stream.port)]);
    procs.push(streamClient);
    const records = (): number => (streamClient.lines.filter((l) => l.event === 'progress').at(-1)?.records as number | undefined) ?? 0;
    await streamClient.waitUntil(() => (records() > 0 ? true : undefined), 5000, 'the stream flowing');
    const atStart = records();

    let peak: Footprint = before;
    const sampler = setInterval(() => {
      const now = footprint(pid);
      peak = { fds: Math.max(peak.fds, now.fds), rssKiB: Math.max(peak.rssKiB, now.rssKiB) };
    }, 100);
    let outcomes: Record<string, number>;
    try {
      outcomes = await storm();
    } finally {
      clearInterval(sampler);
    }
    const atEnd = records();
    console.log(
      `      [outcome] storm: ${JSON.stringify(outcomes)}; established flow: ${atEnd - atStart} records (1 KiB each) arrived during the storm; Sluice peak fds ${peak.fds}, peak RSS ${(peak.rssKiB / 1024).toFixed(1)} MiB`,
    );
    assert.deepEqual(outcomes, { ok: STORM_CONNECTIONS });
    assert.ok(atEnd > atStart, `the established flow received nothing during the storm (${atStart} -> ${atEnd} records)`);
    await streamClient.waitUntil(() => (records() > atEnd ? true : undefined), 5000, 'the stream still flowing after the storm');
    const last = streamClient.lines.filter((l) => l.event === 'progress').at(-1)!;
    assert.equal(last.broken, false, 'the established flow lost or reordered records');
    assert.equal(streamClient.lines.some((l) => l.event === 'end'), false, 'the established flow ended');

    await streamClient.stop('SIGKILL');
    const logged = (port: number): number => sluice.flows().filter((f) => f.dst === formatEndpoint(A.remote.v4, port)).length;
    await sluice.waitUntil(() => (logged(echo.port) === 2 * STORM_CONNECTIONS ? true : undefined), 10_000, 'an access line per storm flow');
    await sluice.waitUntil(() => (logged(stream.port) === 1 ? true : undefined), 10_000, "the established flow's access line");
    await assertStillServing(env, http);
    await assertFootprintReturns(sluice, before, `connection storm (${STORM_CONNECTIONS})`);
  });
});
