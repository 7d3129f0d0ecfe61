import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { ChildWatch, TOPOLOGY_ADDRESSES as A, type SluiceProcess, type Topology } from '@sluice/testbed';
import { useE2E, type E2EEnv } from '../helpers/env';
import { contractConfig, startSluice, writeFile } from '../helpers/sluice';
import { waitFor } from '../helpers/wait';

/** An echo server for the remote namespace: prints its port, echoes each connection, ends when the client ends. */
const ECHO_SERVER = `
const net = require('net');
const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
server.listen(0, process.argv[2], () => console.log(JSON.stringify({ event: 'listening', port: server.address().port })));
`;

/**
 * A client for the client namespace that holds many connections, driven by
 * JSON commands on stdin: {"cmd":"open","n":N} opens N connections, each
 * sending "hello <id>" and reporting the outcome (ok when echoed, else the
 * error code, or "waiting" after 3 s without an answer, still waiting);
 * {"cmd":"echo"} sends on every open connection and reports how many
 * answered; {"cmd":"close","n":N} ends N open connections.
 */
const CONN_HOLDER = `
const net = require('net');
const readline = require('readline');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const open = new Map();
let next = 0;
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
function connect(id) {
  const s = net.connect({ host, port });
  let settled = false;
  const settle = (outcome) => { if (!settled) { settled = true; emit({ event: 'conn', id, outcome }); } };
  const waiting = setTimeout(() => emit({ event: 'conn-waiting', id }), 3000);
  s.on('error', (e) => { clearTimeout(waiting); open.delete(id); settle(e.code || e.message); });
  s.on('close', () => { clearTimeout(waiting); open.delete(id); settle('closed'); });
  s.once('data', (d) => { clearTimeout(waiting); if (d.toString() === 'hello ' + id) { open.set(id, s); settle('ok'); } else settle('bad'); });
  s.write('hello ' + id);
}
function echo() {
  const all = [...open.entries()];
  let ok = 0, failed = 0;
  if (all.length === 0) return emit({ event: 'echoed', ok, failed });
  for (const [id, s] of all) {
    const timer = setTimeout(() => { failed++; done(); }, 5000);
    s.once('data', (d) => { clearTimeout(timer); if (d.toString() === 'ping ' + id) ok++; else failed++; done(); });
    s.write('ping ' + id);
  }
  function done() { if (ok + failed === all.length) emit({ event: 'echoed', ok, failed }); }
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  if (c.cmd === 'open') for (let i = 0; i < c.n; i++) connect(next++);
  if (c.cmd === 'echo') echo();
  if (c.cmd === 'close') { const ids = [...open.keys()].slice(0, c.n); for (const id of ids) { open.get(id).end(); open.delete(id); } emit({ event: 'closed', n: ids.length }); }
});
emit({ event: 'ready' });
`;

/** CPU time (user + system) of a process so far, in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ: 100 on every Linux architecture Node runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Drives {@link CONN_HOLDER} in the client namespace. */
class ConnHolder extends ChildWatch {
  private commands = 0;
  send(cmd: object): void {
    this.commands++;
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }
  outcomes(): Map<number, string> {
    const m = new Map<number, string>();
    for (const l of this.lines) if (l.event === 'conn') m.set(l.id as number, l.outcome as string);
    return m;
  }
  count(outcome: string): number {
    return [...this.outcomes().values()].filter((o) => o === outcome).length;
  }
  /** Waits until `n` connections have an outcome. */
  settled(n: number, timeoutMs = 20_000): Promise<number> {
    return this.waitUntil(() => (this.outcomes().size >= n ? n : undefined), timeoutMs, `${n} connection outcomes`);
  }
  /** Sends "echo" and waits for its answer (the nth `echoed` line). */
  async echo(): Promise<{ ok: number; failed: number }> {
    const before = this.lines.filter((l) => l.event === 'echoed').length;
    this.send({ cmd: 'echo' });
    await this.waitUntil(() => (this.lines.filter((l) => l.event === 'echoed').length > before ? true : undefined), 15_000, 'echo results');
    const last = this.lines.filter((l) => l.event === 'echoed').at(-1)!;
    return { ok: last.ok as number, failed: last.failed as number };
  }
}

