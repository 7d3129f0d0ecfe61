import { configErrorFromZod } from '@sluice/core';
import { isIP } from 'node:net';
import { z } from 'zod';

/** Options of a `direct` outbound. */
export interface DirectOptions {
  readonly tag: string;
  /** `SO_MARK` on every outbound socket, so Sluice's own traffic bypasses its TPROXY rules. */
  readonly mark?: number;
  /** `SO_BINDTODEVICE`: leave through this interface only. */
  readonly interface?: string;
  /** Source address for outbound sockets (an IPv4 one is used for IPv4 destinations, an IPv6 one for IPv6). */
  readonly local_address?: readonly string[];
  /** Bind `local_address` even when it is not an address of this host (IP_TRANSPARENT). */
  readonly transparent: boolean;
  /** This outbound's own TCP connect timeout; core's `timeouts.connect_ms` applies when absent. */
  readonly connect_timeout_ms?: number;
}

/** Marks may be written as numbers or as hex strings ("0x2"), as in iptables and nft. */
const uint32 = z.preprocess(
  (v) => (typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : v),
  z.number({ invalid_type_error: 'must be a number or a hex string like "0x2"' }).int().min(0, 'must be 0 or more').max(0xffffffff, 'must fit in 32 bits'),
);

const ip = z.string().refine((s) => isIP(s) !== 0, (s) => ({ message: `"${s}" is not an IP address` }));

const schema = z
  .object({
    tag: z.string().min(1),
    type: z.literal('direct'),
    mark: uint32.optional(),
    interface: z.string().min(1).max(15, 'interface names have at most 15 characters').optional(),
    local_address: z.union([ip, z.array(ip).min(1).max(2)]).optional(),
    transparent: z.boolean().default(false),
    connect_timeout_ms: z.number().int().min(1, 'must be 1 or more').max(600_000, 'must be at most 600000').optional(),
  })
  .strict();

/** Validates a `direct` outbound entry; throws a {@link ConfigError} naming each bad key. */
export function parseDirectOptions(raw: Record<string, unknown>, path: string): DirectOptions {
  const r = schema.safeParse(raw);
  if (!r.success) throw configErrorFromZod(r.error.issues, path);
  const d = r.data;
  const local = d.local_address === undefined ? undefined : Array.isArray(d.local_address) ? d.local_address : [d.local_address];
  return { tag: d.tag, mark: d.mark, interface: d.interface, local_address: local, transparent: d.transparent, connect_timeout_ms: d.connect_timeout_ms };
}
