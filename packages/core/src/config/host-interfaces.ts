import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { ConfigIssue } from '../errors';
import type { FirewallConfig } from './types';

/** What the capture warning needs to know of this host; injectable so tests need no particular host. */
export interface HostInterfaces {
  /** Interface names that have an address, lo included. */
  readonly names: readonly string[];
  /** Interfaces that hold a default route (IPv4 or IPv6). */
  readonly defaultRoute: readonly string[];
}

/** Interfaces of `/proc/net/route` lines whose destination and mask are 0 (the default route). */
export function defaultRouteInterfacesV4(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000') out.push(f[0]!);
  }
  return out;
}

/** Interfaces of `/proc/net/ipv6_route` lines for `::/0`, leaving out the kernel's unreachable entries on lo. */
export function defaultRouteInterfacesV6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[9] !== 'lo') out.push(f[9]!);
  }
  return out;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** This host's interfaces and default-route interfaces, read from `os.networkInterfaces()` and /proc. */
export function readHostInterfaces(): HostInterfaces {
  return {
    names: Object.keys(networkInterfaces()),
    defaultRoute: [...new Set([...defaultRouteInterfacesV4(readOr('/proc/net/route')), ...defaultRouteInterfacesV6(readOr('/proc/net/ipv6_route'))])],
  };
}

/**
 * In gateway mode with no `firewall.interfaces`, every interface but lo is
 * captured, the upstream one too: traffic arriving from the internet for
 * other hosts would be proxied. Names the interfaces that would be captured,
 * the default-route ones marked.
 */
export function checkCapturedInterfaces(firewall: FirewallConfig, host: HostInterfaces): ConfigIssue[] {
  if (firewall.local || firewall.interfaces.length > 0) return [];
  const captured = [...new Set([...host.names, ...host.defaultRoute])].filter((n) => n !== 'lo').sort();
  if (captured.length === 0) return [];
  const named = captured.map((n) => (host.defaultRoute.includes(n) ? `${n} (default route)` : n));
  return [
    {
      path: 'firewall.interfaces',
      message: `empty, so traffic arriving on every interface but lo is captured: ${named.join(', ')}; list the client-facing interfaces only`,
    },
  ];
}