async function startEcho(topo: Topology, tmp: string): Promise<{ watch: ChildWatch; port: number }> {
  const script = writeFile(tmp, 'echo-server.js', ECHO_SERVER);
  const watch = new ChildWatch(topo.spawn('remote', process.execPath, [script, A.remote.v4]), 'echo server');
  const line = await watch.waitFor((l) => l.event === 'listening', 10_000, 'listening');
  return { watch, port: line.port as number };
}

async function startHolder(topo: Topology, tmp: string, port: number): Promise<ConnHolder> {
  const script = writeFile(tmp, 'conn-holder.js', CONN_HOLDER);
  const child = topo.spawn('client', process.execPath, [script, A.remote.v4, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const holder = new ConnHolder(child, 'connection holder');
  await holder.waitFor((l) => l.event === 'ready', 10_000, 'ready');
  return holder;
}

/** Sluice with an open-file limit of 256 (soft and hard, so raising it changes nothing). */
async function startLimited(env: E2EEnv, name: string, extra = ''): Promise<SluiceProcess> {
  const config = writeFile(env.tmp, name, `${contractConfig({ drainMs: 500 })}${extra}`);
  const sluice = await startSluice(env.topo, { args: ['run', '-c', config], wrapper: ['prlimit', '--nofile=256:256', '--'] });
  env.sluice = sluice;
  return sluice;
}

/**
 * While Sluice sits at a limit with clients waiting, it must sleep, not
 * spin: the CPU time it uses over 2 s of wall time stays far below what one
 * busy loop burns (2 s). This catches a spinning accept or retry loop; it
 * is not a speed measurement.
 */
async function assertNotSpinning(sluice: SluiceProcess): Promise<void> {
  const pid = sluice.child.pid!;
  const before = cpuSeconds(pid);
  await new Promise((r) => setTimeout(r, 2000));
  const used = cpuSeconds(pid) - before;
  assert.ok(used < 0.5, `Sluice used ${used.toFixed(2)} s of CPU in 2 s while idle at its limit: a busy loop\n${sluice.describe(20)}`);
}

describe('e2e: limits and EMFILE (open-file limit 256)', function () {
  const env = useE2E({ tag: 'lim', sluice: false, drainMs: 500 });
  let echo: { watch: ChildWatch; port: number };
  const holders: ConnHolder[] = [];

  before(async function () {
    echo = await startEcho(env.topo, env.tmp);
  });
  afterEach(async function () {
    for (const h of holders.splice(0)) await h.stop('SIGKILL');
    await env.stopSluice();
  });
  after(async function () {
    await echo?.watch.stop('SIGKILL');
  });

  it('derives max_tcp_flows from the open-file limit: the excess is reset, open flows keep moving data, new flows fit once others close, no spinning', async function () {
    const sluice = await startLimited(env, 'auto.yaml');
    const files = sluice.lines.find((l) => l.msg === 'open-file limit')!;
    assert.equal(files.soft, 256, sluice.describe(20));
    assert.deepEqual(files.before, { soft: 256, hard: 256 }, 'the limit before raising is logged too');
    const limits = sluice.lines.find((l) => l.msg === 'limits')!;
    const max = limits.maxTcpFlows as number;
    assert.equal(limits.derived, true);
    // (256 − 64 reserved) = 192; UDP sessions take at most a quarter (48), reply sockets an eighth (24); 2 fds per flow.
    assert.equal(max, 60, `derived cap: ${JSON.stringify(limits)}`);

    const holder = await startHolder(env.topo, env.tmp, echo.port);
    holders.push(holder);
    const excess = 25;
    holder.send({ cmd: 'open', n: max + excess });
    await holder.settled(max + excess);
    assert.equal(holder.count('ok'), max, `outcomes: ${JSON.stringify([...holder.outcomes()])}`);
    assert.equal(holder.count('ECONNRESET'), excess, `outcomes: ${JSON.stringify([...holder.outcomes()])}`);
    const refused = sluice.flows().filter((f) => f.error === `limit: max_tcp_flows (${max}) reached`);
    assert.equal(refused.length, excess, 'one access-log line per refused flow');
    const warnings = sluice.lines.filter((l) => l.msg === 'refused new tcp flows: limits.max_tcp_flows reached');
    assert.equal(warnings.length, 1, 'the refusals share one rate-limited warning');

    assert.deepEqual(await holder.echo(), { ok: max, failed: 0 }, 'every open flow still carries data');
    await assertNotSpinning(sluice);

    holder.send({ cmd: 'close', n: 10 });
    await sluice.waitUntil(() => (sluice.flows().filter((f) => f.error === undefined).length >= 10 ? true : undefined), 10_000, '10 flows closed');
    const settledBefore = holder.outcomes().size;
    holder.send({ cmd: 'open', n: 10 });
    await holder.settled(settledBefore + 10);
    assert.equal(holder.count('ok'), max + 10, 'new flows work again once others closed');
    assert.equal(sluice.exitStatus, undefined, 'Sluice is still running');
  });

  it('when the fds run out before the cap, excess connections are reset or wait in the backlog, without spinning; all are served once fds free up', async function () {
    // A cap far above what 256 fds hold: the fds run out first. An accept() that finds no fd pauses the
    // native acceptor (the backlog keeps the connection); a dial that finds none resets its client.
    const sluice = await startLimited(env, 'explicit.yaml', 'limits: { max_tcp_flows: 5000 }\n');
    assert.ok(
      sluice.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('limits.max_tcp_flows: 5000 per worker need more fds')),
      `a cap the fds cannot hold is warned about\n${sluice.describe(20)}`,
    );
    const holder = await startHolder(env.topo, env.tmp, echo.port);
    holders.push(holder);
    const n = 160;
    holder.send({ cmd: 'open', n });
    const waitingIds = (): number[] =>
      holder.lines.filter((l) => l.event === 'conn-waiting' && !holder.outcomes().has(l.id as number)).map((l) => l.id as number);
    await holder.waitUntil(() => (holder.outcomes().size + waitingIds().length >= n ? true : undefined), 30_000, 'every connection answered or waiting');
    const ok = holder.count('ok');
    const others = [...holder.outcomes().values()].filter((o) => o !== 'ok');
    assert.ok(ok > 50 && ok < n, `some flows fit, not all: ${ok} ok, ${waitingIds().length} waiting, others ${JSON.stringify(others)}`);
    assert.ok(others.every((o) => o === 'ECONNRESET'), `a connection that is not served is reset: ${JSON.stringify(others)}`);
    await assertNotSpinning(sluice);
    assert.deepEqual(await holder.echo(), { ok, failed: 0 }, 'the open flows still carry data');
    // Freeing fds: the connections still waiting are answered, and new ones work.
    holder.send({ cmd: 'close', n: ok });
    await holder.waitUntil(() => (holder.outcomes().size === n ? true : undefined), 20_000, 'the waiting connections answered');
    // The closed flows give their fds back once their relays finish (and idle splice pipes after 5 s).
    await sluice.waitUntil(() => (sluice.flows().filter((f) => f.error === undefined).length >= ok ? true : undefined), 10_000, `${ok} flows closed`);
    await waitFor('Sluice to have 40 fds free', () => (readdirSync(`/proc/${sluice.child.pid}/fd`).length <= 256 - 40 ? true : undefined), { timeoutMs: 15_000 });
    const settled = holder.outcomes().size;
    holder.send({ cmd: 'open', n: 10 });
    await holder.settled(settled + 10);
    const fresh = [...holder.outcomes()].filter(([id]) => id >= n).map(([, o]) => o);
    assert.deepEqual(fresh, Array(10).fill('ok'), 'new flows work again once others closed');
    assert.equal(sluice.exitStatus, undefined, 'Sluice is still running');
  });
});
