import { isIP } from 'node:net';
import { z } from 'zod';

/** Options of a `direct` outbound. */
export interface DirectOptions {
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

/** Schema of a `direct` outbound's options (the config entry without `tag` and `type`); unknown keys are errors. */
export const directOptions: z.ZodType<DirectOptions, z.ZodTypeDef, unknown> = z
  .object({
    mark: uint32.optional().describe('`SO_MARK` on every outbound socket (a number or `"0x2"`), so Sluice\'s own traffic escapes its capture; needs CAP_NET_ADMIN'),
    interface: z.string().min(1).max(15, 'interface names have at most 15 characters').optional().describe('`SO_BINDTODEVICE`: leave through this interface only'),
    local_address: z
      .union([ip, z.array(ip).min(1).max(2)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional()
      .describe('source address of outbound sockets, at most one per family (the IPv4 one is used for IPv4 destinations)'),
    transparent: z
      .boolean()
      .default(false)
      .describe("`IP_TRANSPARENT`: bind a `local_address` that is not this host's; without `local_address`, bind each flow's client address, so the remote sees the client itself (docs/transparent-outbound.md)"),
    connect_timeout_ms: z
      .number()
      .int()
      .min(1, 'must be 1 or more')
      .max(600_000, 'must be at most 600000')
      .optional()
      .describe("this outbound's own TCP connect timeout; core's `timeouts.connect_ms` when absent"),
  })
  .strict()
  .superRefine((o, ctx) => {
    // One source address per family is all a socket can use; a second would be silently ignored.
    const [a, b] = o.local_address ?? [];
    if (a !== undefined && b !== undefined && isIP(a) === isIP(b)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['local_address', 1], message: `"${b}" is a second IPv${isIP(b)} address; give at most one IPv4 and one IPv6 address` });
    }
  });
