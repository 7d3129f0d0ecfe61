import type { SluiceConfig } from './types';
import { routeToDocument } from './rule-document';

/** What replaces a secret in printed configs. */
export const REDACTED = '[redacted]';

const SECRET_KEYS = new Set([
  'password',
  'passwd',
  'pass',
  'token',
  'secret',
  'username',
  'user',
  'auth',
  'authorization',
  'private_key',
  'api_key',
  'psk',
]);

/** True for key names whose values must never be printed (`password`, `admin_token`, `client_secret`…). */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/-/g, '_');
  return SECRET_KEYS.has(k) || /_(password|token|secret|private_key)$/.test(k);
}

/**
 * Deep copy of `raw` with the value of every secret-looking key (see
 * `isSecretKey`) replaced by `"[redacted]"`, at any depth, so a config
 * can be echoed or logged without credentials.
 */
export function redactConfig<T>(raw: T): T {
  return redact(raw) as T;
}

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = isSecretKey(k) && x !== null && x !== undefined ? REDACTED : redact(x);
  return out;
}

/**
 * The normalised config in the shape of a config file (every default filled
 * in, outbounds as written), so the output of `sluice check --print` loads
 * again. Not redacted: pass the result through {@link redactConfig}.
 */
export function toConfigDocument(config: SluiceConfig): Record<string, unknown> {
  return {
    log: { ...config.log },
    plugins: [...config.plugins],
    inbounds: config.inbounds.map((i) => ({ ...i, network: [...i.network] })),
    outbounds: config.outbounds.map((o) => ({ ...o.raw })),
    route: routeToDocument(config.route),
    firewall: { ...config.firewall },
    timeouts: { ...config.timeouts },
    udp: { ...config.udp },
    workers: config.workers,
    worker_mode: config.worker_mode,
    relay: { ...config.relay },
  };
}
