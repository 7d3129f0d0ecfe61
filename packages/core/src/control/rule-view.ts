import type { PortRange, RouteConfig, RuleConfig } from '../config/types';
import type { ClashRule } from './clash-types';

/** A rule's Clash type and payload (`IPCIDR`, `10.0.0.0/8`). */
export interface ClashRuleForm {
  readonly type: string;
  readonly payload: string;
}

function ports(list: readonly PortRange[]): string {
  return list.map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`)).join(',');
}

/**
 * The Clash form of one structured rule, in mihomo's API type names. A rule
 * with several conditions is an `AND` of them, written as Clash writes
 * logical rules: `(DstPort,443),(IPCIDR,10.0.0.0/8)`.
 *
 * The one place that derives it: when the router gives each compiled rule its
 * own `type` and `payload`, this function reads those instead.
 */
export function clashRuleOf(rule: RuleConfig): ClashRuleForm {
  const parts: ClashRuleForm[] = [];
  if (rule.network) parts.push({ type: 'Network', payload: rule.network.join(',') });
  if (rule.inbound) parts.push({ type: 'InName', payload: rule.inbound.join(',') });
  if (rule.dst_port) parts.push({ type: 'DstPort', payload: ports(rule.dst_port) });
  if (rule.src_port) parts.push({ type: 'SrcPort', payload: ports(rule.src_port) });
  if (rule.dst_cidr) parts.push({ type: 'IPCIDR', payload: rule.dst_cidr.join(',') });
  if (rule.src_cidr) parts.push({ type: 'SrcIPCIDR', payload: rule.src_cidr.join(',') });
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 0) return { type: 'Match', payload: '' };
  return { type: 'AND', payload: parts.map((p) => `(${p.type},${p.payload})`).join(',') };
}

/** `GET /rules`: every rule in order, then `final` as `Match`. */
export function describeRules(route: RouteConfig): ClashRule[] {
  const out: ClashRule[] = route.rules.map((r, index) => ({ index, ...clashRuleOf(r), proxy: r.outbound, size: -1 }));
  out.push({ index: out.length, type: 'Match', payload: '', proxy: route.final, size: -1 });
  return out;
}

/**
 * Rule name (as flows carry it: `rules[3]`, a rule's own name, `final`,
 * `hook`) → its Clash form, for the `rule` and `rulePayload` of connections.
 */
export function ruleFormsByName(route: RouteConfig): ReadonlyMap<string, ClashRuleForm> {
  const map = new Map<string, ClashRuleForm>();
  route.rules.forEach((r) => map.set(r.name, clashRuleOf(r)));
  map.set('final', { type: 'Match', payload: '' });
  map.set('hook', { type: 'Hook', payload: '' });
  map.set('GLOBAL', { type: 'Match', payload: 'GLOBAL' });
  map.set('DIRECT', { type: 'Match', payload: 'DIRECT' });
  return map;
}
