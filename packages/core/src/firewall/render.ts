import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Network } from '../adapter/flow';
import { parseCidr } from '../config/net';
import type { InboundConfig, SluiceConfig } from '../config/types';
import { normalizeCidr } from './cidr-text';
import { renderDnsHijack } from './dns-hijack';
import { describeOffload, planOffload } from './offload-plan';
import { OFFLOAD_COUNTERS, renderOffload, type OffloadRules } from './offload-render';

/** The nftables table Sluice owns; nothing outside it is ever touched. */
export const NFT_TABLE = 'inet sluice';

/** What `sluice rules` prints and applies. */
export interface RenderedFirewall {
  /** A complete file for `nft -f`; re-applying it replaces the previous version atomically. */
  readonly nft: string;
  /** Policy-routing commands, run after the ruleset is loaded. */
  readonly up: string[];
  /** Commands that undo everything: the table first (stop capturing), then policy routing. */
  readonly down: string[];
}

interface Steering {
  readonly family: 4 | 6;
  readonly index: number;
  readonly inbound: InboundConfig;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The routing protocol number (`ip rule … protocol`, `ip route … proto`) that
 * marks the policy routing Sluice installs as its own; unassigned in
 * `/etc/iproute2/rt_protos` and the kernel's list.
 */
export const ROUTE_PROTOCOL = 250;

/** `meta l4proto tcp` or `meta l4proto { tcp, udp }`. */
function l4(networks: readonly Network[]): string {
  return networks.length === 1 ? `meta l4proto ${networks[0]}` : `meta l4proto { ${networks.join(', ')} }`;
}

function tproxyTarget(s: Steering): string {
  const { listen, port } = s.inbound;
  // A wildcard listener takes the packet on whatever address it arrived for.
  if (ipaddr.parse(listen).range() === 'unspecified') return `:${port}`;
  return s.family === 4 ? `${listen}:${port}` : `[${listen}]:${port}`;
}

/**
 * The first inbound of `type` per address family steers that family; the
 * kernel can hand a packet to only one target, so the rest are listed as
 * skipped. A redirect inbound is skipped where a tproxy inbound already takes
 * that family's TCP (the mangle hook's tproxy runs before nat).
 */
function pickSteering(inbounds: readonly InboundConfig[], type: InboundConfig['type'], taken: readonly Steering[] = []): { steering: Steering[]; skipped: string[] } {
  const steering: Steering[] = [];
  const skipped: string[] = [];
  inbounds.forEach((inbound, index) => {
    if (inbound.type !== type) return;
    const family = isIP(inbound.listen) === 6 ? 6 : 4;
    const what = `# Not steered: inbounds[${index}] "${inbound.tag}" (${inbound.listen} port ${inbound.port}); `;
    if (steering.some((s) => s.family === family)) {
      skipped.push(`${what}only the first IPv${family} ${type === 'tproxy' ? 'inbound receives TPROXY' : 'redirect inbound receives redirected'} traffic.`);
    } else if (taken.some((s) => s.family === family && s.inbound.network.includes('tcp'))) {
      skipped.push(`${what}the IPv${family} tproxy inbound already receives that family's TCP.`);
    } else {
      steering.push({ family, index, inbound });
    }
  });
  return { steering, skipped };
}

function bypassSet(name: string, type: string, cidrs: readonly string[]): string[] {
  return [
    `\tset ${name} {`,
    `\t\ttype ${type}`,
    // auto-merge: user lists may overlap, which a plain interval set refuses.
    '\t\tflags interval',
    '\t\tauto-merge',
    `\t\telements = { ${cidrs.join(', ')} }`,
    '\t}',
  ];
}

/** Interface restriction at the top of prerouting: which packets may be captured at all. */
function interfaceRules(config: SluiceConfig): string[] {
  const { interfaces, local, fwmark } = config.firewall;
  const out: string[] = [];
  if (local) {
    out.push(
      '\t\t# On lo, only this host\'s own traffic that the output chain marked for capture.',
      `\t\tiif lo meta mark != ${hex(fwmark)} return`,
    );
  }
  if (interfaces.length > 0) {
    const names = [...interfaces, ...(local && !interfaces.includes('lo') ? ['lo'] : [])];
    out.push('\t\t# Capture only what arrives on the configured interfaces.');
    out.push(`\t\tiifname != { ${names.map((n) => `"${n}"`).join(', ')} } return`);
  } else if (!local) {
    out.push('\t\t# Gateway mode: clients arrive on real interfaces, never on lo.', '\t\tiif lo return');
  }
  return out;
}

/** Sluice's own outbound connections carry the bypass mark (SO_MARK); capturing them would loop. */
function markBypass(config: SluiceConfig): string[] {
  const mark = hex(config.firewall.bypass_mark);
  return ["\t\t# Sluice's own outbound connections carry the bypass mark (SO_MARK); capturing them would loop.", `\t\tmeta mark & ${mark} == ${mark} return`];
}

/**
 * Destinations and packets never captured, shared by prerouting and output.
 *
 * Replies of flows Sluice did not capture must pass untouched. In local mode
 * that needs conntrack (a reply of this host's own server looks like any
 * other outgoing packet). A gateway needs no conntrack for it: such replies
 * come from a bypassed address, and the gateway's own connections are
 * answered to a local address. Keeping conntrack out of the gateway matters
 * under load: every proxied connection would otherwise leave a tracked entry
 * (TIME_WAIT included), at a cost per packet and, at high connection rates,
 * a full table that drops new connections.
 */
function bypassRules(v4: readonly string[], v6: readonly string[], local: boolean): string[] {
  const replies = local
    ? ["\t\t# Replies of flows Sluice did not capture (this host's own servers, bypassed destinations) pass untouched.", '\t\tct direction reply return']
    : [
        '\t\t# Replies from bypassed destinations pass untouched (stateless: no conntrack in the gateway).',
        ...(v4.length > 0 ? ['\t\tip saddr @bypass4 return'] : []),
        ...(v6.length > 0 ? ['\t\tip6 saddr @bypass6 return'] : []),
      ];
  return [
    ...replies,
    '\t\t# Traffic for this host itself is delivered normally.',
    '\t\tfib daddr type local return',
    ...(v4.length > 0 ? ['\t\tip daddr @bypass4 return'] : []),
    ...(v6.length > 0 ? ['\t\tip6 daddr @bypass6 return'] : []),
  ];
}

/** `redirect to :port`: nat redirect always goes to a local address (the arriving interface's, or loopback in output). */
function redirectRule(s: Steering): string {
  return `\t\tmeta nfproto ipv${s.family} meta l4proto tcp redirect to :${s.inbound.port}`;
}

/** Gateway-mode redirect reaches the arriving interface's own address, which a loopback listener never receives. */
function loopbackWarnings(steering: readonly Steering[], local: boolean): string[] {
  if (local) return [];
  return steering
    .filter((s) => ipaddr.parse(s.inbound.listen).range() === 'loopback')
    .map(
      (s) =>
        `# Warning: inbounds[${s.index}] "${s.inbound.tag}" listens on ${s.inbound.listen}, but nat redirect delivers forwarded connections to the arriving interface's address: listen on ${s.family === 6 ? '"::"' : '0.0.0.0'} instead.`,
    );
}

/**
 * The nat chains of `redirect` inbounds. nat chains see only a connection's
 * first packet (conntrack does the rest), so no reply rule is needed here.
 */
function natChains(config: SluiceConfig, steering: readonly Steering[], v4: readonly string[], v6: readonly string[], offload: OffloadRules): string[] {
  if (steering.length === 0) return [];
  const fw = config.firewall;
  const skip = [
    ...markBypass(config),
    '\t\t# Traffic for this host itself is delivered normally.',
    '\t\tfib daddr type local return',
    ...(v4.length > 0 ? ['\t\tip daddr @bypass4 return'] : []),
    ...(v6.length > 0 ? ['\t\tip6 daddr @bypass6 return'] : []),
  ];
  const ifaces = fw.interfaces.filter((n) => n !== 'lo');
  const prerouting = [
    '',
    '\tchain nat_prerouting {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    ...skip,
    fw.local ? "\t\t# This host's own connections are redirected in nat_output, never here." : '\t\t# Gateway mode: clients arrive on real interfaces, never on lo.',
    '\t\tiif lo return',
    ...(ifaces.length > 0
      ? ['\t\t# Capture only what arrives on the configured interfaces.', `\t\tiifname != { ${ifaces.map((n) => `"${n}"`).join(', ')} } return`]
      : []),
    ...offloadSkip(offload.up, 'return'),
    ...steering.map(redirectRule),
    '\t}',
  ];
  const output = fw.local && steering.length > 0
    ? [
        '',
        '\tchain nat_output {',
        // -100 is dstnat; nft accepts the name only in prerouting for the inet family.
        '\t\ttype nat hook output priority -100; policy accept;',
        ...skip,
        "\t\t# This host's own connections.",
        ...offloadSkip(offload.up, 'return'),
        ...steering.map(redirectRule),
        '\t}',
      ]
    : [];
  return [...prerouting, ...output];
}

/** `firewall.offload`: flows of the offloaded rules are left to the kernel's forwarding, never captured. */
function offloadSkip(matches: readonly string[], verdict: 'accept' | 'return', what = 'flows of the offloaded rules are forwarded by the kernel, not captured'): string[] {
  if (matches.length === 0) return [];
  return [`\t\t# firewall.offload: ${what}.`, ...matches.map((m) => `\t\t${m} ${verdict}`)];
}

/**
 * The chains that count offloaded traffic. Offloaded flows of a gateway's
 * clients are forwarded, so the forward hook sees them and nothing Sluice
 * proxies (that is delivered locally); this host's own offloaded connections
 * (local mode) pass output and input instead. The first matching rule
 * counts a packet.
 */
function offloadCounting(config: SluiceConfig, offload: OffloadRules): string[] {
  if (offload.up.length === 0) return [];
  const count = (matches: readonly string[], counter: string): string[] => matches.map((m) => `\t\t${m} counter name ${counter} return`);
  // By conntrack direction: a reply to a client inside an offloaded set would match the request's addresses too.
  const up = count(offload.up.map((m) => `ct direction original ${m}`), OFFLOAD_COUNTERS.up);
  const down = count(offload.down.map((m) => `ct direction reply ${m}`), OFFLOAD_COUNTERS.down);
  const forward = ['', '\tchain offload_forward {', '\t\ttype filter hook forward priority filter; policy accept;', ...up, ...down, '\t}'];
  if (!config.firewall.local) return forward;
  return [
    ...forward,
    '',
    '\tchain offload_output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    ...markBypass(config),
    ...up,
    '\t}',
    '',
    '\tchain offload_input {',
    '\t\ttype filter hook input priority filter; policy accept;',
    ...down,
    '\t}',
  ];
}

/**
 * Whether an outbound binds the client's own address (`transparent: true`):
 * the replies remotes send to that address must then be delivered to
 * Sluice's socket, which takes the `socket transparent` rule and the policy
 * routing of the tproxy setup, whatever the inbounds' type.
 */
export function hasTransparentOutbound(config: SluiceConfig): boolean {
  return config.outbounds.some((o) => (o.raw as Record<string, unknown>).transparent === true);
}

/**
 * Renders the nftables ruleset and policy routing that send a config's
 * traffic to its TPROXY inbounds (mangle chains, policy routing) and its
 * `redirect` inbounds (nat chains). Pure: runs nothing.
 *
 * The ruleset declares `table inet sluice`, deletes it and declares it again,
 * so `nft -f` replaces an earlier version in one transaction and leaves every
 * other table alone.
 */
export function renderFirewall(config: SluiceConfig): RenderedFirewall {
  const fw = config.firewall;
  const fwmark = hex(fw.fwmark);
  const { steering, skipped: skippedTproxy } = pickSteering(config.inbounds, 'tproxy');
  const { steering: redirects, skipped: skippedRedirect } = pickSteering(config.inbounds, 'redirect', steering);
  const skipped = [...skippedTproxy, ...skippedRedirect, ...loopbackWarnings(redirects, fw.local)];
  const transparent = hasTransparentOutbound(config);
  // Host bits cleared, as the router does: `10.1.2.3/8` means `10.0.0.0/8` (nft would refuse it).
  const cidrs = fw.bypass_cidr.map((c) => normalizeCidr(c));
  const v4 = cidrs.filter((c) => parseCidr(c)?.family === 4);
  const v6 = cidrs.filter((c) => parseCidr(c)?.family === 6);
  const anyTcp = transparent || steering.some((s) => s.inbound.network.includes('tcp'));
  // Redirect-only configs need no mangle chain, unless transparent outbounds' replies must reach Sluice.
  const mangle = steering.length > 0 || transparent;
  const hijack = renderDnsHijack(config);
  const plan = planOffload(config);
  const offload = renderOffload(plan);

  const prerouting = mangle
    ? [
        '\tchain prerouting {',
        '\t\ttype filter hook prerouting priority mangle; policy accept;',
        ...markBypass(config),
        // Before the reply and interface checks: packets for a transparent (client-address) outbound socket
        // of Sluice's arrive as replies on the upstream interface and must still reach it.
        ...(anyTcp
          ? [
              '\t\t# Packets of connections a transparent Sluice socket already owns: deliver, no new tproxy lookup.',
              `\t\tmeta l4proto tcp tcp flags & (syn | ack) != syn socket transparent 1 meta mark set ${fwmark} accept`,
            ]
          : []),
        ...bypassRules(v4, v6, fw.local),
        // Local mode passes every reply above already. A gateway tells replies from requests by conntrack, not by
        // addresses alone: a client's own address may be in an offloaded set (a rule sending the LAN direct), and its
        // requests would then look like replies and escape capture.
        ...(fw.local ? [] : offloadSkip(offload.down.map((m) => `ct direction reply ${m}`), 'accept', 'replies of offloaded flows pass untouched')),
        ...interfaceRules(config),
        ...(hijack?.exempt ?? []),
        ...offloadSkip(offload.up, 'accept'),
        ...steering.map(
          (s) =>
            `\t\tmeta nfproto ipv${s.family} ${l4(s.inbound.network)} tproxy ip${s.family === 6 ? '6' : ''} to ${tproxyTarget(s)} meta mark set ${fwmark} accept`,
        ),
        '\t}',
      ]
    : [];

  const output = fw.local && steering.length > 0
    ? [
        '',
        '\tchain output {',
        '\t\ttype route hook output priority mangle; policy accept;',
        ...markBypass(config),
        ...bypassRules(v4, v6, true),
        ...offloadSkip(offload.up, 'accept'),
        "\t\t# This host's own connections: the mark reroutes them via lo into prerouting above.",
        ...steering.map((s) => `\t\tmeta nfproto ipv${s.family} ${l4(s.inbound.network)} meta mark set ${fwmark}`),
        '\t}',
      ]
    : [];

  // Policy routing delivers what the mangle chain marked; transparent outbounds' replies may come in either family.
  const nat = natChains(config, redirects, v4, v6, offload);
  if (!mangle && nat[0] === '') nat.shift();
  const families = [...new Set([...steering.map((s) => s.family), ...(transparent ? redirects.map((s) => s.family) : [])])].sort();
  const nft = [
    `# Generated by sluice rules: ${fw.local ? 'local' : 'gateway'} mode, fwmark ${fwmark} -> table ${fw.table}, bypass mark ${hex(fw.bypass_mark)}.`,
    ...skipped,
    ...describeOffload(plan),
    '# Declaring the table before deleting it makes this file re-appliable; no other table is touched.',
    `table ${NFT_TABLE} {}`,
    `delete table ${NFT_TABLE}`,
    '',
    `table ${NFT_TABLE} {`,
    ...(v4.length > 0 ? bypassSet('bypass4', 'ipv4_addr', v4) : []),
    ...(v6.length > 0 ? bypassSet('bypass6', 'ipv6_addr', v6) : []),
    ...offload.declarations,
    ...(v4.length + v6.length + offload.declarations.length > 0 ? [''] : []),
    ...prerouting,
    ...output,
    ...nat,
    ...(hijack?.chain ?? []),
    ...offloadCounting(config, offload),
    '}',
    '',
  ].join('\n');

  const ip = (f: 4 | 6): string => (f === 6 ? 'ip -6' : 'ip');
  // Tagged with Sluice's protocol number, so removing them can never take a rule or route another tool added.
  const rule = (f: 4 | 6, op: string): string => `${ip(f)} rule ${op} fwmark ${fwmark} lookup ${fw.table} protocol ${ROUTE_PROTOCOL}`;
  const route = (f: 4 | 6, op: string): string => `${ip(f)} route ${op} local default dev lo table ${fw.table} proto ${ROUTE_PROTOCOL}`;
  return {
    nft,
    up: families.flatMap((f) => [rule(f, 'add'), route(f, 'add')]),
    down: [`nft delete table ${NFT_TABLE}`, ...families.flatMap((f) => [rule(f, 'del'), route(f, 'del')])],
  };
}
