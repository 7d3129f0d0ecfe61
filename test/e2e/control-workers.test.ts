import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E, type E2EEnv } from '../helpers/env';
import { startHttpServer, startUdpEchoServer, type ProbeServer } from '../helpers/servers';
import { parseMetrics, type Sample } from '../helpers/metrics';
import { contractConfig, describeFlows, writeFile, type FlowLog } from '../helpers/sluice';

const SECRET = 'e2e-secret';
const API = 'http://127.0.0.1:19091';
/** The repository root: where the WebSocket client run in the gateway finds `ws`. */
const ROOT = path.resolve(__dirname, '..', '..', '..');


const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `GET /logs` over WebSocket in the gateway, runs HTTP flows until two
 * workers (told apart by the prefix of their flow ids: the pid, and the
 * thread id in thread mode) have each handled one whose access line came
 * through, and checks one such line.
 */
async function assertLogsFromEveryWorker(env: E2EEnv, http: ProbeServer): Promise<void> {
  const children: ChildProcess[] = [];
  try {
    // A WebSocket client in the gateway, printing each message as a line.
    const script = `const W = require('ws'); const ws = new W(process.argv[1]);
      ws.on('open', () => console.log('{"open":true}'));
      ws.on('message', (m) => console.log(String(m)));
      ws.on('close', (c, r) => { console.log(JSON.stringify({ closed: c, reason: String(r) })); process.exit(0); });`;
    const client = env.topo.spawn('gw', process.execPath, ['-e', script, `ws://127.0.0.1:19091/logs?level=info&token=${SECRET}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(client);
    const messages: Array<{ type?: string; payload?: string; open?: boolean; closed?: number }> = [];
    let text = '';
    client.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const l of lines) if (l.trim()) messages.push(JSON.parse(l) as (typeof messages)[number]);
    });
    let stderr = '';
    client.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    while (!messages.some((m) => m.open)) {
      assert.equal(client.exitCode, null, `the WebSocket client exited: ${stderr}`);
      await pause(50);
    }
    // Flows until both workers have handled some whose access lines came through /logs (the kernel spreads them by 4-tuple).
    const payloads = (): string[] => messages.flatMap((m) => (typeof m.payload === 'string' ? [m.payload] : []));
    const seenThrough = (src: string): boolean => payloads().some((p) => p.startsWith(`[TCP] ${src} --> `));
    // The worker that handled a flow: its flow id's prefix (pid, and thread id in thread mode; see flow-context.ts).
    const workerOf = (f: FlowLog): string => String(f.flowId).split('-')[0]!;
    let workersSeen = new Set<string>();
    for (let i = 0; i < 60 && workersSeen.size < 2; i++) {
      const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/logs-${i}`);
      assert.equal(r.exitCode, 0, describeCurl(r));
      await pause(100);
      const flows = env.sluice!.flows().filter((f) => f.dst.endsWith(`:${http.port}`));
      workersSeen = new Set(flows.filter((f) => seenThrough(f.src)).map(workerOf));
    }
    const flows = env.sluice!.flows().filter((f) => f.dst.endsWith(`:${http.port}`));
    const workers = new Set(flows.map(workerOf));
    assert.equal(workers.size, 2, `flows should land on both workers: ${describeFlows(flows)}`);
    assert.equal(workersSeen.size, 2, `/logs should carry access lines from both workers (${[...workers].join(', ')}); got:\n${payloads().join('\n')}`);
    const line = messages.find((m) => m.payload?.startsWith(`[TCP] ${flows[0]!.src} --> `));
    assert.equal(line?.type, 'info');
    assert.match(line!.payload!, new RegExp(`match final using direct, up ${flows[0]!.up} down ${flows[0]!.down}$`));
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

describe('e2e: the control API with two worker processes: every worker\'s logs, per-worker process metrics, live native UDP bytes', function () {
  const env = useE2E({ tag: 'ctlw', sluice: false });
  let http: ProbeServer;
  let udpEcho: ProbeServer;
  const children: ChildProcess[] = [];

  /** curl in the gateway (the API listens on its loopback), with the secret. */
  async function api(p: string, extra: string[] = []): Promise<string> {
    const streaming = extra.includes('--max-time');
    const r = await env.topo.exec('gw', 'curl', ['-sS', '--fail-with-body', ...extra, '-H', `Authorization: Bearer ${SECRET}`, `${API}${p}`], { allowFailure: streaming });
    // A stream read for a while ends with curl's timeout (28): what it read is the answer.
    assert.ok(r.code === 0 || (streaming && r.code === 28), `GET ${p}: ${r.code} ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  before(async function () {
    http = await startHttpServer(env.topo);
    udpEcho = await startUdpEchoServer(env.topo);
    // A UDP idle timeout longer than the test's session, so only the test ends it.
    const config = `${contractConfig({ udpIdleMs: 10_000 })}workers: 2\ncontrol: { listen: "127.0.0.1:19091", secret: ${SECRET} }\n`;
    const sluice = await env.startSluice(writeFile(env.tmp, 'control-workers.yaml', config));
    await sluice.waitFor((l) => l.msg === 'control API listening', 10_000, 'the control API');
  });
  after(function () {
    for (const c of children) c.kill('SIGKILL');
  });

  it('GET /logs over WebSocket carries the access lines of flows each worker handled', async function () {
    await assertLogsFromEveryWorker(env, http);
  });

  it('/metrics has process metrics for worker 0, worker 1 and the pool; /memory counts all three processes', async function () {
    const samples = parseMetrics(await api('/metrics'));
    const rss = samples.filter((s) => s.name === 'process_resident_memory_bytes');
    assert.deepEqual(rss.map((s) => s.labels.worker).sort(), ['0', '1', 'pool'], JSON.stringify(rss));
    for (const s of rss) assert.ok(s.value > 0, JSON.stringify(s));
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'process_open_fds', 'process_start_time_seconds']) {
      assert.deepEqual(
        samples.filter((s) => s.name === name).map((s) => s.labels.worker).sort(),
        ['0', '1', 'pool'],
        name,
      );
    }
    // Three processes: the whole is more than the largest of them.
    const memory = (await api('/memory', ['-N', '--max-time', '1.5'])).split('\n').filter((l) => l.trim());
    const inuse = (JSON.parse(memory[0]!) as { inuse: number }).inuse;
    const largest = Math.max(...rss.map((s) => s.value));
    assert.ok(inuse > largest * 1.5, `/memory inuse ${inuse} should sum the workers and the pool (largest process ${largest})`);
  });

  it('a long natively relayed UDP session shows its bytes in /connections, /traffic and sluice_bytes_total before it ends', async function () {
    // A datagram every 100 ms from one source port: one session, relayed natively after its first datagram.
    const sender = env.topo.spawn('client', 'socat', ['-u', 'SYSTEM:while true; do echo ping-ping; sleep 0.1; done', `UDP4:${A.remote.v4}:${udpEcho.port}`], { stdio: 'ignore' });
    children.push(sender);
    type Conn = { id: string; upload: number; download: number; metadata: { network: string; destinationPort: string } };
    const find = async (): Promise<Conn | undefined> =>
      (JSON.parse(await api('/connections')) as { connections: Conn[] }).connections.find((c) => c.metadata.network === 'udp' && c.metadata.destinationPort === String(udpEcho.port));
    let first: Conn | undefined;
    for (let i = 0; i < 50 && !((first = await find()) && first.upload > 0); i++) await pause(100);
    assert.ok(first && first.upload > 0, `the session should be listed with bytes: ${JSON.stringify(first)}`);
    const upBefore = parseMetrics(await api('/metrics'))
      .filter((s) => s.name === 'sluice_bytes_total' && s.labels.direction === 'up' && s.labels.outbound === 'direct')
      .reduce((a, s) => a + s.value, 0);
    await pause(800);
    const second = await find();
    assert.ok(second && second.id === first.id, 'the same session, still running');
    assert.ok(second.upload > first.upload && second.download > first.download, `counts should grow: ${JSON.stringify(first)} then ${JSON.stringify(second)}`);
    const upAfter = parseMetrics(await api('/metrics'))
      .filter((s) => s.name === 'sluice_bytes_total' && s.labels.direction === 'up' && s.labels.outbound === 'direct')
      .reduce((a, s) => a + s.value, 0);
    assert.ok(upAfter > upBefore, `sluice_bytes_total should move during the session: ${upBefore} then ${upAfter}`);
    const traffic = (await api('/traffic', ['-N', '--max-time', '2.5']))
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { up: number; down: number });
    assert.ok(
      traffic.some((t) => t.up > 0 && t.down > 0),
      `/traffic should show the session's bytes each second: ${JSON.stringify(traffic)}`,
    );
    // None of this waited for the session's end: no access line yet.
    assert.ok(!env.sluice!.flows().some((f) => f.network === 'udp' && f.dst === `${A.remote.v4}:${udpEcho.port}`), 'the session has not ended');
    sender.kill('SIGKILL');
  });
});

describe('e2e: the control API with two worker threads: every worker\'s logs', function () {
  const env = useE2E({ tag: 'ctlt', sluice: false });
  let http: ProbeServer;

  before(async function () {
    http = await startHttpServer(env.topo);
    const config = `${contractConfig()}workers: 2\nworker_mode: thread\ncontrol: { listen: "127.0.0.1:19091", secret: ${SECRET} }\n`;
    const sluice = await env.startSluice(writeFile(env.tmp, 'control-threads.yaml', config));
    await sluice.waitFor((l) => l.msg === 'control API listening', 10_000, 'the control API');
  });

  it('GET /logs over WebSocket carries the access lines of flows each worker thread handled', async function () {
    await assertLogsFromEveryWorker(env, http);
  });
});
