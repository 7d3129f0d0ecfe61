import type { PortRange, SluiceConfig } from './types';

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

const ports = (list: readonly PortRange[]): (number | string)[] =>
  list.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`));

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
    route: {
      rules: config.route.rules.map((r) => ({
        ...r,
        ...(r.src_port ? { src_port: ports(r.src_port) } : {}),
        ...(r.dst_port ? { dst_port: ports(r.dst_port) } : {}),
      })),
      final: config.route.final,
    },
    firewall: { ...config.firewall },
    timeouts: { ...config.timeouts },
    udp: { ...config.udp },
    workers: config.workers,
    worker_mode: config.worker_mode,
    relay: { ...config.relay },
  };
}
