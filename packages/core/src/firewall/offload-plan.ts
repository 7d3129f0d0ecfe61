import type { Network } from '../adapter/flow';
import { parseCidr, type ParsedCidr } from '../config/net';
import type { OutboundEntry, PortRange, RuleConfig, SluiceConfig } from '../config/types';
import { cidrsOverlap, normalizeCidr } from './cidr-text';

/** One leading rule the kernel forwards by itself (`firewall.offload`). */
export interface OffloadRule {
  /** Index in `route.rules`; names the rule's nft sets (`offload<index>_dst4`, …). */
  readonly index: number;
  readonly name: string;
  readonly outbound: string;
  /** Source and destination prefixes by family, normalised; `undefined`: the rule has no such condition (any address). */
  readonly src4?: readonly string[];
  readonly src6?: readonly string[];
  readonly dst4?: readonly string[];
  readonly dst6?: readonly string[];
  readonly network?: readonly Network[];
  readonly src_port?: readonly PortRange[];
  readonly dst_port?: readonly PortRange[];
}

/** Why offloading stopped before the end of the rules (the rule that must stay in user space, and every one after it). */
export interface OffloadStop {
  readonly index: number;
  readonly name: string;
  readonly reason: string;
}

/** What `firewall.offload` hands to the kernel. */
export interface OffloadPlan {
  readonly rules: readonly OffloadRule[];
  /** Absent when every rule was offloaded (or offload is off: then `rules` is empty too). */
  readonly stop?: OffloadStop;
}

/** Conditions the kernel can test on a packet's addresses and ports alone. */
const KERNEL_KEYS: ReadonlySet<string> = new Set(['src_cidr', 'dst_cidr', 'src_port', 'dst_port', 'network']);
/** Keys of a `direct` outbound that do not change where or how its connections leave. */
const PLAIN_DIRECT_KEYS: ReadonlySet<string> = new Set(['tag', 'type', 'mark', 'connect_timeout_ms']);

/**
 * Why `outbound` is not a plain `direct` one the kernel can stand in for, or
 * undefined when it is. A mark other than the bypass mark may steer Sluice's
 * own connections through policy routing that forwarded packets would not
 * take; an interface, a source address or a transparent bind change the path.
 */
function outboundProblem(tag: string, outbounds: readonly OutboundEntry[], bypassMark: number): string | undefined {
  const entry = outbounds.find((o) => o.tag === tag);
  if (!entry) return `outbound "${tag}" is a group or provided by a plugin, not a direct outbound`;
  if (entry.type !== 'direct') return `outbound "${tag}" is of type ${entry.type}, not direct`;
  const extra = Object.keys(entry.raw).filter((k) => !PLAIN_DIRECT_KEYS.has(k) && !(k === 'transparent' && entry.raw[k] === false));
  if (extra.length > 0) return `outbound "${tag}" sets ${extra.join(', ')}, which forwarded packets would not follow`;
  const mark = entry.raw.mark;
  if (mark !== undefined && Number(mark) !== bypassMark) {
    return `outbound "${tag}" sets mark ${String(mark)} (not firewall.bypass_mark), which may route its connections differently from forwarded packets`;
  }
  return undefined;
}

function byFamily(cidrs: readonly string[] | undefined, family: 4 | 6): string[] | undefined {
  if (cidrs === undefined) return undefined;
  return cidrs.filter((c) => parseCidr(c)?.family === family).map(normalizeCidr);
}

/**
 * Why `rule` must stay in user space, or undefined. Only address, port and
 * network conditions qualify; anything naming a host (domains, rule sets,
 * which may hold domains and change on reload) needs sniffing or the DNS
 * mapping, and `inbound`, `all`, `any` and `not` are left to the router.
 */
function ruleProblem(rule: RuleConfig, config: SluiceConfig, fakeRanges: readonly ParsedCidr[]): string | undefined {
  const keys = Object.keys(rule).filter((k) => k !== 'name' && k !== 'outbound' && k !== 'clash' && (rule as unknown as Record<string, unknown>)[k] !== undefined);
  const other = keys.filter((k) => !KERNEL_KEYS.has(k));
  if (other.length > 0) return `it uses ${other.join(', ')}, which the kernel cannot test (only src_cidr, dst_cidr, src_port, dst_port and network can be offloaded)`;
  if (!keys.some((k) => k !== 'network')) return 'it has no address or port condition: offloading it would forward every flow past Sluice';
  // Fake-IP answers are Sluice's own addresses for names; only Sluice can map them back.
  const dst = (rule.dst_cidr ?? []).map((c) => parseCidr(c)).filter((c): c is ParsedCidr => c !== undefined);
  const dstFamilies = new Set(dst.map((c) => c.family));
  if (fakeRanges.some((f) => (rule.dst_cidr === undefined ? true : dstFamilies.has(f.family) && dst.some((d) => cidrsOverlap(d, f))))) {
    return 'its destinations include dns.fake_ip_range, whose addresses only Sluice can map back to names';
  }
  return outboundProblem(rule.outbound, config.outbounds, config.firewall.bypass_mark);
}

/**
 * The leading rules of `route.rules` that `firewall.offload` compiles into
 * nftables sets, so that matching flows are forwarded by the kernel and never
 * reach Sluice. First match wins, so the walk stops at the first rule that
 * cannot be offloaded: a flow matching a later rule might have matched that
 * one first. Empty when `firewall.offload` is false.
 */
export function planOffload(config: SluiceConfig): OffloadPlan {
  if (!config.firewall.offload) return { rules: [] };
  const rules = config.route.rules;
  // override_destination dials the sniffed name, not the address the kernel would forward to.
  const overriding = config.inbounds.find((i) => i.override_destination);
  if (overriding && rules.length > 0) {
    return { rules: [], stop: { index: 0, name: rules[0].name, reason: `inbound "${overriding.tag}" has override_destination, so direct flows go to sniffed names, not to the addresses the kernel would forward to` } };
  }
  const fakeRanges = config.dns?.mode === 'fake-ip' ? config.dns.fake_ip_range.map((c) => parseCidr(c)).filter((c): c is ParsedCidr => c !== undefined) : [];
  const out: OffloadRule[] = [];
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index];
    const reason = ruleProblem(rule, config, fakeRanges);
    if (reason !== undefined) return { rules: out, stop: { index, name: rule.name, reason } };
    out.push({
      index,
      name: rule.name,
      outbound: rule.outbound,
      src4: byFamily(rule.src_cidr, 4),
      src6: byFamily(rule.src_cidr, 6),
      dst4: byFamily(rule.dst_cidr, 4),
      dst6: byFamily(rule.dst_cidr, 6),
      network: rule.network,
      src_port: rule.src_port,
      dst_port: rule.dst_port,
    });
  }
  return { rules: out };
}

/** Header comments saying which rules `firewall.offload` hands to the kernel, and where and why it stopped. */
export function describeOffload(plan: OffloadPlan): string[] {
  const lines = plan.rules.map((r) => `# Offloaded: rules[${r.index}] "${r.name}" -> ${r.outbound} is forwarded by the kernel and counted in offload_up/offload_down.`);
  if (plan.stop) {
    lines.push(`# Not offloaded from rules[${plan.stop.index}] "${plan.stop.name}" on (first match wins): ${plan.stop.reason}.`);
  }
  return lines;
}
