import { isIP } from 'node:net';
import type { SluiceConfig } from '../config/types';

/** What `dns.hijack: true` adds to the ruleset. */
export interface DnsHijackRules {
  /** For the TPROXY prerouting chain, before steering: port 53 is left to the nat chain. */
  readonly exempt: string[];
  /** The nat chain that redirects clients' DNS to the resolver. */
  readonly chain: string[];
}

const isWildcard = (a: string): boolean => a === '0.0.0.0' || a === '::';
const isLoopback = (a: string): boolean => a.startsWith('127.') || a === '::1';

/**
 * Where redirected queries of one family go: `redirect` (to the address they
 * arrived on) when the resolver listens on a wildcard, else `dnat` to its
 * first non-loopback address of that family. Loopback cannot receive packets
 * from other hosts (the kernel drops them as martians), so it is never a target.
 */
function target(config: SluiceConfig, family: 4 | 6): string | undefined {
  const listen = config.dns?.listen.filter((l) => isIP(l.address) === family) ?? [];
  const wild = listen.find((l) => isWildcard(l.address));
  if (wild) return `redirect to :${wild.port}`;
  const addr = listen.find((l) => !isLoopback(l.address));
  if (!addr) return undefined;
  return family === 4 ? `dnat ip to ${addr.address}:${addr.port}` : `dnat ip6 to [${addr.address}]:${addr.port}`;
}

/**
 * The capture of clients' DNS (UDP and TCP port 53, IPv4 and IPv6) to
 * `dns.listen`, when `dns.hijack` is true. Only packets arriving from other
 * hosts (prerouting) are redirected: the gateway's own resolver and Sluice's
 * own upstream queries leave through output and are never captured here.
 */
export function renderDnsHijack(config: SluiceConfig): DnsHijackRules | undefined {
  if (!config.dns?.hijack) return undefined;
  const families = ([4, 6] as const).map((f) => ({ f, to: target(config, f) })).filter((x) => x.to !== undefined);
  const iifs = config.firewall.interfaces;
  return {
    exempt: ['\t\t# Clients\' DNS is redirected to the resolver by the dns_hijack chain, not captured here.', '\t\tmeta l4proto { tcp, udp } th dport 53 return'],
    chain: [
      '',
      '\tchain dns_hijack {',
      '\t\ttype nat hook prerouting priority dstnat; policy accept;',
      '\t\tiif lo return',
      ...(iifs.length > 0 ? [`\t\tiifname != { ${iifs.map((n) => `"${n}"`).join(', ')} } return`] : []),
      ...families.map(({ f, to }) => `\t\tmeta nfproto ipv${f} meta l4proto { tcp, udp } th dport 53 ${to!}`),
      '\t}',
    ],
  };
}
