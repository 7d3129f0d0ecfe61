import { fieldOf, keysOf } from '../config-keys/field';
import { DNS_CACHE_FIELDS, DNS_DEFAULTS, DNS_FIELDS, DNS_RULE_FIELDS, DNS_UPSTREAM_FIELDS, UPSTREAM_URL_PATTERN } from '../config-keys/dns';
import { parseCidr } from './net';

export { DNS_DEFAULTS } from '../config-keys/dns';
import { at, checkInt, IssueList, isObj, Obj, readBoolField, readIntField, readList, readObject, show } from './reader';

/** One upstream resolver of `dns.upstreams`. */
export interface DnsUpstreamConfig {
  /** Name that `dns.rules[].upstream` refers to; `upstreams[i]` when not written. */
  readonly tag: string;
  /** `udp://IP[:port]`, `tcp://IP[:port]`, `tls://host[:port]`, `https://host[:port]/path`. */
  readonly address: string;
  /** Outbound tag whose `dialTcp`/`dialUdp` carries the queries; absent = a plain socket of this host. */
  readonly via?: string;
  /** `https://` only: how queries are sent (RFC 8484): `POST` (default) or `GET` with `?dns=`. */
  readonly method?: 'GET' | 'POST';
}

/** One entry of `dns.rules`: names it matches go to `upstream`. */
export interface DnsRuleConfig {
  readonly domain?: readonly string[];
  readonly domain_suffix?: readonly string[];
  /** Tags of `route.rule_sets`. */
  readonly rule_set?: readonly string[];
  readonly upstream: string;
}

/** `dns.cache`. */
export interface DnsCacheConfig {
  /** Most cached answers; 0 disables the cache. */
  readonly size: number;
  /** TTLs below this are raised to it (seconds). */
  readonly min_ttl: number;
  /** TTLs above this are lowered to it (seconds). */
  readonly max_ttl: number;
  /** How long NXDOMAIN and empty answers are kept when the upstream's SOA gives no TTL (seconds). */
  readonly negative_ttl: number;
}

/** `dns`: the built-in resolver; absent means no resolver runs. */
export interface DnsConfig {
  /** `address:port` entries (IPv6 in brackets); each gets a UDP and a TCP listener. */
  readonly listen: readonly { readonly address: string; readonly port: number }[];
  readonly upstreams: readonly DnsUpstreamConfig[];
  readonly rules: readonly DnsRuleConfig[];
  readonly cache: DnsCacheConfig;
  /** Static names: name → addresses. */
  readonly hosts: Readonly<Record<string, readonly string[]>>;
  /** `mapping` (default): real answers, IP → name remembered. `fake-ip`: A/AAAA from `fake_ip_range`. */
  readonly mode: 'mapping' | 'fake-ip';
  /** Most IP → name entries kept in `mapping` mode (least recently used dropped first). */
  readonly mapping_size: number;
  readonly fake_ip_range: readonly string[];
  /** Names that always get real answers: `*.lan`, `+.example.com`, `example.com`, `rule-set:TAG`. */
  readonly fake_ip_filter: readonly string[];
  /** File the fake-IP mapping is kept in across restarts. */
  readonly fake_ip_store: string;
  /** `sluice rules` captures clients' DNS (UDP and TCP 53) to the first `listen` address. */
  readonly hijack: boolean;
}

const DNS_KEYS = keysOf(DNS_FIELDS);
const UPSTREAM_KEYS = keysOf(DNS_UPSTREAM_FIELDS);
const RULE_KEYS = keysOf(DNS_RULE_FIELDS);
const CACHE_KEYS = keysOf(DNS_CACHE_FIELDS);


const UPSTREAM_URL = new RegExp(UPSTREAM_URL_PATTERN);
// Letters, digits, '-', '_' per label; '*' and '+' only as the whole first label of a pattern.
const DOMAIN = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/i;

/** Parses `address:port` / `[v6]:port` as written in `dns.listen`. */
export function parseListenAddress(text: string): { address: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  const cidr = parseCidr(m[1]);
  if (!cidr || cidr.prefix !== (cidr.family === 4 ? 32 : 128) || m[1].includes('/')) return undefined;
  if (port < 1 || port > 65535) return undefined;
  return { address: m[1], port };
}

