import type { FlowMetadata, Network } from '@sluice/core';

/** A flow for matcher tests: a TCP flow to 198.51.100.1:443 unless told otherwise. */
export function flow(p: { host?: string; network?: Network; inbound?: string; src?: string; sport?: number; dst?: string; dport?: number } = {}): FlowMetadata {
  return {
    id: '1',
    network: p.network ?? 'tcp',
    inbound: p.inbound ?? 'in',
    src: { address: p.src ?? '192.168.1.10', port: p.sport ?? 40000 },
    dst: { address: p.dst ?? '198.51.100.1', port: p.dport ?? 443, ...(p.host !== undefined ? { host: p.host } : {}) },
  };
}
