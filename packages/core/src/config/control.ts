import { CONTROL_FIELDS, DEFAULT_CONTROL_LISTEN } from '../config-keys/control';
import { fieldOf, keysOf } from '../config-keys/field';
import { isIpLiteral } from './net';
import { at, IssueList, isObj, Obj, readBoolField, readObject, show } from './reader';

/** `control`: the Clash-compatible control API, the built-in dashboard and `/metrics`; absent means off. */
export interface ControlConfig {
  /** IP literal the server binds (`127.0.0.1`, `::1`, `0.0.0.0`…). */
  readonly host: string;
  readonly port: number;
  /** `listen` as written: `host:port`, IPv6 in brackets. */
  readonly listen: string;
  /** Bearer token the API requires; required when `listen` is not a loopback address. */
  readonly secret?: string;
  /** Origins allowed to call the API cross-origin (`*` for any); only with a `secret`. Default `["*"]`. */
  readonly cors_origins: readonly string[];
  /** Serve the built-in dashboard at `/ui/`; default false. */
  readonly ui: boolean;
  /** `GET /metrics` without the secret, for scrapers on a trusted network; default false. */
  readonly metrics_without_auth: boolean;
}

const KEYS = keysOf(CONTROL_FIELDS);

export { DEFAULT_CONTROL_LISTEN } from '../config-keys/control';

/** `host:port` or `[v6]:port` → its parts; undefined when it is neither. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535 || !isIpLiteral(m[1]!)) return undefined;
  return { host: m[1]!, port };
}

/** Whether `host` (an IP literal) only ever reaches this machine: 127.0.0.0/8, `::1`, `::ffff:127.x`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === '::1' || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(h)) return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127\.\d+\.\d+\.\d+$/.test(v4);
}

/**
 * Reads `control`. A non-loopback `listen` without a `secret` is refused:
 * anyone who can reach the port could otherwise read every flow and change
 * the rules.
 */
export function readControl(root: Obj, issues: IssueList): ControlConfig | undefined {
  const v = root.control;
  if (v === undefined || v === null || v === false) return undefined;
  const obj = v === true ? {} : readObject(v, 'control', KEYS, issues);
  if (!obj) return undefined;
  let listen = DEFAULT_CONTROL_LISTEN;
  if (obj.listen !== undefined) {
    if (typeof obj.listen === 'string') listen = obj.listen.trim();
    else issues.add('control.listen', `must be "address:port" (got ${show(obj.listen)})`);
  }
  const parsed = parseListen(listen);
  if (!parsed) issues.add('control.listen', `must be "address:port" with an IP address, IPv6 in brackets (got ${show(obj.listen)})`);
  let secret: string | undefined;
  if (obj.secret !== undefined && obj.secret !== null) {
    if (typeof obj.secret === 'string' && obj.secret !== '') secret = obj.secret;
    else if (obj.secret !== '') issues.add('control.secret', 'must be a non-empty string');
  }
  if (parsed && !secret && !isLoopbackHost(parsed.host)) {
    issues.add('control.secret', `required when control.listen (${listen}) is not a loopback address: without it anyone on the network could drive the API`);
  }
  return {
    host: parsed?.host ?? '127.0.0.1',
    port: parsed?.port ?? 9090,
    listen,
    ...(secret !== undefined ? { secret } : {}),
    cors_origins: readOrigins(obj, issues),
    ui: readBoolField(obj, fieldOf(CONTROL_FIELDS, 'ui'), 'control', issues),
    metrics_without_auth: readBoolField(obj, fieldOf(CONTROL_FIELDS, 'metrics_without_auth'), 'control', issues),
  };
}

function readOrigins(obj: Obj, issues: IssueList): string[] {
  const v = obj.cors_origins;
  if (v === undefined || v === null) return ['*'];
  if (!Array.isArray(v)) {
    issues.add('control.cors_origins', 'must be a list of origins ("https://example.org") or ["*"]');
    return [];
  }
  const out: string[] = [];
  v.forEach((o, i) => {
    if (typeof o === 'string' && (o === '*' || /^https?:\/\/[^/\s]+$/.test(o))) out.push(o);
    else issues.add(at('control.cors_origins', i), `must be "*" or an origin such as "https://example.org" (got ${isObj(o) ? 'a mapping' : show(o)})`);
  });
  return out;
}
