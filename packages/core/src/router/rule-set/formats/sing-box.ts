import { domainEntryProblem, normalizeDomainName } from '../../../config/domain-name';
import { parseCidr } from '../../../config/net';
import type { Network } from '../../../adapter/flow';
import type { ConditionConfig, PortRange } from '../../../config/types';
import type { RuleSetContents } from '../compiled-rule-set';
import { ContentsBuilder } from '../contents-builder';
import { RuleSetParseError } from '../parse-error';

type Obj = Record<string, unknown>;

const DEFAULT_KEYS = new Set([
  'type',
  'domain',
  'domain_suffix',
  'domain_keyword',
  'domain_regex',
  'ip_cidr',
  'source_ip_cidr',
  'port',
  'port_range',
  'source_port',
  'source_port_range',
  'network',
  'invert',
]);
const LOGICAL_KEYS = new Set(['type', 'mode', 'rules', 'invert']);

/**
 * `format: sing-box`: a sing-box source rule-set (`{ "version": 1-3, "rules": [...] }`).
 * Headless rules follow sing-box's logic: the name and `ip_cidr` fields OR
 * together, and that group ANDs with ports, source addresses and network;
 * `invert` negates; `{ "type": "logical", "mode": "and"|"or", "rules": [...] }`
 * nests. Fields Sluice cannot see (process, Wi-Fi, query type…) are an error
 * rather than silently never matching.
 *
 * @throws {RuleSetParseError} naming the first bad rule and field.
 */
export function parseSingBoxRuleSet(text: string): RuleSetContents {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RuleSetParseError(`not JSON: ${(err as Error).message}`);
  }
  if (!isObj(doc)) throw new RuleSetParseError('must be a JSON object with "version" and "rules"');
  if (doc.version !== 1 && doc.version !== 2 && doc.version !== 3) throw new RuleSetParseError(`version: must be 1, 2 or 3 (got ${JSON.stringify(doc.version)})`);
  if (!Array.isArray(doc.rules)) throw new RuleSetParseError('rules: must be a list');
  const b = new ContentsBuilder();
  doc.rules.forEach((r, i) => {
    const path = `rules[${i}]`;
    if (isObj(r) && r.type !== 'logical' && !r.invert && Object.keys(r).every((k) => ADDRESS_KEYS.has(k) || k === 'type' || k === 'invert')) {
      // Names and prefixes only: straight into the shared structures.
      const c = readDefault(r, path);
      for (const k of ['domain', 'domain_suffix', 'domain_keyword', 'domain_regex'] as const) for (const v of c.hosts[k] ?? []) b[k].push(v);
      for (const v of c.cidrs) b.cidrs.push(v);
      return;
    }
    try {
      b.addCondition(readRule(r, path));
    } catch (err) {
      if (err instanceof TypeError) throw new RuleSetParseError(`${path}: ${err.message}`);
      throw err;
    }
  });
  return b.build();
}

const ADDRESS_KEYS = new Set(['domain', 'domain_suffix', 'domain_keyword', 'domain_regex', 'ip_cidr']);

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, path: string): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function strings(v: unknown, path: string): string[] {
  return list(v, path).map((x, i) => {
    if (typeof x !== 'string' || x === '') throw new RuleSetParseError(`${path}[${i}]: must be a non-empty string`);
    return x;
  });
}

function domains(v: unknown, path: string, suffix: boolean): string[] {
  return strings(v, path).map((x, i) => {
    const name = normalizeDomainName(x);
    const problem = domainEntryProblem(suffix && name.startsWith('.') ? name.slice(1) : name);
    if (problem) throw new RuleSetParseError(`${path}[${i}]: ${problem}`);
    return name;
  });
}

function ports(port: unknown, range: unknown, path: string): PortRange[] {
  const out: PortRange[] = [];
  if (port !== undefined) {
    list(port, `${path}.port`).forEach((p, i) => {
      if (!Number.isInteger(p) || (p as number) < 0 || (p as number) > 65535) throw new RuleSetParseError(`${path}[${i}]: must be a port number`);
      out.push({ from: p as number, to: p as number });
    });
  }
  if (range !== undefined) {
    strings(range, path).forEach((r, i) => {
      const m = /^(\d*):(\d*)$/.exec(r.trim());
      const from = m && m[1] !== '' ? Number(m[1]) : 0;
      const to = m && m[2] !== '' ? Number(m[2]) : 65535;
      if (!m || (m[1] === '' && m[2] === '') || from > to || to > 65535) throw new RuleSetParseError(`${path}_range[${i}]: must be "from:to", ":to" or "from:" (got "${r}")`);
      out.push({ from, to });
    });
  }
  return out;
}

