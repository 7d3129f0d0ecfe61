import type { OptionsSchema, SchemaIssue } from '../../adapter/plugin';
import { keysOf, objectSchema } from '../../config-keys/field';
import { CHECK_DEFAULTS as CHECK_FIELD_DEFAULTS, CHECK_FIELDS, GROUP_TYPES, groupFields, LOAD_BALANCE_STRATEGIES, type GroupType } from '../../config-keys/groups';

export { GROUP_TYPES, type GroupType } from '../../config-keys/groups';

/** True when `type` names a group type. */
export function isGroupType(type: string): type is GroupType {
  return (GROUP_TYPES as readonly string[]).includes(type);
}

/** How a `load-balance` group spreads flows. */
export type LoadBalanceStrategy = 'consistent-hashing' | 'round-robin' | 'sticky-sessions';
const STRATEGIES: readonly LoadBalanceStrategy[] = LOAD_BALANCE_STRATEGIES;

/** A group's health check (`check:`), defaults applied. */
export interface CheckSettings {
  /** A plain `http://` URL requested through each member. */
  readonly url: string;
  readonly interval_ms: number;
  readonly timeout_ms: number;
  /** Check only when a flow used the group since the last check. */
  readonly lazy: boolean;
}

/** Defaults of `check:` (mihomo's URL and interval). */
export const CHECK_DEFAULTS: CheckSettings = CHECK_FIELD_DEFAULTS;

/** A group's parsed options. `check` is undefined for a selector without one (it is never checked on a timer). */
export interface GroupOptions {
  readonly outbounds: readonly string[];
  readonly check: CheckSettings | undefined;
  /** `selector`: the member selected at start (default the first). */
  readonly default?: string;
  /** `url-test`: how much faster another member must be before the group switches (default 50). */
  readonly tolerance_ms: number;
  /** `load-balance` (default `consistent-hashing`). */
  readonly strategy: LoadBalanceStrategy;
  /** `load-balance` with `sticky-sessions`: how long a source and destination stay on one member since last used (default 10 min). */
  readonly sticky_ttl_ms: number;
}

const CHECK_KEYS = keysOf(CHECK_FIELDS);

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min;
}

/** Why `url` cannot be a health-check URL, or undefined. */
function urlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string') return 'must be a plain http:// URL';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (u.protocol !== 'http:') return `must be a plain http:// URL (checks send their own request; ${u.protocol} is not supported)`;
  if (u.hostname === '') return 'needs a host';
  return undefined;
}

function parseCheck(raw: unknown, issues: SchemaIssue[]): CheckSettings {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path: ['check'], message: 'must be a mapping: { url, interval_ms, timeout_ms, lazy }' });
    return CHECK_DEFAULTS;
  }
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!CHECK_KEYS.includes(k)) issues.push({ path: ['check', k], message: `unknown key "${k}"` });
  const out = { ...CHECK_DEFAULTS };
  if (c.url !== undefined) {
    const p = urlProblem(c.url);
    if (p) issues.push({ path: ['check', 'url'], message: p });
    else out.url = c.url as string;
  }
  if (c.interval_ms !== undefined) {
    if (isInt(c.interval_ms, 100)) out.interval_ms = c.interval_ms;
    else issues.push({ path: ['check', 'interval_ms'], message: 'must be an integer of at least 100 (milliseconds)' });
  }
  if (c.timeout_ms !== undefined) {
    if (isInt(c.timeout_ms, 1)) out.timeout_ms = c.timeout_ms;
    else issues.push({ path: ['check', 'timeout_ms'], message: 'must be a positive integer (milliseconds)' });
  }
  if (c.lazy !== undefined) {
    if (typeof c.lazy === 'boolean') out.lazy = c.lazy;
    else issues.push({ path: ['check', 'lazy'], message: 'must be true or false' });
  }
  return out;
}

/** The options schema of group type `type` (core has no zod, so it is written out). */
export function groupOptionsSchema(type: GroupType): OptionsSchema<GroupOptions> {
  const fields = groupFields(type);
  const keys = keysOf(fields);
  return {
    jsonSchema: objectSchema(fields),
    safeParse(input) {
      const issues: SchemaIssue[] = [];
      const o = (input ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!keys.includes(k)) issues.push({ path: [k], message: `unknown key "${k}" for type ${type}` });
      const members: string[] = [];
      if (!Array.isArray(o.outbounds) || o.outbounds.length === 0) {
        issues.push({ path: ['outbounds'], message: 'must list the member outbounds by tag (at least one)' });
      } else {
        o.outbounds.forEach((m, i) => {
          if (typeof m !== 'string' || m === '') issues.push({ path: ['outbounds', i], message: 'must be an outbound tag' });
          else if (members.includes(m)) issues.push({ path: ['outbounds', i], message: `"${m}" is listed twice` });
          else members.push(m);
        });
      }
      let def: string | undefined;
      if (o.default !== undefined) {
        if (typeof o.default !== 'string' || !members.includes(o.default)) issues.push({ path: ['default'], message: `must be one of outbounds (${members.join(', ')})` });
        else def = o.default;
      }
      let tolerance = 50;
      if (o.tolerance_ms !== undefined) {
        if (isInt(o.tolerance_ms, 0)) tolerance = o.tolerance_ms;
        else issues.push({ path: ['tolerance_ms'], message: 'must be a non-negative integer (milliseconds)' });
      }
      let strategy: LoadBalanceStrategy = 'consistent-hashing';
      if (o.strategy !== undefined) {
        if (STRATEGIES.includes(o.strategy as LoadBalanceStrategy)) strategy = o.strategy as LoadBalanceStrategy;
        else issues.push({ path: ['strategy'], message: `must be one of ${STRATEGIES.join(', ')}` });
      }
      let ttl = 600_000;
      if (o.sticky_ttl_ms !== undefined) {
        if (isInt(o.sticky_ttl_ms, 1)) ttl = o.sticky_ttl_ms;
        else issues.push({ path: ['sticky_ttl_ms'], message: 'must be a positive integer (milliseconds)' });
      }
      const check = o.check !== undefined ? parseCheck(o.check, issues) : type === 'selector' ? undefined : CHECK_DEFAULTS;
      if (issues.length > 0) return { success: false, error: { issues } };
      return { success: true, data: { outbounds: members, check, default: def, tolerance_ms: tolerance, strategy, sticky_ttl_ms: ttl } };
    },
  };
}
