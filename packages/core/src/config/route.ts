import type { PortRange, RouteConfig, RuleConfig } from './types';
import { PORT, readNetworks } from './endpoints';
import { parseCidr } from './net';
import { at, checkInt, IssueList, Obj, readInt, readList, readObject, readString, show, toInt } from './reader';
import { DEFAULTS, MAX_TIMER_MS } from './defaults';

const ROUTE_KEYS = ['rules', 'final', 'hook_timeout_ms'] as const;
const RULE_KEYS = ['name', 'network', 'inbound', 'src_cidr', 'dst_cidr', 'src_port', 'dst_port', 'outbound'] as const;
const MATCH_KEYS = ['network', 'inbound', 'src_cidr', 'dst_cidr', 'src_port', 'dst_port'] as const;

/** Tags that rules may refer to. */
export interface KnownTags {
  readonly inbounds: ReadonlySet<string>;
  readonly outbounds: ReadonlySet<string>;
  /** The outbound list as written, to default `final` when there is only one. */
  readonly outboundOrder: readonly string[];
}

/** Reads a list of CIDRs or bare IPs (or a single one). */
export function readCidrs(v: unknown, path: string, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item === 'string' && parseCidr(item)) return item.trim();
    issues.add(p, `invalid CIDR ${show(item)}`);
    return undefined;
  });
}

/** Reads ports: `53`, `"5000-5100"`, or a list of them. */
export function readPorts(v: unknown, path: string, issues: IssueList): PortRange[] | undefined {
  return readList<PortRange>(v, path, issues, (item, p) => {
    const range = typeof item === 'string' ? /^\s*([^-\s]+)\s*-\s*([^-\s]+)\s*$/.exec(item) : null;
    if (!range) {
      const n = checkInt(item, p, PORT, issues);
      return n === undefined ? undefined : { from: n, to: n };
    }
    const from = toInt(range[1]);
    const to = toInt(range[2]);
    if (from === undefined || to === undefined) {
      issues.add(p, `invalid port range ${show(item)}`);
      return undefined;
    }
    if (from < PORT.min || to > PORT.max) {
      issues.add(p, `port range ${show(item)}: ports must be 1-65535`);
      return undefined;
    }
    if (from > to) {
      issues.add(p, `port range ${show(item)}: start is greater than end`);
      return undefined;
    }
    return { from, to };
  });
}

function readTagRef(v: unknown, path: string, known: ReadonlySet<string>, kind: string, issues: IssueList): string | undefined {
  if (typeof v !== 'string' || v === '') {
    issues.add(path, `must be a non-empty string (got ${show(v)})`);
    return undefined;
  }
  if (!known.has(v)) {
    issues.add(path, `unknown ${kind} "${v}"`);
    return undefined;
  }
  return v;
}

function readRule(v: unknown, i: number, tags: KnownTags, issues: IssueList): RuleConfig | undefined {
  const path = at('route.rules', i);
  const obj = readObject(v, path, RULE_KEYS, issues);
  if (!obj) return undefined;
  const before = issues.length;
  if (!MATCH_KEYS.some((k) => obj[k] !== undefined)) {
    issues.add(path, `has no match condition (one of ${MATCH_KEYS.join(', ')}); use route.final for a catch-all`);
  }
  const name = obj.name === undefined ? `rules[${i}]` : readString(obj, 'name', path, issues);
  const opt = <T>(key: string, read: (v: unknown, p: string) => T | undefined): T | undefined =>
    (obj as Obj)[key] === undefined ? undefined : read((obj as Obj)[key], at(path, key));
  const rule: RuleConfig = {
    name: name ?? '',
    network: opt('network', (x, p) => readNetworks(x, p, issues)),
    inbound: opt('inbound', (x, p) => readList(x, p, issues, (t, tp) => readTagRef(t, tp, tags.inbounds, 'inbound', issues))),
    src_cidr: opt('src_cidr', (x, p) => readCidrs(x, p, issues)),
    dst_cidr: opt('dst_cidr', (x, p) => readCidrs(x, p, issues)),
    src_port: opt('src_port', (x, p) => readPorts(x, p, issues)),
    dst_port: opt('dst_port', (x, p) => readPorts(x, p, issues)),
    outbound:
      obj.outbound === undefined
        ? (issues.add(at(path, 'outbound'), 'required'), '')
        : (readTagRef(obj.outbound, at(path, 'outbound'), tags.outbounds, 'outbound', issues) ?? ''),
  };
  if (issues.length !== before) return undefined;
  // Absent match fields stay absent rather than undefined-valued keys, so the config prints cleanly.
  return Object.fromEntries(Object.entries(rule).filter(([, x]) => x !== undefined)) as unknown as RuleConfig;
}

/** Reads `route`: each rule's conditions and references, and `final` (defaulting to a sole outbound). */
export function readRoute(v: unknown, tags: KnownTags, issues: IssueList): RouteConfig {
  const obj = v === undefined || v === null ? {} : (readObject(v, 'route', ROUTE_KEYS, issues) ?? {});
  const rules: RuleConfig[] = [];
  if (obj.rules !== undefined && obj.rules !== null) {
    if (!Array.isArray(obj.rules)) issues.add('route.rules', 'must be a list');
    else
      obj.rules.forEach((r, i) => {
        const rule = readRule(r, i, tags, issues);
        if (rule) rules.push(rule);
      });
  }
  let final = '';
  if (obj.final !== undefined && obj.final !== null) {
    final = readTagRef(obj.final, 'route.final', tags.outbounds, 'outbound', issues) ?? '';
  } else if (tags.outboundOrder.length === 1) {
    final = tags.outboundOrder[0];
  } else if (tags.outboundOrder.length > 1) {
    issues.add('route.final', 'required when there is more than one outbound (names the outbound for flows no rule matches)');
  }
  const hookTimeoutMs = readInt(obj, 'hook_timeout_ms', 'route', { min: 1, max: MAX_TIMER_MS }, DEFAULTS.route.hook_timeout_ms, issues);
  return { rules, final, hook_timeout_ms: hookTimeoutMs };
}
