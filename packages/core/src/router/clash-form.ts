import type { ConditionConfig, PortRange, RuleConfig } from '../config/types';
import { parseClashRule } from '../config/clash-rules';
import { parseCidr } from '../config/net';

/** A rule as Clash shows it (`GET /rules`): its type and payload. */
export interface ClashForm {
  readonly type: string;
  readonly payload: string;
}

const ports = (list: readonly PortRange[]): string => list.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join('/');

/** Each value of a condition as a Clash leaf (`DOMAIN-SUFFIX,example.com`), grouped by what ORs together. */
function groups(c: ConditionConfig): string[][] {
  const out: string[][] = [];
  const each = (type: string, list: readonly string[] | undefined): string[] => (list ?? []).map((v) => `${type},${v}`);
  const domains = [
    ...each('DOMAIN', c.domain),
    ...each('DOMAIN-SUFFIX', c.domain_suffix),
    ...each('DOMAIN-KEYWORD', c.domain_keyword),
    ...each('DOMAIN-REGEX', c.domain_regex),
  ];
  if (c.network) out.push(c.network.map((n) => `NETWORK,${n.toUpperCase()}`));
  if (c.inbound) out.push(each('IN-NAME', c.inbound));
  if (c.dst_port) out.push([`DST-PORT,${ports(c.dst_port)}`]);
  if (c.src_port) out.push([`SRC-PORT,${ports(c.src_port)}`]);
  // Clash has no protocol rule; mihomo's rule view shows unknown types as they are.
  if (c.protocol) out.push(c.protocol.map((p) => `PROTOCOL,${p.toUpperCase()}`));
  if (domains.length > 0) out.push(domains);
  if (c.dst_cidr) out.push(c.dst_cidr.map((x) => `${parseCidr(x)?.family === 6 ? 'IP-CIDR6' : 'IP-CIDR'},${x}`));
  if (c.src_cidr) out.push(each('SRC-IP-CIDR', c.src_cidr));
  if (c.rule_set) out.push(each('RULE-SET', c.rule_set));
  if (c.all) out.push([`AND,(${c.all.map((x) => `(${line(x)})`).join(',')})`]);
  if (c.any) out.push([`OR,(${c.any.map((x) => `(${line(x)})`).join(',')})`]);
  if (c.not) out.push([`NOT,((${line(c.not)}))`]);
  return out;
}

/** A condition as one Clash condition (`TYPE,PAYLOAD`). */
function line(c: ConditionConfig): string {
  const f = clashFormOfCondition(c);
  return `${f.type},${f.payload}`;
}

/** A condition in Clash's terms: one leaf as itself, several as `AND`/`OR` of them. */
export function clashFormOfCondition(c: ConditionConfig): ClashForm {
  const gs = groups(c).map((g) => (g.length === 1 ? g[0] : `OR,(${g.map((x) => `(${x})`).join(',')})`));
  if (gs.length === 0) return { type: 'MATCH', payload: '' };
  const one = gs.length === 1 ? gs[0] : `AND,(${gs.map((x) => `(${x})`).join(',')})`;
  const comma = one.indexOf(',');
  return { type: one.slice(0, comma), payload: one.slice(comma + 1) };
}

/** The rule's Clash type and payload: as written for a Clash line, derived for a structured rule. */
export function clashFormOfRule(rule: RuleConfig): ClashForm {
  if (rule.clash !== undefined) {
    const r = parseClashRule(rule.clash);
    return { type: r.type, payload: r.payload };
  }
  return clashFormOfCondition(rule);
}
