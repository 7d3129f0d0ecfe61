import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { fail, warn } from '../result';
import type { DoctorCheck, CheckResult, DoctorContext, HelperProcess } from '../types';
import { PROBE_CLIENT, PROBE_SERVER, type ProbeOutcome } from './scripts';
import { PROBE_NET, probeVerdict } from './verdict';

/** How long the client waits for each answer. */
const ANSWER_MS = 3000;

/** The host-side name of the client link: it must be one Sluice captures on (`firewall.interfaces`). */
export function probeInterfaceName(patterns: readonly string[], pid: number): string | undefined {
  const tail = `sdp${pid}`;
  if (patterns.length === 0) return tail.slice(0, 15);
  for (const p of patterns) {
    if (!p.endsWith('*')) continue;
    const name = `${p.slice(0, -1)}${tail}`;
    if (name.length <= 15) return name;
  }
  return undefined;
}

/** Why the probe cannot run here, or undefined. */
async function cannotProbe(ctx: DoctorContext, hostIf: string | undefined): Promise<string | undefined> {
  const { config } = ctx;
  if (!hostIf) return `capture is limited to firewall.interfaces ${config.firewall.interfaces.join(', ')} and none is a wildcard the probe's interface could match`;
  const v4 = config.inbounds.find((i) => isIP(i.listen) === 4);
  if (!v4) return 'the probe speaks IPv4 and there is no IPv4 inbound';
  const inBypass = config.firewall.bypass_cidr.some((c) => {
    const range = ipaddr.parseCIDR(c);
    return range[0].kind() === 'ipv4' && [PROBE_NET.client, PROBE_NET.server].some((a) => ipaddr.parse(a).match(range));
  });
  if (inBypass) return `firewall.bypass_cidr covers the probe's addresses (${PROBE_NET.range})`;
  const used = await ctx.run(['ip', '-4', 'addr', 'show', 'to', '198.51.100.0/24']);
  const routed = await ctx.run(['ip', '-4', 'route', 'show', 'root', '198.51.100.0/24']);
  if (used.stdout.trim() !== '' || routed.stdout.trim() !== '') return 'this host already uses 198.51.100.0/24, the probe\'s range';
  return undefined;
}

/**
 * Builds the probe network: namespaces `sluice-doctor-<pid>-pc` (client) and
 * `-ps` (server), each joined to this host by a veth pair; only the two /30
 * links inside 198.51.100.0/29 are added here, nothing else is routed.
 */
async function buildProbeNet(ctx: DoctorContext, hostIf: string, made: string[]): Promise<{ client: string; server: string }> {
  const client = `sluice-doctor-${ctx.pid}-pc`;
  const server = `sluice-doctor-${ctx.pid}-ps`;
  const serverIf = `sds${ctx.pid}`.slice(0, 15);
  const must = async (argv: string[]): Promise<void> => {
    const r = await ctx.run(argv);
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  };
  for (const [ns, hostName, hostAddr, nsAddr] of [
    [client, hostIf, PROBE_NET.hostClientSide, PROBE_NET.client],
    [server, serverIf, PROBE_NET.hostServerSide, PROBE_NET.server],
  ] as const) {
    await must(['ip', 'netns', 'add', ns]);
    made.push(ns);
    await must(['ip', 'link', 'add', hostName, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await must(['ip', 'addr', 'add', `${hostAddr}/30`, 'dev', hostName]);
    await must(['ip', 'link', 'set', hostName, 'up']);
    await must(['ip', '-n', ns, 'addr', 'add', `${nsAddr}/30`, 'dev', 'eth0']);
    await must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await must(['ip', '-n', ns, 'route', 'add', 'default', 'via', hostAddr]);
  }
  return { client, server };
}

/**
 * `--probe`: sends a TCP connection and a UDP datagram from a throwaway
 * client namespace, through this host, to a server in a second throwaway
 * namespace, and reads from the answers whether Sluice captured them (see
 * {@link probeVerdict}). Everything it made is deleted afterwards (deleting a
 * namespace deletes its veth pair).
 */
export const probeCheck: DoctorCheck = {
  id: 'probe',
  title: 'traffic from a test namespace reaches Sluice (TCP and UDP through a veth)',
  async run(ctx): Promise<CheckResult> {
    const hostIf = probeInterfaceName(ctx.config.firewall.interfaces, ctx.pid);
    const why = await cannotProbe(ctx, hostIf);
    if (why) return warn(`probe skipped: ${why}`);
    const v4 = ctx.config.inbounds.find((i) => isIP(i.listen) === 4)!;
    const made: string[] = [];
    let serverProc: HelperProcess | undefined;
    try {
      const { client, server } = await buildProbeNet(ctx, hostIf!, made);
      const port = String(PROBE_NET.port);
      serverProc = ctx.spawn(['ip', 'netns', 'exec', server, ctx.execPath, '-e', PROBE_SERVER, PROBE_NET.server, port, '60000']);
      const ready = await serverProc.firstLine(10_000);
      if (ready !== 'ready') throw new Error(`probe server: ${ready}`);
      const r = await ctx.run(['ip', 'netns', 'exec', client, ctx.execPath, '-e', PROBE_CLIENT, PROBE_NET.server, port, String(ANSWER_MS), v4.network.join(',')]);
      if (r.code !== 0) throw new Error(`probe client: ${r.stderr.trim() || `exit ${r.code}`}`);
      return probeVerdict(JSON.parse(r.stdout) as ProbeOutcome, ctx.configPath);
    } catch (err) {
      return fail(`probe could not run: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await serverProc?.stop();
      for (const ns of made.reverse()) await ctx.run(['ip', 'netns', 'del', ns]);
    }
  },
};
