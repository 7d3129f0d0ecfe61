import * as assert from 'node:assert/strict';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import type { ChildProcess } from 'node:child_process';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { parseMetrics, type Sample } from '../helpers/metrics';
import { contractConfig, describeFlows, writeFile } from '../helpers/sluice';

const SECRET = 'e2e-secret';
const API = 'http://127.0.0.1:19090';


function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

describe('e2e: the control API with two workers: metrics and connections during real traffic', function () {
  const env = useE2E({ tag: 'ctl', sluice: false });
  let http: ProbeServer;
  let stream: ChildProcess | undefined;

  /** curl in the gateway (the API listens on its loopback), with the secret. */
  async function api(path: string, method = 'GET'): Promise<string> {
    const r = await env.topo.exec('gw', 'curl', ['-sS', '--fail-with-body', '-X', method, '-H', `Authorization: Bearer ${SECRET}`, `${API}${path}`]);
    assert.equal(r.code, 0, `${method} ${path}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  before(async function () {
    http = await startHttpServer(env.topo);
    const config = `${contractConfig()}workers: 2\ncontrol: { listen: "127.0.0.1:19090", secret: ${SECRET} }\n`;
    const sluice = await env.startSluice(writeFile(env.tmp, 'control.yaml', config));
    // The pool starts its workers, then the API.
    await sluice.waitFor((l) => l.msg === 'control API listening', 10_000, 'the control API');
  });
  after(function () {
    stream?.kill('SIGKILL');
  });

  it('counts a long kernel-relayed download while it runs, shows it in /connections, and DELETE resets it', async function () {
    // A server that sends 64 KiB every 100 ms for as long as the client stays.
    const server = env.topo.spawn('remote', 'socat', ['-u', 'SYSTEM:while true; do head -c 65536 /dev/zero; sleep 0.1; done', 'TCP-LISTEN:18080,reuseaddr'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      stream = env.topo.spawn('client', 'socat', ['-u', `TCP4:${A.remote.v4}:18080`, 'OPEN:/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] });
      const ended = new Promise<number | null>((resolve) => stream!.once('exit', (code) => resolve(code)));
      type Conn = { id: string; download: number; chains: string[]; metadata: { destinationPort: string } };
      const find = async (): Promise<Conn | undefined> =>
        (JSON.parse(await api('/connections')) as { connections: Conn[] }).connections.find((c) => c.metadata.destinationPort === '18080');
      let first: Conn | undefined;
      while (!(first = await find()) || first.download === 0) await new Promise((r) => setTimeout(r, 100));
      const metricsBefore = sum(parseMetrics(await api('/metrics')), 'sluice_bytes_total', { direction: 'down', outbound: 'direct' });
      await new Promise((r) => setTimeout(r, 600));
      const second = await find();
      assert.ok(second && second.download > first.download, `the running download's count should grow: ${first.download} then ${second?.download}`);
      assert.deepEqual(second.chains, ['direct']);
      const metricsAfter = sum(parseMetrics(await api('/metrics')), 'sluice_bytes_total', { direction: 'down', outbound: 'direct' });
      assert.ok(metricsAfter > metricsBefore, `sluice_bytes_total should move during the download: ${metricsBefore} then ${metricsAfter}`);

      await api(`/connections/${second.id}`, 'DELETE');
      const code = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r('still running'), 5000))]);
      assert.notEqual(code, 'still running', 'the client should see the flow reset');
      const line = await env.sluice!.waitForFlow((f) => f.dst === `${A.remote.v4}:18080`, 5000, 'the deleted flow');
      assert.match(String(line.error), /closed through the control API/);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('/proxies, /rules and /providers/rules answer through the pool (groups from the workers)', async function () {
    const { proxies } = JSON.parse(await api('/proxies')) as { proxies: Record<string, { type: string; all?: string[] }> };
    assert.equal(proxies.direct?.type, 'Direct');
    assert.equal(proxies.deny?.type, 'Reject');
    assert.deepEqual(proxies.GLOBAL?.all, ['direct', 'deny']);
    const { rules } = JSON.parse(await api('/rules')) as { rules: { type: string }[] };
    assert.equal(rules[rules.length - 1]?.type, 'Match');
    assert.deepEqual(JSON.parse(await api('/providers/rules')), { providers: {} });
  });

  it('/metrics, summed over both workers, agrees with the access log', async function () {
    for (let i = 0; i < 6; i++) {
      const r = await curl(env.topo, `http://${A.remote.v4}:${http.port}/${i}`);
      assert.equal(r.exitCode, 0, describeCurl(r));
    }
    const blocked = await curl(env.topo, `http://203.0.113.9:${http.port}/`, 2);
    assert.notEqual(blocked.exitCode, 0);
    await env.sluice!.waitUntil(() => env.sluice!.flows().filter((f) => f.dst.endsWith(`:${http.port}`)).length >= 7 || undefined, 5000, 'seven access lines');
    const flows = env.sluice!.flows();
    const workers = new Set(flows.map((f) => (f as unknown as { pid: number }).pid));
    const samples = parseMetrics(await api('/metrics'));
    const byOutbound = (o: string): { up: number; down: number; n: number } =>
      flows.filter((f) => f.outbound === o).reduce((a, f) => ({ up: a.up + f.up, down: a.down + f.down, n: a.n + 1 }), { up: 0, down: 0, n: 0 });
    const direct = byOutbound('direct');
    const msg = `${describeFlows(flows)}\nworkers seen: ${[...workers].join(',')}`;
    assert.equal(sum(samples, 'sluice_bytes_total', { direction: 'up', outbound: 'direct' }), direct.up, msg);
    assert.equal(sum(samples, 'sluice_bytes_total', { direction: 'down', outbound: 'direct' }), direct.down, msg);
    assert.equal(sum(samples, 'sluice_flows_total', { outbound: 'direct' }), direct.n, msg);
    assert.equal(sum(samples, 'sluice_flows_total', { outbound: 'deny', rule: 'rules[0]', network: 'tcp', inbound: 'in4' }), byOutbound('deny').n, msg);
    // Rule hits, gathered from both workers: the deny rule and the final rule (Match) saw every flow between them.
    const { rules } = JSON.parse(await api('/rules')) as { rules: { type: string; hits: number }[] };
    assert.equal(rules[0]!.hits, byOutbound('deny').n, msg);
    assert.equal(rules[rules.length - 1]!.hits, direct.n, msg);
    assert.equal(sum(samples, 'sluice_flow_errors_total'), flows.filter((f) => f.error !== undefined).length, msg);
    assert.equal(sum(samples, 'sluice_flows_active', { network: 'tcp' }), 0);
    assert.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'process metrics');
    // Labels come from config tags and rule names only.
    for (const s of samples.filter((x) => x.name.startsWith('sluice_'))) for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+/, JSON.stringify(s));
  });
});