function readDefault(r: Obj, path: string): { hosts: Pick<ConditionConfig, 'domain' | 'domain_suffix' | 'domain_keyword' | 'domain_regex'>; cidrs: string[]; rest: ConditionConfig } {
  for (const k of Object.keys(r)) if (!DEFAULT_KEYS.has(k)) throw new RuleSetParseError(`${path}.${k}: not supported by Sluice`);
  const hosts: Record<string, string[]> = {};
  if (r.domain !== undefined) hosts.domain = domains(r.domain, `${path}.domain`, false);
  if (r.domain_suffix !== undefined) hosts.domain_suffix = domains(r.domain_suffix, `${path}.domain_suffix`, true);
  if (r.domain_keyword !== undefined) hosts.domain_keyword = strings(r.domain_keyword, `${path}.domain_keyword`).map((k) => k.toLowerCase());
  if (r.domain_regex !== undefined) {
    hosts.domain_regex = strings(r.domain_regex, `${path}.domain_regex`).map((x, i) => {
      try {
        new RegExp(x, 'i');
      } catch (err) {
        throw new RuleSetParseError(`${path}.domain_regex[${i}]: ${(err as Error).message}`);
      }
      return x;
    });
  }
  const cidrs = (key: string): string[] =>
    strings(r[key], `${path}.${key}`).map((x, i) => {
      if (!parseCidr(x)) throw new RuleSetParseError(`${path}.${key}[${i}]: invalid CIDR "${x}"`);
      return x.trim();
    });
  const rest: Record<string, unknown> = {};
  if (r.source_ip_cidr !== undefined) rest.src_cidr = cidrs('source_ip_cidr');
  if (r.port !== undefined || r.port_range !== undefined) rest.dst_port = ports(r.port, r.port_range, `${path}.port`);
  if (r.source_port !== undefined || r.source_port_range !== undefined) rest.src_port = ports(r.source_port, r.source_port_range, `${path}.source_port`);
  if (r.network !== undefined) {
    rest.network = strings(r.network, `${path}.network`).map((n) => {
      if (n !== 'tcp' && n !== 'udp') throw new RuleSetParseError(`${path}.network: must be "tcp" or "udp" (got "${n}")`);
      return n as Network;
    });
  }
  return { hosts, cidrs: r.ip_cidr === undefined ? [] : cidrs('ip_cidr'), rest };
}

/** One headless rule as a condition with Sluice's semantics (domain fields OR'ed; the rest AND'ed). */
function readRule(r: unknown, path: string): ConditionConfig {
  if (!isObj(r)) throw new RuleSetParseError(`${path}: must be an object`);
  let c: ConditionConfig;
  if (r.type === 'logical') {
    for (const k of Object.keys(r)) if (!LOGICAL_KEYS.has(k)) throw new RuleSetParseError(`${path}.${k}: not a key of a logical rule`);
    if (r.mode !== 'and' && r.mode !== 'or') throw new RuleSetParseError(`${path}.mode: must be "and" or "or"`);
    if (!Array.isArray(r.rules) || r.rules.length === 0) throw new RuleSetParseError(`${path}.rules: must be a non-empty list`);
    const inner = r.rules.map((x, i) => readRule(x, `${path}.rules[${i}]`));
    c = r.mode === 'and' ? { all: inner } : { any: inner };
  } else {
    if (r.type !== undefined && r.type !== 'default') throw new RuleSetParseError(`${path}.type: must be "default" or "logical"`);
    const { hosts, cidrs, rest } = readDefault(r, path);
    const hasHosts = Object.keys(hosts).length > 0;
    const address: ConditionConfig | undefined =
      hasHosts && cidrs.length > 0 ? { any: [hosts, { dst_cidr: cidrs }] } : hasHosts ? hosts : cidrs.length > 0 ? { dst_cidr: cidrs } : undefined;
    c = address ? (Object.keys(rest).length > 0 ? { all: [address, rest] } : address) : rest;
    if (Object.keys(c).length === 0) throw new RuleSetParseError(`${path}: has no condition`);
  }
  return r.invert === true ? { not: c } : c;
}