/** A lower-case name without its trailing dot. */
export function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function readDomains(v: unknown, path: string, issues: IssueList, allowPattern = false): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item !== 'string') {
      issues.add(p, `must be a domain name (got ${show(item)})`);
      return undefined;
    }
    const bare = allowPattern ? item.replace(/^[*+]\./, '') : item;
    if (allowPattern && item.startsWith('rule-set:')) return item;
    if (!DOMAIN.test(canonicalName(bare))) {
      issues.add(p, `invalid domain ${show(item)}`);
      return undefined;
    }
    return canonicalName(item);
  });
}

function readStringList(v: unknown, path: string, issues: IssueList): string[] | undefined {
  return readList<string>(v, path, issues, (item, p) => {
    if (typeof item === 'string' && item !== '') return item;
    issues.add(p, `must be a non-empty string (got ${show(item)})`);
    return undefined;
  });
}

/** Tags the `dns` section may name elsewhere in the config. */
export interface DnsRefs {
  readonly outbounds: ReadonlySet<string>;
  /** Tags of `route.rule_sets`. */
  readonly ruleSets: ReadonlySet<string>;
}

function readUpstream(v: unknown, i: number, refs: DnsRefs, issues: IssueList): DnsUpstreamConfig | undefined {
  const path = at('dns.upstreams', i);
  const obj: Obj | undefined = typeof v === 'string' ? { address: v } : readObject(v, path, UPSTREAM_KEYS, issues);
  if (!obj) return undefined;
  const before = issues.length;
  const address = obj.address;
  if (typeof address !== 'string' || !UPSTREAM_URL.test(address)) {
    issues.add(at(path, 'address'), `must be udp://IP[:port], tcp://IP[:port], tls://host[:port] or https://host/path (got ${show(address)})`);
  } else if (!upstreamUrlValid(address)) {
    issues.add(at(path, 'address'), `invalid upstream ${show(address)}: udp:// and tcp:// take an IP address, and the port must be 1-65535`);
  }
  const tag = obj.tag === undefined ? `upstreams[${i}]` : obj.tag;
  if (typeof tag !== 'string' || tag === '') issues.add(at(path, 'tag'), `must be a non-empty string (got ${show(tag)})`);
  if (obj.via !== undefined && (typeof obj.via !== 'string' || !refs.outbounds.has(obj.via))) {
    issues.add(at(path, 'via'), `unknown outbound ${show(obj.via)}`);
  }
  let method: 'GET' | 'POST' | undefined;
  if (obj.method !== undefined) {
    const m = typeof obj.method === 'string' ? obj.method.toUpperCase() : obj.method;
    if (m !== 'GET' && m !== 'POST') issues.add(at(path, 'method'), `must be GET or POST (got ${show(obj.method)})`);
    else if (typeof address === 'string' && !address.startsWith('https://')) issues.add(at(path, 'method'), 'applies to https:// upstreams only');
    else method = m;
  }
  if (issues.length !== before) return undefined;
  const out: { tag: string; address: string; via?: string; method?: 'GET' | 'POST' } = { tag: tag as string, address: address as string };
  if (obj.via !== undefined) out.via = obj.via as string;
  if (method !== undefined) out.method = method;
  return out;
}

function upstreamUrlValid(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  if (url.port !== '' && (Number(url.port) < 1 || Number(url.port) > 65535)) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'udp:' || url.protocol === 'tcp:') return parseCidr(host) !== undefined && !host.includes('/');
  return host !== '';
}

function readDnsRule(v: unknown, i: number, upstreams: ReadonlySet<string>, refs: DnsRefs, issues: IssueList): DnsRuleConfig | undefined {
  const path = at('dns.rules', i);
  const obj = readObject(v, path, RULE_KEYS, issues);
  if (!obj) return undefined;
  const before = issues.length;
  if (obj.domain === undefined && obj.domain_suffix === undefined && obj.rule_set === undefined) {
    issues.add(path, 'has no match condition (one of domain, domain_suffix, rule_set)');
  }
  const domain = obj.domain === undefined ? undefined : readDomains(obj.domain, at(path, 'domain'), issues);
  const suffix = obj.domain_suffix === undefined ? undefined : readDomains(obj.domain_suffix, at(path, 'domain_suffix'), issues);
  const ruleSet = obj.rule_set === undefined ? undefined : readStringList(obj.rule_set, at(path, 'rule_set'), issues);
  ruleSet?.forEach((tag, j) => {
    if (!refs.ruleSets.has(tag)) issues.add(Array.isArray(obj.rule_set) ? at(at(path, 'rule_set'), j) : at(path, 'rule_set'), `unknown rule set "${tag}" (route.rule_sets)`);
  });
  if (typeof obj.upstream !== 'string' || !upstreams.has(obj.upstream)) {
    issues.add(at(path, 'upstream'), obj.upstream === undefined ? 'required' : `unknown upstream ${show(obj.upstream)} (dns.upstreams[].tag)`);
  }
  if (issues.length !== before) return undefined;
  const rule: Record<string, unknown> = { upstream: obj.upstream };
  if (domain) rule.domain = domain;
  if (suffix) rule.domain_suffix = suffix;
  if (ruleSet) rule.rule_set = ruleSet;
  return rule as unknown as DnsRuleConfig;
}

