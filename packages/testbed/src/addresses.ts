import { formatEndpoint as formatCoreEndpoint } from '@sluice/core';

/** The three namespaces of a topology, by role. */
export type NamespaceRole = 'client' | 'gw' | 'remote';

/** All roles, in the order they are created. */
export const NAMESPACE_ROLES: readonly NamespaceRole[] = ['client', 'gw', 'remote'];

/** One interface's addresses inside a namespace. */
export interface InterfaceAddresses {
  /** Interface name inside its namespace (names are per namespace, so they never clash with the host's). */
  readonly dev: string;
  readonly v4: string;
  readonly v6: string;
  readonly v4PrefixLen: number;
  readonly v6PrefixLen: number;
}

/**
 * Addressing plan. Only benchmarking (198.18.0.0/15, RFC 2544) and
 * documentation (2001:db8::/32, RFC 3849) ranges, so nothing here can collide
 * with a real network the host is attached to.
 */
export interface TopologyAddresses {
  /** The client's side of the client↔gw link. */
  readonly client: InterfaceAddresses;
  /** The gateway's interface towards the client (its addresses are the client's default gateway). */
  readonly gwLan: InterfaceAddresses;
  /** The gateway's interface towards the remote: what the remote sees when Sluice dials. */
  readonly gwWan: InterfaceAddresses;
  /** The remote's side of the gw↔remote link. */
  readonly remote: InterfaceAddresses;
}

/** The fixed addressing plan every topology uses. */
export const TOPOLOGY_ADDRESSES: TopologyAddresses = {
  client: { dev: 'eth0', v4: '198.18.1.2', v6: '2001:db8:1::2', v4PrefixLen: 24, v6PrefixLen: 64 },
  gwLan: { dev: 'lan0', v4: '198.18.1.1', v6: '2001:db8:1::1', v4PrefixLen: 24, v6PrefixLen: 64 },
  gwWan: { dev: 'wan0', v4: '198.19.2.1', v6: '2001:db8:2::1', v4PrefixLen: 24, v6PrefixLen: 64 },
  remote: { dev: 'eth0', v4: '198.19.2.2', v6: '2001:db8:2::2', v4PrefixLen: 24, v6PrefixLen: 64 },
};

/**
 * Formats an endpoint the way Sluice's access log does (`1.2.3.4:80`,
 * `[2001:db8::1]:80`), by calling core's own formatter so tests compare
 * against exactly what Sluice prints.
 */
export function formatEndpoint(address: string, port: number): string {
  return formatCoreEndpoint({ address, port });
}
