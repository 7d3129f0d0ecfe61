import { isIP } from 'node:net';
import { z } from 'zod';

/** SOCKS protocol version spoken to the server. */
export type SocksVersion = 5 | 4 | '4a';

/** Validated options of one `type: socks` outbound (its tag is `deps.tag`). */
export interface SocksOptions {
  /** IP literal or host name of the SOCKS server. */
  readonly server: string;
  readonly port: number;
  readonly version: SocksVersion;
  /** SOCKS5: RFC 1929 user name; SOCKS4/4a: the USERID field. */
  readonly username?: string;
  /** SOCKS5 only (RFC 1929). Never logged, never part of an error message. */
  readonly password?: string;
  /** Tag of the outbound that carries this one's traffic (TCP and UDP). */
  readonly via?: string;
  readonly connect_timeout_ms: number;
  readonly handshake_timeout_ms: number;
  /** UDP ASSOCIATE support; true by default for SOCKS5, impossible for 4/4a. */
  readonly udp: boolean;
  /** `SO_MARK` on the sockets it opens to the server (TCP and UDP); only without `via`, whose outbound opens them otherwise. */
  readonly mark?: number;
  /** `SO_BINDTODEVICE` on those sockets: reach the server through this interface only; only without `via`. */
  readonly interface?: string;
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** True for an IP literal or an RFC 1123 host name (underscores tolerated, trailing dot allowed). */
export function isHostOrIp(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  return name.length > 0 && name.length <= 253 && name.split('.').every((label) => HOST_LABEL.test(label));
}

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

const PORT = 'must be 1-65535';
/** Marks may be written as numbers or as hex strings ("0x2"), as for `direct`. */
const mark = z.preprocess(
  (v) => (typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : v),
  z.number({ invalid_type_error: 'must be a number or a hex string like "0x2"' }).int('must be a whole number').min(0, 'must be 0 or more').max(0xffffffff, 'must fit in 32 bits'),
);
const timeout = z
  .number({ invalid_type_error: 'must be a number of milliseconds' })
  .int('must be a whole number of milliseconds')
  .min(1, 'must be at least 1')
  .max(600_000, 'must be at most 600000');

/**
 * Schema of a `socks` outbound's options (the config entry without `tag` and
 * `type`). Every problem is reported at once, at its key (`outbounds[2].port:
 * must be 1-65535`). Whether `via` names another existing outbound, and
 * cycles, are checked by core, which knows all tags.
 */
export const socksOptions: z.ZodType<SocksOptions, z.ZodTypeDef, unknown> = z
  .object({
    server: z
      .string({ required_error: 'required', invalid_type_error: 'must be a string' })
      .refine(isHostOrIp, 'must be an IP address or a host name')
      .describe('IP address or host name of the SOCKS server'),
    port: z
      .number({ required_error: 'required', invalid_type_error: PORT })
      .int(PORT)
      .min(1, PORT)
      .max(65535, PORT)
      .describe("the SOCKS server's port"),
    // YAML gives `4` as a number and `4a` as a string; accept "4" and "5" too.
    version: z
      .union([z.literal(5), z.literal(4), z.literal('5'), z.literal('4'), z.literal('4a')], {
        errorMap: () => ({ message: 'must be 5, 4 or "4a"' }),
      })
      .default(5)
      .transform((v): SocksVersion => (v === '4a' ? '4a' : (Number(v) as 4 | 5)))
      .describe('SOCKS version spoken to the server: `5`, `4` or `"4a"` (SOCKS4 with names)'),
    username: z
      .string({ invalid_type_error: 'must be a string' })
      .refine((s) => byteLength(s) >= 1 && byteLength(s) <= 255, 'must be 1-255 bytes')
      .optional()
      .describe('SOCKS5: the RFC 1929 user name (with `password`); SOCKS4/4a: the USERID field'),
    password: z
      .string({ invalid_type_error: 'must be a string' })
      .refine((s) => byteLength(s) >= 1 && byteLength(s) <= 255, 'must be 1-255 bytes')
      .optional()
      .describe('SOCKS5 only: the RFC 1929 password (with `username`); never logged'),
    via: z
      .string({ invalid_type_error: 'must be the tag of another outbound' })
      .min(1, 'must not be empty')
      .optional()
      .describe("tag of the outbound that carries this one's traffic to the server (a chain); without it, a socket of this host"),
    connect_timeout_ms: timeout.default(10_000).describe('how long reaching the server (or the `via` dial) may take'),
    handshake_timeout_ms: timeout.default(10_000).describe('how long the SOCKS exchange may take once connected'),
    udp: z
      .boolean({ invalid_type_error: 'must be true or false' })
      .optional()
      .describe('carry UDP with UDP ASSOCIATE; default true for SOCKS5, impossible for 4/4a'),
    mark: mark.optional().describe('`SO_MARK` on the sockets to the server (TCP and UDP); only without `via`'),
    interface: z
      .string({ invalid_type_error: 'must be an interface name' })
      .regex(/^[^\s/:"'\\]{1,15}$/, 'must be an interface name (at most 15 characters, no spaces, "/" or ":")')
      .optional()
      .describe('`SO_BINDTODEVICE` on those sockets: reach the server through this interface only; only without `via`'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.version !== 5 && o.password !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['password'], message: 'only SOCKS5 has passwords (SOCKS4 sends username as USERID)' });
    }
    if (o.version === 5 && o.password !== undefined && o.username === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['username'], message: 'required when password is set' });
    }
    if (o.version === 5 && o.username !== undefined && o.password === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['password'], message: 'required when username is set' });
    }
    for (const key of ['mark', 'interface'] as const) {
      if (o.via !== undefined && o[key] !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `only without via: the via outbound opens the socket to the server (set ${key} there)` });
      }
    }
    if (o.version !== 5 && o.udp === true) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['udp'], message: 'UDP needs SOCKS5 (version 5)' });
    }
  })
  .transform(
    (o): SocksOptions => ({
      server: o.server,
      port: o.port,
      version: o.version,
      ...(o.username !== undefined && { username: o.username }),
      ...(o.password !== undefined && { password: o.password }),
      ...(o.via !== undefined && { via: o.via }),
      connect_timeout_ms: o.connect_timeout_ms,
      handshake_timeout_ms: o.handshake_timeout_ms,
      udp: o.udp ?? o.version === 5,
      ...(o.mark !== undefined && { mark: o.mark }),
      ...(o.interface !== undefined && { interface: o.interface }),
    }),
  );
