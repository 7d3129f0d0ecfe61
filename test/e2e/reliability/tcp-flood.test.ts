import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { useE2E } from '../../helpers/env';
import {
  assertFootprintReturns,
  assertStillServing,
  footprint,
  samplePeak,
  type Footprint,
  spawnNodeClient,
  startNodeServer,
  startReliabilitySluice,
} from '../../helpers/reliability';
import { startHttpServer, type ProbeServer } from '../../helpers/servers';
import { waitFor } from '../../helpers/wait';

/** Echoes every connection back to itself; prints `{"event":"count","open":N}` when N changed, at most every 250 ms. */
const ECHO_SERVER = `
const net = require('net');
let open = 0, said = 0;
const server = net.createServer((s) => { open++; s.on('error', () => {}); s.on('close', () => open--); s.pipe(s); });
server.listen(0, process.argv[1], 4096, () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
setInterval(() => { if (open !== said) { said = open; console.log(JSON.stringify({ event: 'count', open })); } }, 250);
`;

/**
 * Opens argv[3] connections to argv host:port, argv[4] connecting at a time;
 * each sends its own 8-byte tag and counts as held once the tag comes back.
 * Prints `held` with the outcomes. Then, per stdin line: `ping` sends every
 * held connection a fresh tag and prints `pinged` once each has its echo (or
 * failed); `close` ends them all and prints `closed` when every one is closed.
 */
const HOLD_CLIENT = `
const net = require('net');
const [host, port, total, parallel] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const conns = [];
let started = 0, settled = 0;
const outcomes = {};
const tag = (i, round) => { const b = Buffer.alloc(8); b.writeUInt32BE(i, 0); b.writeUInt32BE(round, 4); return b; };
function expect(c, round, done) {
  const want = tag(c.i, round);
  let got = Buffer.alloc(0);
  c.onData = (d) => {
    got = Buffer.concat([got, d]);
    if (got.length < 8) return;
    c.onData = null;
    done(got.equals(want) ? 'ok' : 'wrong data');
  };
  c.onFail = (why) => { c.onData = null; c.onFail = null; done(why); };
  c.s.write(want);
}
function open() {
  if (started === total) return;
  const c = { i: started++, s: net.connect({ host, port }), onData: null, onFail: null, closed: false };
  conns.push(c);
  c.s.setNoDelay(true);
  c.s.on('data', (d) => c.onData && c.onData(d));
  c.s.on('error', (e) => { c.error = e.code || e.message; });
  c.s.on('close', () => { c.closed = true; if (c.onFail) c.onFail(c.error || 'closed'); });
  c.s.on('connect', () => expect(c, 0, finish));
  c.onFail = finish;
  let once = false;
  function finish(o) {
    if (once) return; once = true;
    outcomes[o] = (outcomes[o] || 0) + 1;
    if (++settled === total) emit({ event: 'held', outcomes });
    open();
  }
}
for (let i = 0; i < parallel; i++) open();
let round = 0;
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'ping') {
    round++;
    const live = conns.filter((c) => !c.closed);
    const result = {};
    let left = live.length;
    if (left === 0) emit({ event: 'pinged', outcomes: result });
    for (const c of live) expect(c, round, (o) => { result[o] = (result[o] || 0) + 1; if (--left === 0) emit({ event: 'pinged', outcomes: result }); });
  } else if (line === 'close') {
    let left = conns.filter((c) => !c.closed).length;
    if (left === 0) emit({ event: 'closed' });
    for (const c of conns) {
      if (c.closed) continue;
      c.onFail = null;
      c.s.on('close', () => { if (--left === 0) emit({ event: 'closed' }); });
      c.s.end();
    }
  }
});
`;

/**
 * 9,000 flows, in two client processes (4,500 sockets each) against one echo
 * server (9,000): every process stays far below the open-file limit of
 * 20,000, which Sluice's own 18,000 flow fds come closest to.
 */
const CLIENTS = 2;
const FLOWS_PER_CLIENT = 4500;
const FLOWS = CLIENTS * FLOWS_PER_CLIENT;
const PARALLEL = 200;

const mib = (kib: number): string => (kib / 1024).toFixed(1);

/**
 * Why an explicit cap, and why this config: each TCP flow costs Sluice two
 * fds (the client's socket and the upstream one; splice pipes are borrowed
 * from a pool of at most 16 only while bytes are in flight), so 9,000 flows
 * need 18,000 of the 20,000. `max_tcp_flows: auto` derives (20,000 − 64) / 2
 * minus what it keeps for UDP: a quarter of the budget for sessions (4,984)
 * and, with UDP inbounds, 2,048 reply sockets, giving 6,452 flows (7,476
 * with TCP-only inbounds). So the suite runs TCP-only inbounds with
 * `udp.max_sessions: 100` and `max_tcp_flows: 9500`, which fits:
 * (19,936 − 100) / 2 = 9,918 (no `limits` warning, asserted below).
 */
const FLOOD_CONFIG = 'limits: { max_tcp_flows: 9500 }\nudp: { max_sessions: 100 }\n';

