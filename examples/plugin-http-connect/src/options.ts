import { isIP } from 'node:net';
import { z } from 'zod';

const PORT = 'must be 1-65535';
const LABEL = /^[A-Za-z0-9_-]{1,63}$/;

/** An IP literal or a host name (underscores tolerated, trailing dot allowed): nothing that could break a request line. */
export function isHostOrIp(value: string): boolean {
  if (isIP(value) !== 0) return true;
  return value.length <= 254 && value.replace(/\.$/, '').split('.').every((label) => LABEL.test(label));
}

/**
 * The options of one `type: http-connect` outbound (core checks `tag`, `type`,
 * whether `via` names an outbound, and cycles). Errors read like core's:
 * `outbounds[2].port: must be 1-65535`.
 */
export const httpConnectOptions = z
  .object({
    server: z.string({ required_error: 'required', invalid_type_error: 'must be a string' }).refine(isHostOrIp, 'must be an IP address or a host name'),
    port: z.number({ required_error: 'required', invalid_type_error: PORT }).int(PORT).min(1, PORT).max(65535, PORT),
    // RFC 7617: the user-id of Basic auth cannot contain a colon; control characters have no place in either.
    username: z
      .string({ invalid_type_error: 'must be a string' })
      .regex(/^[^:\x00-\x1f\x7f]+$/, 'must be non-empty, without ":" or control characters')
      .optional(),
    password: z
      .string({ invalid_type_error: 'must be a string' })
      .regex(/^[^\x00-\x1f\x7f]+$/, 'must be non-empty, without control characters')
      .optional(),
    via: z.string({ invalid_type_error: 'must be the tag of another outbound' }).min(1, 'must not be empty').optional(),
    connect_timeout_ms: z
      .number({ invalid_type_error: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(1, 'must be at least 1')
      .max(600_000, 'must be at most 600000')
      .default(10_000),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.username === undefined) !== (o.password === undefined)) {
      const missing = o.username === undefined ? 'username' : 'password';
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [missing], message: `required when ${missing === 'username' ? 'password' : 'username'} is set` });
    }
  });

/** Validated options of one `http-connect` outbound. */
export type HttpConnectOptions = z.output<typeof httpConnectOptions>;
