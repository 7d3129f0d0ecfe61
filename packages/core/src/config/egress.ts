import type { Network } from '../adapter/flow';
import type { OutboundEgress } from '../adapter/plugin';
import type { ConfigIssue } from '../errors';
import type { PlannedOutbound } from '../outbound/registry';
import type { RuleConfig, SluiceConfig } from './types';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Each planned outbound's egress, as its type declares it; absent when the type declares none. */
function egressByTag(plan: readonly PlannedOutbound[]): Map<string, OutboundEgress> {
  const out = new Map<string, OutboundEgress>();
  for (const p of plan) {
    const e = p.definition.egress?.(p.options);
    if (e) out.set(p.entry.tag, e);
  }
  return out;
}

/**
 * In local mode (`firewall.local: true`) this host's own outgoing traffic is
 * captured, Sluice's included, unless it carries `firewall.bypass_mark`: an
 * outbound whose sockets are unmarked, or whose mark lacks those bits, would
 * send its own connections back into Sluice (a loop). An outbound riding on a
 * `via` opens no socket; its via is checked in turn.
 */
export function checkLocalModeMarks(config: SluiceConfig, plan: readonly PlannedOutbound[]): ConfigIssue[] {
  if (!config.firewall.local) return [];
  const bypass = config.firewall.bypass_mark;
  const issues: ConfigIssue[] = [];
  const egress = egressByTag(plan);
  for (const p of plan) {
    const mark = egress.get(p.entry.tag)?.mark;
    if (!egress.has(p.entry.tag) || mark === 'via') continue;
    const path = `${p.entry.path}.mark`;
    if (mark === undefined) {
      issues.push({
        path,
        message: `firewall.local is true, but this ${p.entry.type} outbound's sockets carry no mark: its own connections would be captured again (a loop); set mark: ${hex(bypass)} (firewall.bypass_mark)`,
      });
    } else if ((mark & bypass) >>> 0 !== bypass) {
      issues.push({
        path,
        message: `${hex(mark)} does not carry firewall.bypass_mark ${hex(bypass)} (mark & bypass_mark != bypass_mark): with firewall.local true its own connections would be captured again (a loop)`,
      });
    }
  }
  return issues;
}

/** The networks an outbound carries: its own, narrowed by every outbound it rides on; undefined when unknown. */
function carriedNetworks(tag: string, plan: ReadonlyMap<string, PlannedOutbound>, egress: ReadonlyMap<string, OutboundEgress>, seen = new Set<string>()): Set<Network> | undefined {
  const own = egress.get(tag);
  const p = plan.get(tag);
  if (!own || !p || seen.has(tag)) return undefined;
  seen.add(tag);
  const nets = new Set(own.networks);
  for (const dep of p.deps) {
    const via = carriedNetworks(dep, plan, egress, seen);
    if (via) for (const n of nets) if (!via.has(n)) nets.delete(n);
  }
  return nets;
}

/** True when `rule` matches every UDP flow from inbound `tag`: nothing after it is reached. */
function catchesAllUdp(rule: RuleConfig, tag: string): boolean {
  const conditions = Object.keys(rule).filter((k) => k !== 'name' && k !== 'outbound');
  return conditions.every((k) => (k === 'network' ? rule.network!.includes('udp') : k === 'inbound' ? rule.inbound!.includes(tag) : false));
}

/** The outbound tags UDP flows from inbound `tag` can be routed to, in rule order, then `final` unless a rule catches all first. */
function udpTargets(config: SluiceConfig, tag: string): string[] {
  const targets: string[] = [];
  for (const rule of config.route.rules) {
    if (rule.network && !rule.network.includes('udp')) continue;
    if (rule.inbound && !rule.inbound.includes(tag)) continue;
    targets.push(rule.outbound);
    if (catchesAllUdp(rule, tag)) return targets;
  }
  if (config.route.final) targets.push(config.route.final);
  return targets;
}

/**
 * A UDP inbound whose routes all end at outbounds that carry only TCP
 * (SOCKS4, a socks without `udp`, a chain whose via is TCP-only) accepts
 * datagrams it can never deliver. A warning, not an error: an embedder's
 * routing hook may still send them elsewhere. Outbounds whose type declares
 * no egress count as carrying UDP.
 */
export function checkUdpReach(config: SluiceConfig, plan: readonly PlannedOutbound[]): ConfigIssue[] {
  const byTag = new Map(plan.map((p) => [p.entry.tag, p]));
  const egress = egressByTag(plan);
  const warnings: ConfigIssue[] = [];
  config.inbounds.forEach((inbound, i) => {
    if (!inbound.network.includes('udp')) return;
    const targets = [...new Set(udpTargets(config, inbound.tag))];
    if (targets.length === 0) return;
    const tcpOnly = targets.every((t) => carriedNetworks(t, byTag, egress)?.has('udp') === false);
    if (!tcpOnly) return;
    warnings.push({
      path: `inbounds[${i}].network`,
      message: `accepts udp, but every route from "${inbound.tag}" ends at an outbound that carries only TCP (${targets.join(', ')}): its datagrams are dropped; drop udp here or route it to an outbound that carries it`,
    });
  });
  return warnings;
}
