import type { Endpoint } from '../adapter/flow';

/** Strips the `::ffff:` prefix Node and the kernel use for IPv4 on dual-stack sockets. */
export function unmapAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** `1.2.3.4:80` or `[2001:db8::1]:80`, the form used in logs. */
export function formatEndpoint(ep: Endpoint): string {
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** 4 or 6 for an IP literal. */
export function addressFamily(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** True for the unspecified addresses `0.0.0.0` and `::`. */
export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}
