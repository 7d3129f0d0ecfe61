import { RULE_PROTOCOLS, type ConditionConfig, type PortRange, type RuleProtocol } from './types';
import { ClashSyntaxError, parseClashCondition } from './clash-rules';
import { domainEntryProblem, normalizeDomainName } from './domain-name';
import { PORT, readNetworks } from './endpoints';
import { keysOf } from '../config-keys/field';
import { CONDITION_FIELDS } from '../config-keys/route';
import { parseCidr } from './net';
import { at, checkInt, IssueList, readList, readObject, show, toInt } from './reader';

/** The keys that make a condition, in a rule or inside `all`, `any` and `not`. */
export const CONDITION_KEYS: readonly string[] = keysOf(CONDITION_FIELDS);

/** Tags that conditions may refer to. */
export interface ConditionTags {
  readonly inbounds: ReadonlySet<string>;
  readonly ruleSets: ReadonlySet<string>;
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

/** Reads application protocols: `dns`, `tls`, `http`, `quic` (or a list of them). */
export function readProtocols(v: unknown, path: string, issues: IssueList): RuleProtocol[] | undefined {
  const list = readList<RuleProtocol>(v, path, issues, (item, p) => {
    const name = typeof item === 'string' ? item.trim().toLowerCase() : item;
    if (RULE_PROTOCOLS.includes(name as RuleProtocol)) return name as RuleProtocol;
    issues.add(p, `must be one of ${RULE_PROTOCOLS.join(', ')} (got ${show(item)})`);
    return undefined;
  });
  return list && [...new Set(list)];
}

/** Reads domain names (lower-cased, trailing dot removed); `suffix` admits a leading `.` (names under it only). */
function readDomains(v: unknown, path: string, suffix: boolean, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item !== 'string') {
      issues.add(p, `must be a domain name (got ${show(item)})`);
      return undefined;
    }
    const name = normalizeDomainName(item);
    const problem = domainEntryProblem(suffix && name.startsWith('.') ? name.slice(1) : name);
    if (problem) {
      issues.add(p, problem);
      return undefined;
    }
    return name;
  });
}

function readKeywords(v: unknown, path: string, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item === 'string' && item.trim() !== '') return item.trim().toLowerCase();
    issues.add(p, `must be a non-empty string (got ${show(item)})`);
    return undefined;
  });
}

function readRegexes(v: unknown, path: string, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item !== 'string' || item === '') {
      issues.add(p, `must be a regular expression (got ${show(item)})`);
      return undefined;
    }
    try {
      new RegExp(item, 'i');
      return item;
    } catch (err) {
      issues.add(p, `invalid regular expression: ${(err as Error).message}`);
      return undefined;
    }
  });
}

function readRefs(v: unknown, path: string, known: ReadonlySet<string>, kind: string, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item !== 'string' || item === '') {
      issues.add(p, `must be a non-empty string (got ${show(item)})`);
      return undefined;
    }
    if (!known.has(item)) {
      issues.add(p, `unknown ${kind} "${item}"`);
      return undefined;
    }
    return item;
  });
}

/**
 * Reads the condition keys of `obj` (a rule, or an entry of `all`/`any`/`not`).
 * Absent keys stay absent, so the config prints cleanly.
 */
export function readConditionFields(obj: Record<string, unknown>, path: string, tags: ConditionTags, issues: IssueList): ConditionConfig {
  const out: Record<string, unknown> = {};
  const opt = (key: string, read: (v: unknown, p: string) => unknown): void => {
    if (obj[key] === undefined) return;
    const value = read(obj[key], at(path, key));
    if (value !== undefined) out[key] = value;
  };
  opt('network', (x, p) => readNetworks(x, p, issues));
  opt('inbound', (x, p) => readRefs(x, p, tags.inbounds, 'inbound', issues));
  opt('src_cidr', (x, p) => readCidrs(x, p, issues));
  opt('dst_cidr', (x, p) => readCidrs(x, p, issues));
  opt('src_port', (x, p) => readPorts(x, p, issues));
  opt('dst_port', (x, p) => readPorts(x, p, issues));
  opt('protocol', (x, p) => readProtocols(x, p, issues));
  opt('domain', (x, p) => readDomains(x, p, false, issues));
  opt('domain_suffix', (x, p) => readDomains(x, p, true, issues));
  opt('domain_keyword', (x, p) => readKeywords(x, p, issues));
  opt('domain_regex', (x, p) => readRegexes(x, p, issues));
  opt('rule_set', (x, p) => readRefs(x, p, tags.ruleSets, 'rule set', issues));
  for (const key of ['all', 'any'] as const) {
    opt(key, (x, p) => {
      if (!Array.isArray(x) || x.length === 0) {
        issues.add(p, 'must be a non-empty list of conditions');
        return undefined;
      }
      return x.map((c, i) => readCondition(c, at(p, i), tags, issues));
    });
  }
  opt('not', (x, p) => readCondition(x, p, tags, issues));
  return out as ConditionConfig;
}

/** One entry inside `all`, `any` or `not`: a mapping of conditions, or a Clash condition (`DOMAIN,a.com`). */
export function readCondition(v: unknown, path: string, tags: ConditionTags, issues: IssueList): ConditionConfig {
  if (typeof v === 'string') {
    try {
      const c = parseClashCondition(v).condition;
      for (const problem of unknownRefs(c, tags)) issues.add(path, `${problem} in "${v}"`);
      return c;
    } catch (err) {
      if (!(err instanceof ClashSyntaxError)) throw err;
      issues.add(path, `${err.message} in "${v}"`);
      return {};
    }
  }
  const obj = readObject(v, path, CONDITION_KEYS, issues);
  if (!obj) return {};
  if (!hasCondition(obj)) issues.add(path, `has no condition (one of ${CONDITION_KEYS.join(', ')})`);
  return readConditionFields(obj, path, tags, issues);
}

/** Whether a mapping has at least one condition key. */
export function hasCondition(obj: Record<string, unknown>): boolean {
  return CONDITION_KEYS.some((k) => obj[k] !== undefined);
}

/** `unknown inbound "x"` for each tag a (Clash-read) condition names that does not exist. */
export function unknownRefs(c: ConditionConfig, tags: ConditionTags): string[] {
  const out: string[] = [];
  for (const t of c.inbound ?? []) if (!tags.inbounds.has(t)) out.push(`unknown inbound "${t}"`);
  for (const t of c.rule_set ?? []) if (!tags.ruleSets.has(t)) out.push(`unknown rule set "${t}"`);
  for (const inner of [...(c.all ?? []), ...(c.any ?? []), ...(c.not ? [c.not] : [])]) out.push(...unknownRefs(inner, tags));
  return out;
}