function readHosts(v: unknown, issues: IssueList): Record<string, string[]> {
  const hosts: Record<string, string[]> = {};
  if (v === undefined || v === null) return hosts;
  if (!isObj(v)) {
    issues.add('dns.hosts', 'must be a mapping of name to address(es)');
    return hosts;
  }
  for (const [name, addrs] of Object.entries(v)) {
    const p = at('dns.hosts', name);
    if (!DOMAIN.test(canonicalName(name))) {
      issues.add(p, `invalid domain "${name}"`);
      continue;
    }
    const list = readList<string>(addrs, p, issues, (a, ap) => {
      const c = typeof a === 'string' && !a.includes('/') ? parseCidr(a) : undefined;
      if (c) return a as string;
      issues.add(ap, `must be an IP address (got ${show(a)})`);
      return undefined;
    });
    if (list) hosts[canonicalName(name)] = list;
  }
  return hosts;
}

function readCache(v: unknown, issues: IssueList): DnsCacheConfig {
  const d = DNS_DEFAULTS.cache;
  if (v === undefined || v === null) return d;
  const obj = readObject(v, 'dns.cache', CACHE_KEYS, issues) ?? {};
  const read = (key: keyof DnsCacheConfig): number => readIntField(obj, fieldOf(DNS_CACHE_FIELDS, key), 'dns.cache', issues);
  const cache = { size: read('size'), min_ttl: read('min_ttl'), max_ttl: read('max_ttl'), negative_ttl: read('negative_ttl') };
  if (cache.min_ttl > cache.max_ttl) issues.add('dns.cache.min_ttl', `must not exceed dns.cache.max_ttl (${cache.max_ttl})`);
  return cache;
}

function readFakeIpRange(v: unknown, issues: IssueList): string[] {
  if (v === undefined || v === null) return [...DNS_DEFAULTS.fake_ip_range];
  const list =
    readList<string>(v, 'dns.fake_ip_range', issues, (item, p) => {
      const c = typeof item === 'string' ? parseCidr(item) : undefined;
      if (!c) {
        issues.add(p, `invalid CIDR ${show(item)}`);
        return undefined;
      }
      // Fewer than 4 addresses leave nothing after the network and broadcast addresses are skipped.
      if ((c.family === 4 ? 32 : 128) - c.prefix < 2) {
        issues.add(p, `${item as string} is too small for a fake-IP pool (at most /30 or /126)`);
        return undefined;
      }
      return item as string;
    }) ?? [];
  if (new Set(list.map((c) => parseCidr(c)!.family)).size !== list.length) issues.add('dns.fake_ip_range', 'at most one range per address family');
  return list;
}

/**
 * Reads `dns`. Returns undefined when the section is absent: no resolver runs
 * and nothing about DNS is rendered.
 */