describe('e2e reliability: 9,000 concurrent TCP flows', function () {
  const env = useE2E({ tag: 'rtf', sluice: false });
  let http: ProbeServer;
  let echo: { watch: ChildWatch; port: number };
  const procs: ChildWatch[] = [];

  /** What one round of {@link holdRound} measured. */
  interface Round {
    readonly holding: Footprint;
    readonly peak: Footprint;
  }

  /**
   * Opens {@link FLOWS} flows and holds them all; checks each echoes its own
   * tag, that a new flow still works, and that each echoes a second tag while
   * all are open; then closes them and waits for their clean access lines.
   */
  async function holdRound(round: number): Promise<Round> {
    const sluice = env.sluice!;
    const pid = sluice.child.pid!;
    const before = footprint(pid);
    const peak = samplePeak(pid);
    const clients: ChildWatch[] = [];
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const c = spawnNodeClient(env.topo, 'client', HOLD_CLIENT, [A.remote.v4, String(echo.port), String(FLOWS_PER_CLIENT), String(PARALLEL)]);
        clients.push(c);
        procs.push(c);
      }
      const held = await Promise.all(clients.map((c) => c.waitFor((l) => l.event === 'held', 240_000, `${FLOWS_PER_CLIENT} flows held`)));
      const holding = footprint(pid);
      const dst = formatEndpoint(A.remote.v4, echo.port);
      /** Sluice's side of failed flows, for the failure message. */
      const failures = (): string => {
        const byError: Record<string, number> = {};
        for (const f of sluice.flows()) if (f.dst === dst && f.error !== undefined) byError[f.error] = (byError[f.error] ?? 0) + 1;
        return `Sluice's access lines with errors: ${JSON.stringify(byError)}`;
      };
      for (const h of held) assert.deepEqual(h.outcomes, { ok: FLOWS_PER_CLIENT }, `${JSON.stringify(held.map((x) => x.outcomes))}; ${failures()}`);
      await echo.watch.waitFor((l) => l.event === 'count' && l.open === FLOWS, 10_000, `the echo server holding ${FLOWS} connections`);
      // Each held flow is two fds in Sluice.
      assert.ok(holding.fds >= before.fds + 2 * FLOWS, `Sluice holds ${holding.fds} fds with ${FLOWS} flows open (baseline ${before.fds})`);

      // While all of them are open: a new flow works, and every held flow still carries the right data.
      await assertStillServing(env, http);
      for (const c of clients) c.child.stdin?.write('ping\n');
      const pinged = await Promise.all(clients.map((c) => c.waitFor((l) => l.event === 'pinged', 120_000, 'every held flow echoed again')));
      for (const p of pinged) assert.deepEqual(p.outcomes, { ok: FLOWS_PER_CLIENT }, `${JSON.stringify(pinged.map((x) => x.outcomes))}; ${failures()}`);
      assert.equal(sluice.exitStatus, undefined, 'Sluice exited');

      for (const c of clients) c.child.stdin?.write('close\n');
      await Promise.all(clients.map((c) => c.waitFor((l) => l.event === 'closed', 120_000, 'every flow closed')));
      const logged = (): number => sluice.flows().filter((f) => f.dst === dst && f.error === undefined).length;
      await waitFor(`${FLOWS} more clean access lines`, () => (logged() === round * FLOWS ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
      return { holding, peak: peak.stop() };
    } finally {
      peak.stop();
      for (const c of clients) await c.stop('SIGKILL');
    }
  }

  before(async function () {
    this.timeout(300_000);
    http = await startHttpServer(env.topo);
    echo = await startNodeServer(env.topo, 'remote', ECHO_SERVER, [A.remote.v4]);
    procs.push(echo.watch);
    // Held flows idle while the others connect: the idle timeout must outlast the test.
    await startReliabilitySluice(env, FLOOD_CONFIG, { connectMs: 5000, tcpIdleMs: 300_000, udpIdleMs: 1000 }, 'tcp');
    await assertStillServing(env, http);
    // A first round grows the JavaScript heap and malloc's arenas to their working size; the baseline is
    // taken after it, so what the test compares is what a round leaves behind, not what the first one needs.
    const first = footprint(env.sluice!.child.pid!);
    const warm = await holdRound(1);
    console.log(
      `      [warm-up] ${FLOWS} TCP flows held: Sluice fds ${first.fds} -> ${warm.holding.fds}, RSS ${mib(first.rssKiB)} -> ${mib(warm.holding.rssKiB)} MiB (peak ${mib(warm.peak.rssKiB)} MiB), after ${mib(footprint(env.sluice!.child.pid!).rssKiB)} MiB`,
    );
  });
  after(async function () {
    for (const p of procs.splice(0)) await p.stop('SIGKILL');
  });

  it(`${FLOWS} flows held at once: each echoes its own data, other flows still work, fds and RSS return to the baseline`, async function () {
    this.timeout(300_000);
    const sluice = env.sluice!;
    const limits = sluice.lines.find((l) => l.msg === 'limits');
    console.log(`      [limits] ${JSON.stringify(limits)}`);
    assert.equal(limits?.maxTcpFlows, 9500, JSON.stringify(limits));
    assert.equal(sluice.lines.some((l) => l.level === 40 && /max_tcp_flows|max_sessions/.test(String(l.msg))), false, 'a limits warning');
    const before = footprint(sluice.child.pid!);
    const { holding, peak } = await holdRound(2);
    console.log(
      `      [outcome] ${FLOWS} TCP flows held: Sluice fds ${before.fds} -> ${holding.fds} while held (peak ${peak.fds}), RSS ${mib(before.rssKiB)} -> ${mib(holding.rssKiB)} MiB while held (peak ${mib(peak.rssKiB)} MiB); ${FLOWS} clean access lines`,
    );
    await assertStillServing(env, http);
    await assertFootprintReturns(sluice, before, `${FLOWS} concurrent TCP flows`);
  });
});
