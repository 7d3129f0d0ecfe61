import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ChildWatch, formatEndpoint, TOPOLOGY_ADDRESSES as A, type NamespaceRole, type SluiceProcess, type Topology } from '@sluice/testbed';
import { curl, describeCurl } from './clients';
import { GC_LINE_PREFIX } from './gc-line';
import type { E2EEnv } from './env';
import type { ProbeServer } from './servers';
import { writeFile } from './sluice';
import { waitFor } from './wait';

/** Timeouts of {@link reliabilityConfig}: short, so every fault ends a flow within a few seconds. */
export interface ReliabilityTimeouts {
  readonly connectMs: number;
  readonly tcpIdleMs: number;
  readonly udpIdleMs: number;
}

/** The defaults the reliability suites run with. */
export const RELIABILITY_TIMEOUTS: ReliabilityTimeouts = { connectMs: 1000, tcpIdleMs: 2000, udpIdleMs: 1000 };

/**
 * The contract config (same inbounds and ports, so the firewall `useE2E`
 * installs from the contract config fits it) with short connect and idle
 * timeouts: the faults under test end through them.
 */
export function reliabilityConfig(t: ReliabilityTimeouts = RELIABILITY_TIMEOUTS, networks = 'tcp, udp'): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [${networks}] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [${networks}] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
route:
  final: direct
timeouts: { connect_ms: ${t.connectMs}, tcp_idle_ms: ${t.tcpIdleMs}, udp_idle_ms: ${t.udpIdleMs}, drain_ms: 500 }
`;
}

/**
 * Starts Sluice in the gateway with {@link reliabilityConfig}, plus `extra`
 * top-level YAML if given; `networks` is the inbounds' `network` list.
 */
export function startReliabilitySluice(
  env: E2EEnv,
  extra = '',
  t: ReliabilityTimeouts = RELIABILITY_TIMEOUTS,
  networks = 'tcp, udp',
): Promise<SluiceProcess> {
  return env.startSluice(writeFile(env.tmp, 'reliability.yaml', `${reliabilityConfig(t, networks)}${extra}`), GC_NODE_ARGS);
}

/** Node options that let {@link collectGarbage} run a full collection in Sluice (see gc-on-signal.ts for why). */
export const GC_NODE_ARGS: readonly string[] = ['--expose-gc', '--require', path.join(__dirname, 'gc-on-signal.js')];

/** What {@link collectGarbage} reports: Sluice's memory right after a full collection. */
export interface AfterCollection {
  /** What JavaScript still references. */
  readonly heapUsedKiB: number;
  /**
   * RSS less the part of V8's heap it has committed but holds nothing in:
   * V8 returns those pages seconds after a collection, on its own schedule,
   * so counting them makes a bound depend on timing; a leak, native or
   * JavaScript, still shows here.
   */
  readonly rssKiB: number;
}

/**
 * Runs full garbage collections in Sluice (started with {@link GC_NODE_ARGS})
 * until its {@link AfterCollection.rssKiB} stops falling (at most 5 rounds,
 * 200 ms apart) and resolves with what the last one left; `undefined` when
 * Sluice was started without them.
 */
export async function collectGarbage(sluice: SluiceProcess): Promise<AfterCollection | undefined> {
  if (!sluice.child.spawnargs.includes('--expose-gc')) return undefined;
  let last: AfterCollection | undefined;
  for (let round = 0; round < 5; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, 200));
    const seen = gcLines(sluice).length;
    sluice.child.kill('SIGUSR2');
    const line = await sluice.waitUntil(() => gcLines(sluice)[seen], 10_000, 'the garbage collection line');
    const r = JSON.parse(line) as { heapUsed: number; heapTotal: number; rss: number };
    const now = { heapUsedKiB: Math.round(r.heapUsed / 1024), rssKiB: Math.round((r.rss - (r.heapTotal - r.heapUsed)) / 1024) };
    const settled = last !== undefined && now.rssKiB > last.rssKiB - 1024;
    last = now;
    if (settled) break;
  }
  return last;
}

function gcLines(sluice: SluiceProcess): string[] {
  return sluice.stderr
    .split('\n')
    .filter((l) => l.startsWith(GC_LINE_PREFIX))
    .map((l) => l.slice(GC_LINE_PREFIX.length));
}

/**
 * Samples Sluice's {@link Footprint} every `intervalMs` until stopped, keeping
 * the peak of each: what a flood made Sluice hold at its worst.
 */
export function samplePeak(pid: number, intervalMs = 100): { stop(): Footprint } {
  let peak = footprint(pid);
  const timer = setInterval(() => {
    try {
      const now = footprint(pid);
      peak = { fds: Math.max(peak.fds, now.fds), rssKiB: Math.max(peak.rssKiB, now.rssKiB) };
    } catch {
      // The process is gone; the test's own checks say so.
    }
  }, intervalMs);
  return {
    stop(): Footprint {
      clearInterval(timer);
      return peak;
    },
  };
}

/** A process's open fds and resident memory, from /proc. */
export interface Footprint {
  readonly fds: number;
  readonly rssKiB: number;
}

/** Reads {@link Footprint} of `pid` now. */
export function footprint(pid: number): Footprint {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return { fds, rssKiB: Number(m[1]) };
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** How far above its baseline Sluice's RSS may end: a leak bound, not a speed or size target. */
export const RSS_SLACK_KIB = 20 * 1024;

/**
 * Waits (bounded) until Sluice's fd count is back at `before` or below, checks
 * its RSS (after a full garbage collection when Sluice was started with
 * {@link GC_NODE_ARGS}) is below `before` + {@link RSS_SLACK_KIB}, and prints
 * one line with both measurements for the record. Idle splice pipes are kept for 5 s after
 * a flow ends, hence the wait.
 */
export async function assertFootprintReturns(sluice: SluiceProcess, before: Footprint, scenario: string): Promise<Footprint> {
  const pid = sluice.child.pid!;
  let after = footprint(pid);
  try {
    after = await waitFor(`Sluice's fds back to ${before.fds}`, () => {
      after = footprint(pid);
      return after.fds <= before.fds ? after : undefined;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    // Garbage the scenario left is not a leak: measure once it is collected (when Sluice lets us), without
    // the heap pages V8 has emptied but not yet returned.
    const collected = await collectGarbage(sluice);
    if (collected) after = { fds: after.fds, rssKiB: collected.rssKiB };
  } finally {
    console.log(
      `      [footprint] ${scenario}: fds ${before.fds} -> ${after.fds}, RSS ${mib(before.rssKiB)} MiB -> ${mib(after.rssKiB)} MiB`,
    );
  }
  assert.ok(
    after.rssKiB < before.rssKiB + RSS_SLACK_KIB,
    `RSS grew from ${mib(before.rssKiB)} MiB to ${mib(after.rssKiB)} MiB (bound: +${mib(RSS_SLACK_KIB)} MiB)`,
  );
  return after;
}