export function readDns(v: unknown, refs: DnsRefs, issues: IssueList): DnsConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const obj = readObject(v, 'dns', DNS_KEYS, issues);
  if (!obj) return undefined;
  const listen =
    obj.listen === undefined
      ? (issues.add('dns.listen', 'required (for example ["127.0.0.1:1053", "[::1]:1053"])'), [])
      : (readList(obj.listen, 'dns.listen', issues, (item, p) => {
          const a = typeof item === 'string' ? parseListenAddress(item) : undefined;
          if (!a) issues.add(p, `must be "IP:port" or "[IPv6]:port" (got ${show(item)})`);
          return a;
        }) ?? []);
  const upstreams: DnsUpstreamConfig[] = [];
  if (obj.upstreams === undefined || (Array.isArray(obj.upstreams) && obj.upstreams.length === 0)) {
    issues.add('dns.upstreams', 'required: at least one upstream (for example "udp://192.0.2.53")');
  } else if (!Array.isArray(obj.upstreams)) {
    issues.add('dns.upstreams', 'must be a list');
  } else {
    obj.upstreams.forEach((u, i) => {
      const r = readUpstream(u, i, refs, issues);
      if (!r) return;
      if (upstreams.some((x) => x.tag === r.tag)) issues.add(at(at('dns.upstreams', i), 'tag'), `duplicate upstream tag "${r.tag}"`);
      else upstreams.push(r);
    });
  }
  const tags = new Set(upstreams.map((u) => u.tag));
  const rules: DnsRuleConfig[] = [];
  if (obj.rules !== undefined && obj.rules !== null) {
    if (!Array.isArray(obj.rules)) issues.add('dns.rules', 'must be a list');
    else
      obj.rules.forEach((r, i) => {
        const rule = readDnsRule(r, i, tags, refs, issues);
        if (rule) rules.push(rule);
      });
  }
  const mode = obj.mode ?? 'mapping';
  if (mode !== 'mapping' && mode !== 'fake-ip') issues.add('dns.mode', `must be "mapping" or "fake-ip" (got ${show(mode)})`);
  // `[]` is the default written out, as firewall.interfaces takes it.
  const filter = obj.fake_ip_filter === undefined || obj.fake_ip_filter === null || (Array.isArray(obj.fake_ip_filter) && obj.fake_ip_filter.length === 0) ? [] : (readDomains(obj.fake_ip_filter, 'dns.fake_ip_filter', issues, true) ?? []);
  filter.forEach((f, i) => {
    if (f.startsWith('rule-set:') && !refs.ruleSets.has(f.slice(9))) issues.add(at('dns.fake_ip_filter', i), `unknown rule set "${f.slice(9)}" (route.rule_sets)`);
  });
  let store: string = DNS_DEFAULTS.fake_ip_store;
  if (obj.fake_ip_store !== undefined) {
    if (typeof obj.fake_ip_store !== 'string' || obj.fake_ip_store === '') issues.add('dns.fake_ip_store', `must be a file path (got ${show(obj.fake_ip_store)})`);
    else store = obj.fake_ip_store;
  }
  const hijack = readBoolField(obj, fieldOf(DNS_FIELDS, 'hijack'), 'dns', issues);
  if (hijack && listen.length > 0 && listen.every((l) => l.address.startsWith('127.') || l.address === '::1')) {
    issues.add('dns.hijack', 'needs a dns.listen address other hosts can reach (0.0.0.0:PORT, [::]:PORT or a LAN address): the kernel drops packets redirected to loopback');
  }
  return {
    listen,
    upstreams,
    rules,
    cache: readCache(obj.cache, issues),
    hosts: readHosts(obj.hosts, issues),
    mode: mode === 'fake-ip' ? 'fake-ip' : 'mapping',
    mapping_size: obj.mapping_size === undefined ? DNS_DEFAULTS.mapping_size : (checkInt(obj.mapping_size, 'dns.mapping_size', fieldOf(DNS_FIELDS, 'mapping_size').value.range!, issues) ?? DNS_DEFAULTS.mapping_size),
    fake_ip_range: readFakeIpRange(obj.fake_ip_range, issues),
    fake_ip_filter: filter,
    fake_ip_store: store,
    hijack,
  };
}

/** Tags of `route.rule_sets` as written (the section's own reader validates the entries). */
export function ruleSetTags(route: unknown): Set<string> {
  const tags = new Set<string>();
  const sets = isObj(route) ? route.rule_sets : undefined;
  if (Array.isArray(sets)) for (const s of sets) if (isObj(s) && typeof s.tag === 'string') tags.add(s.tag);
  return tags;
}

/**
 * What the `dns` section asks of the rest of the config: one event loop (the
 * IP → name mapping and the fake-IP pools live in it, and a flow must reach
 * the loop that answered its DNS), and in local mode upstreams that leave
 * through an outbound (`via`), whose mark keeps Sluice's own queries out of
 * its capture.
 */
export function checkDnsPlacement(dns: DnsConfig | undefined, workers: number | 'auto', firewallLocal: boolean, issues: IssueList): void {
  if (!dns) return;
  if (workers !== 1) issues.add('workers', 'must be 1 when the config has a dns section: the IP → name mapping lives in one event loop');
  if (!firewallLocal) return;
  dns.upstreams.forEach((u, i) => {
    if (u.via === undefined) issues.add(at(at('dns.upstreams', i), 'via'), 'required with firewall.local: true (an outbound with a mark, so the query is not captured again)');
  });
}
