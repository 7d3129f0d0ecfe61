import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A } from '../addresses';
import { runProbe, startProbe } from '../probe';
import { applySluiceRules, startSluice, type SluiceProcess } from '../sluice';
import { createTopology, type Topology } from '../topology';
import { demoConfig } from './demo-config';
import { ensureDemoDependencies } from './dependencies';
import { formatFlowTable } from './flow-table';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Namespace name prefix; must not be in use. */
  readonly prefix: string;
  /** Where progress and the flow table go; default stdout. */
  readonly write?: (text: string) => void;
}

const HTTP_PORT = 80;
const UDP_PORT = 7;
const BLOCKED = '203.0.113.9';

/**
 * Runs the demo and resolves with the exit code: 0 when every flow went
 * through as expected, 1 on failure, 130/143 when interrupted. Everything it
 * creates (namespaces, processes, temp files) is removed before it resolves,
 * also on SIGINT/SIGTERM; process exit is covered by the namespaces' own exit hook.
 * Before anything else, {@link ensureDemoDependencies} installs `nft` and `ip`
 * with apt-get when they are missing (or says how to), then root is checked.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const say = opts.write ?? ((t: string) => void process.stdout.write(t));
  const deps = await ensureDemoDependencies({ say });
  if (deps !== 0) return deps;
  if (process.getuid?.() !== 0) {
    process.stderr.write('sluice demo must run as root: it creates network namespaces and firewall rules; run as root: sudo npx sluice demo\n');
    return 1;
  }

  let topo: Topology | undefined;
  let sluice: SluiceProcess | undefined;
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!interrupted) say(`\n${sig}: cleaning up…\n`);
    interrupted ??= sig;
    // The finally block below awaits the same destroy() and reports its failure.
    void topo?.destroy().catch(() => undefined);
  };
  const checkpoint = (): void => {
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tmp = mkdtempSync(path.join(tmpdir(), 'sluice-demo-'));
  try {
    say(`building namespaces ${opts.prefix}-{client,gw,remote}\n`);
    topo = (await createTopology({ prefix: opts.prefix })).destroyOnExit();
    checkpoint();
    say(
      `  client ${A.client.v4} ${A.client.v6}  ─  gw ${A.gwLan.v4} ${A.gwLan.v6} | ${A.gwWan.v4} ${A.gwWan.v6}  ─  remote ${A.remote.v4} ${A.remote.v6}\n`,
    );
    say(`starting an HTTP server (tcp/${HTTP_PORT}) and a UDP echo server (udp/${UDP_PORT}) in the remote\n`);
    await startProbe(topo, 'remote', ['http-server', '--host', '::', '--port', String(HTTP_PORT)]);
    await startProbe(topo, 'remote', ['udp-echo-server', '--host', '::', '--port', String(UDP_PORT)]);
    checkpoint();

    const configPath = path.join(tmp, 'sluice.yaml');
    writeFileSync(configPath, demoConfig());
    say('applying `sluice rules --apply` and a final forward drop in the gateway\n');
    await applySluiceRules(topo, configPath);
    await topo.installFinalDrop();
    checkpoint();
    say(`starting \`sluice run -c ${configPath}\` in the gateway\n`);
    sluice = await startSluice(topo, { args: ['run', '-c', configPath] });
    say('sluice started; sending traffic from the client:\n');

    let ok = true;
    // The remote must see the gateway's address: Sluice re-originates every flow.
    const report = (what: string, r: Record<string, unknown>, answer: unknown, gw: string): void => {
      const peer = r.ok ? (JSON.parse(String(answer)) as { peer: string }).peer : undefined;
      ok &&= peer === gw;
      say(`  ${what}  → ${r.ok ? `answered; the server saw ${peer}${peer === gw ? ' (the gateway)' : ', expected the gateway!'}` : `failed: ${r.message}`}\n`);
    };
    for (const [host, gw] of [[A.remote.v4, A.gwWan.v4], [A.remote.v6, A.gwWan.v6]] as const) {
      checkpoint();
      const url = `http://${formatEndpoint(host, HTTP_PORT)}/demo`;
      const r = await runProbe(topo, 'client', ['http-get', '--url', url]);
      report(`tcp  GET ${url}`, r, r.body, gw);
      checkpoint();
      const u = await runProbe(topo, 'client', ['udp-send', '--host', host, '--port', String(UDP_PORT), '--message', 'hello']);
      report(`udp  "hello" to ${formatEndpoint(host, UDP_PORT)}`, u, u.reply, gw);
    }
    checkpoint();
    const blocked = await runProbe(topo, 'client', ['http-get', '--url', `http://${BLOCKED}/`, '--timeout-ms', '3000']);
    ok &&= blocked.ok === false && blocked.code === 'ECONNRESET';
    say(`  tcp  GET http://${BLOCKED}/  → ${blocked.ok ? 'answered, but it should be blocked!' : `${blocked.code ?? blocked.message} (reset by the block rule)`}\n`);

    // UDP sessions are logged when they idle out (udp_idle_ms in demoConfig).
    const expected = 5;
    say('waiting for the access log…\n');
    const flows = await sluice.waitUntil(
      () => (sluice!.flows().length >= expected ? sluice!.flows() : undefined),
      10_000,
      `${expected} access-log lines`,
    );
    say(`\naccess log (one line per flow, from Sluice's "flow closed" lines):\n${formatFlowTable(flows)}\n\n`);
    checkpoint();
    say(ok ? 'all flows went through Sluice as expected\n' : 'some traffic did not go as expected (see above)\n');
    return ok ? 0 : 1;
  } catch (err) {
    if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
    process.stderr.write(`sluice demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    say('cleaning up: stopping Sluice, deleting the namespaces\n');
    if (sluice && !sluice.exitStatus) {
      const kill = setTimeout(() => sluice?.child.kill('SIGKILL'), 5000);
      await sluice.stop('SIGTERM');
      clearTimeout(kill);
    }
    await topo?.destroy();
    rmSync(tmp, { recursive: true, force: true });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (interrupted) say('interrupted; everything removed\n');
  }
}
