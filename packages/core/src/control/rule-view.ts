import type { RouteConfig, RuleConfig } from '../config/types';
import { clashFormOfRule } from '../router';
import type { ClashRule } from './clash-types';

/** A rule's Clash type and payload (`IPCIDR`, `10.0.0.0/8`). */
export interface ClashRuleForm {
  readonly type: string;
  readonly payload: string;
}

/** Clash's config spelling → the type name mihomo's API answers with (its `RuleType.String()`). */
const API_TYPES: Record<string, string> = {
  DOMAIN: 'Domain',
  'DOMAIN-SUFFIX': 'DomainSuffix',
  'DOMAIN-KEYWORD': 'DomainKeyword',
  'DOMAIN-REGEX': 'DomainRegex',
  'IP-CIDR': 'IPCIDR',
  'IP-CIDR6': 'IPCIDR',
  'SRC-IP-CIDR': 'SrcIPCIDR',
  'DST-PORT': 'DstPort',
  'SRC-PORT': 'SrcPort',
  NETWORK: 'Network',
  'IN-NAME': 'InName',
  'RULE-SET': 'RuleSet',
  AND: 'AND',
  OR: 'OR',
  NOT: 'NOT',
  MATCH: 'Match',
};

/**
 * The Clash form of one rule in mihomo's API type names: the router's own
 * form (as written for a Clash line, derived for a structured rule; one
 * rule with several conditions is an `AND` of them), renamed.
 */
export function clashRuleOf(rule: RuleConfig): ClashRuleForm {
  const { type, payload } = clashFormOfRule(rule);
  return { type: API_TYPES[type] ?? type, payload };
}

/**
 * `GET /rules`: every rule in order, then `final` as `Match`. `sizes` gives
 * the entries of each rule set, the `size` of a `RuleSet` rule (-1 for others);
 * `hits`, by rule name, the flows each rule matched.
 */
export function describeRules(route: RouteConfig, sizes: ReadonlyMap<string, number> = new Map(), hits: Readonly<Record<string, number>> = {}): ClashRule[] {
  const out: ClashRule[] = route.rules.map((r, index) => {
    const form = clashRuleOf(r);
    return { index, ...form, proxy: r.outbound, size: form.type === 'RuleSet' ? (sizes.get(form.payload) ?? -1) : -1, hits: hits[r.name] ?? 0 };
  });
  out.push({ index: out.length, type: 'Match', payload: '', proxy: route.final, size: -1, hits: hits.final ?? 0 });
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
