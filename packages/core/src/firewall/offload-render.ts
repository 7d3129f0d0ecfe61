import type { Network } from '../adapter/flow';
import type { PortRange } from '../config/types';
import type { OffloadPlan, OffloadRule } from './offload-plan';

/** The named counters of offloaded traffic: client to remote, and back. */
export const OFFLOAD_COUNTERS = { up: 'offload_up', down: 'offload_down' } as const;

/** The nft pieces of an {@link OffloadPlan}; every list is empty when nothing is offloaded. */
export interface OffloadRules {
  /** Set and counter declarations for the table body. */
  readonly declarations: string[];
  /** Matches (no verdict) of packets from clients to offloaded destinations, one per rule and family. */
  readonly up: string[];
  /** Matches of the packets coming back: source and destination (addresses and ports) swapped. */
  readonly down: string[];
}

const portText = (p: PortRange): string => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`);

function ports(list: readonly PortRange[]): string {
  return list.length === 1 ? portText(list[0]) : `{ ${list.map(portText).join(', ')} }`;
}

function l4(networks: readonly Network[]): string {
  return networks.length === 1 ? `meta l4proto ${networks[0]}` : `meta l4proto { ${networks.join(', ')} }`;
}

function setDeclaration(name: string, family: 4 | 6, cidrs: readonly string[]): string[] {
  return [
    `\tset ${name} {`,
    `\t\ttype ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`,
    // Users list national ranges that overlap; a plain interval set refuses overlaps.
    '\t\tflags interval',
    '\t\tauto-merge',
    `\t\telements = { ${cidrs.join(', ')} }`,
    '\t}',
  ];
}

/** The families a rule can match: a family is out when the rule lists addresses, none of them of that family. */
function families(rule: OffloadRule): (4 | 6)[] {
  const has = (list: readonly string[] | undefined): boolean => list === undefined || list.length > 0;
  return ([4, 6] as const).filter((f) => has(f === 4 ? rule.src4 : rule.src6) && has(f === 4 ? rule.dst4 : rule.dst6));
}

const setName = (rule: OffloadRule, side: 'src' | 'dst', family: 4 | 6): string => `offload${rule.index}_${side}${family}`;

/** The up and down matches of one rule in one family (`family` undefined: the rule names no address, so one match serves both). */
function matches(rule: OffloadRule, family: 4 | 6 | undefined): { up: string; down: string } {
  const ip = family === 6 ? 'ip6' : 'ip';
  const addr = (side: 'src' | 'dst'): string | undefined => {
    const list = family === undefined ? undefined : rule[`${side}${family}`];
    return list === undefined ? undefined : `@${setName(rule, side, family!)}`;
  };
  const src = addr('src');
  const dst = addr('dst');
  const hasPorts = rule.src_port !== undefined || rule.dst_port !== undefined;
  // Ports exist in TCP and UDP only (th = transport header), so a port condition implies them.
  const proto = rule.network ? l4(rule.network) : hasPorts ? l4(['tcp', 'udp']) : undefined;
  const join = (parts: (string | undefined)[]): string => parts.filter((p) => p !== undefined).join(' ');
  const nfproto = family === undefined ? undefined : `meta nfproto ipv${family}`;
  return {
    up: join([
      nfproto,
      src && `${ip} saddr ${src}`,
      dst && `${ip} daddr ${dst}`,
      proto,
      rule.src_port && `th sport ${ports(rule.src_port)}`,
      rule.dst_port && `th dport ${ports(rule.dst_port)}`,
    ]),
    down: join([
      nfproto,
      dst && `${ip} saddr ${dst}`,
      src && `${ip} daddr ${src}`,
      proto,
      rule.dst_port && `th sport ${ports(rule.dst_port)}`,
      rule.src_port && `th dport ${ports(rule.src_port)}`,
    ]),
  };
}

/**
 * Renders the offloaded rules: one interval set per rule, side and family
 * (so a long list of ranges is one lookup), the two named counters, and the
 * matches the firewall renderer places in its chains.
 */
export function renderOffload(plan: OffloadPlan): OffloadRules {
  if (plan.rules.length === 0) return { declarations: [], up: [], down: [] };
  const declarations: string[] = [];
  const up: string[] = [];
  const down: string[] = [];
  for (const rule of plan.rules) {
    const named = rule.src4 !== undefined || rule.dst4 !== undefined;
    for (const family of named ? families(rule) : [undefined]) {
      if (family !== undefined) {
        for (const side of ['src', 'dst'] as const) {
          const list = rule[`${side}${family}`];
          if (list !== undefined) declarations.push(...setDeclaration(setName(rule, side, family), family, list));
        }
      }
      const m = matches(rule, family);
      up.push(m.up);
      down.push(m.down);
    }
  }
  declarations.push(`\tcounter ${OFFLOAD_COUNTERS.up} {`, '\t}', `\tcounter ${OFFLOAD_COUNTERS.down} {`, '\t}');
  return { declarations, up, down };
}