/**
 * Sluice is still running, and a fresh HTTP flow through it works (within
 * curl's `maxTimeS`: longer while a flood keeps a shared machine busy), to
 * the remote's address of each family in `families` (IPv4 unless told).
 */
export async function assertStillServing(
  env: E2EEnv,
  http: ProbeServer,
  maxTimeS = 5,
  families: readonly (4 | 6)[] = [4],
): Promise<void> {
  const sluice = env.sluice!;
  assert.equal(sluice.exitStatus, undefined, `Sluice exited\n${sluice.describe(20)}`);
  for (const family of families) {
    const host = family === 4 ? A.remote.v4 : A.remote.v6;
    const r = await curl(env.topo, `http://${formatEndpoint(host, http.port)}/after-fault`, maxTimeS);
    assert.equal(r.exitCode, 0, `a flow (IPv${family}) after the fault failed: ${describeCurl(r)}`);
    assert.equal(r.httpCode, 200, describeCurl(r));
  }
}

/**
 * Runs a Node script in a namespace (`node -e script args…`) that prints JSON
 * lines, and waits for its first `{"event":"listening","port":N}` line.
 */
export async function startNodeServer(
  topo: Topology,
  role: NamespaceRole,
  script: string,
  args: readonly string[] = [],
): Promise<{ watch: ChildWatch; port: number }> {
  const watch = new ChildWatch(topo.spawn(role, process.execPath, ['-e', script, ...args]), `node server in ${topo.names[role]}`);
  try {
    const line = await watch.waitFor((l) => l.event === 'listening', 10_000, 'listening');
    return { watch, port: line.port as number };
  } catch (err) {
    await watch.stop('SIGKILL');
    throw err;
  }
}

/** Starts a Node script in a namespace whose stdin the test drives and whose stdout is JSON lines. */
export function spawnNodeClient(topo: Topology, role: NamespaceRole, script: string, args: readonly string[] = []): ChildWatch {
  const child = topo.spawn(role, process.execPath, ['-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new ChildWatch(child, `node client in ${topo.names[role]}`);
}

/**
 * A TCP client for the client namespace: connects to argv host:port, sends
 * argv[3] bytes (backpressure respected), and on a line on stdin sends
 * "ping". It prints `connected`, `data` (first bytes seen, with the total),
 * and finally one `end` line: how the connection ended (`closed` for a FIN,
 * else the error code), bytes received and sent, and ms from connect to end.
 */
export const TCP_CLIENT = `
const net = require('net');
const [host, port, toSend] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3] || 0)];
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let received = 0, sent = 0, outcome, start = Date.now(), first = true;
const s = net.connect({ host, port }, () => { start = Date.now(); emit({ event: 'connected' }); pump(); });
const chunk = Buffer.alloc(65536, 120);
function pump() {
  while (sent < toSend) {
    const n = Math.min(chunk.length, toSend - sent);
    sent += n;
    if (!s.write(chunk.subarray(0, n))) return s.once('drain', pump);
  }
}
s.on('data', (d) => { received += d.length; if (first) { first = false; emit({ event: 'data', received }); } });
s.on('end', () => { outcome = outcome || 'closed'; s.end(); });
s.on('error', (e) => { outcome = outcome || e.code || e.message; });
s.on('close', () => { emit({ event: 'end', outcome: outcome || 'closed', received, sent: sent - s.writableLength, ms: Date.now() - start }); process.exit(0); });
process.stdin.on('data', () => s.write('ping'));
`;

/** The `end` line of {@link TCP_CLIENT}. */
export interface TcpClientEnd {
  readonly outcome: string;
  readonly received: number;
  readonly sent: number;
  readonly ms: number;
}

/** Waits for {@link TCP_CLIENT}'s `end` line. */
export async function clientEnd(client: ChildWatch, timeoutMs: number): Promise<TcpClientEnd> {
  const line = await client.waitFor((l) => l.event === 'end', timeoutMs, 'the connection to end');
  return line as unknown as TcpClientEnd;
}

/** Loads an nft table into a namespace; {@link removeNftTable} takes it away again. */
export async function addNftTable(topo: Topology, role: NamespaceRole, name: string, body: string): Promise<void> {
  await topo.exec(role, 'nft', ['-f', '-'], { input: `table inet ${name} {\n${body}\n}\n` });
}

/** Deletes an nft table from a namespace, if it is there. */
export async function removeNftTable(topo: Topology, role: NamespaceRole, name: string): Promise<void> {
  await topo.exec(role, 'nft', ['delete', 'table', 'inet', name], { allowFailure: true });
}
