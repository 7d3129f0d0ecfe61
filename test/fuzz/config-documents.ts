import type { Prng } from './prng';

/*
 * Config documents for the config loader's fuzz target: a value tree built
 * from the real keys (mostly a valid config moved a few steps away, now and
 * then a random structure), written out as text the way people write it
 * (JSON, block YAML, flow YAML, with anchors, aliases, merge keys, tags and
 * every quoting style), and sometimes mangled as text. Written out by hand,
 * not by the yaml library: its stringify would cost more than the parse
 * under test, and could only write what it considers tidy.
 */

/** The keys of each section, as the loader knows them (`''` is the top level). */
const KEYS: Readonly<Record<string, readonly string[]>> = {
  '': ['log', 'plugins', 'inbounds', 'outbounds', 'route', 'firewall', 'timeouts', 'udp', 'limits', 'workers', 'worker_mode', 'relay', 'control', 'dns'],
  log: ['level'],
  inbounds: ['tag', 'type', 'listen', 'port', 'network', 'reuse_port', 'sniff', 'sniff_timeout_ms', 'override_destination'],
  outbounds: [
    'tag', 'type', 'mark', 'interface', 'local_address', 'server', 'port', 'version', 'username', 'password', 'via', 'udp',
    'connect_timeout_ms', 'handshake_timeout_ms', 'transparent', 'outbounds', 'url', 'interval_ms',
  ],
  route: ['rules', 'rule_sets', 'final', 'hook_timeout_ms'],
  rules: [
    'name', 'outbound', 'network', 'inbound', 'src_cidr', 'dst_cidr', 'src_port', 'dst_port', 'domain', 'domain_suffix',
    'domain_keyword', 'domain_regex', 'rule_set', 'all', 'any', 'not',
  ],
  rule_sets: ['tag', 'type', 'path', 'format', 'behavior'],
  firewall: ['fwmark', 'table', 'bypass_mark', 'interfaces', 'bypass_cidr', 'local'],
  timeouts: ['connect_ms', 'tcp_idle_ms', 'udp_idle_ms', 'drain_ms'],
  udp: ['max_sessions'],
  limits: ['max_tcp_flows'],
  relay: ['splice', 'native_udp'],
  control: ['listen', 'secret', 'cors_origins', 'ui', 'metrics_without_auth'],
  dns: ['listen', 'upstreams', 'rules', 'cache', 'hosts', 'mode', 'mapping_size', 'fake_ip_range', 'fake_ip_filter', 'fake_ip_store', 'hijack'],
  upstreams: ['tag', 'address', 'via'],
  cache: ['size', 'min_ttl', 'max_ttl', 'negative_ttl'],
  hosts: ['a.test', 'x', '*.wild.test'],
};

/** Sections whose value is a list of entries of that section's keys. */
const LISTS = new Set(['inbounds', 'outbounds', 'rules', 'rule_sets', 'upstreams']);

/** Keys no section has, and keys that are traps for a loader writing into plain objects. */
const STRANGE_KEYS = ['x', 'prot', '__proto__', 'constructor', 'toString', ''];

const STRINGS = [
  '', 'in', 'out', 'direct', 'socks', 'block', 'deny', 'hop', 'tproxy', 'redirect', 'selector', 'url-test', 'tcp', 'udp', 'fake-ip',
  '127.0.0.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1', 'fe80::1', 'fe80::1%eth0', '10.0.0.0/8', '10.0.0.1/24', '10.0.0.1/33',
  '2001:db8::/129', '127.0.0.1:9090', '[::1]:53', 'udp://192.0.2.53', 'https://dns.test/dns-query', '0x2', '0xffffffff',
  '5000-5100', '5100-5000', '70000', '-1', 'auto', 'thread', 'process', 'debug', 'info', 'eth0', 'wg*', 'example.com', '.test',
  '(a|b', 'yes', 'on', 'null', '~', 'a'.repeat(300), '\u0000', 'ü', 'constructor', '__proto__', 'toString', 'line\nbreak', "it's", 'say "hi"',
];
const NUMBERS = [0, 1, -1, 2, 53, 100, 1000, 15001, 65535, 65536, 0.5, 1e21, -0, Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 253];

function scalar(rng: Prng): unknown {
  switch (rng.int(5)) {
    case 0:
    case 1:
      return rng.pick(STRINGS);
    case 2:
      return rng.pick(NUMBERS);
    case 3:
      return rng.chance(0.8) ? rng.chance(0.5) : null;
    default:
      return rng.bytes(rng.size(8)).toString('latin1');
  }
}

/** A value for `key`: usually of a plausible shape, sometimes anything. */
function value(rng: Prng, key: string, depth: number): unknown {
  if (depth > 5 || rng.chance(0.3)) return scalar(rng);
  if (LISTS.has(key)) return Array.from({ length: rng.size(3) }, () => (rng.chance(0.9) ? object(rng, key, depth + 1) : scalar(rng)));
  if (KEYS[key] !== undefined) return object(rng, key, depth + 1);
  if (rng.chance(0.3)) return Array.from({ length: rng.size(3) }, () => value(rng, '?', depth + 1));
  return scalar(rng);
}

function object(rng: Prng, section: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = KEYS[section] ?? [];
  for (let n = rng.size(Math.min(keys.length, 5) + 1); n > 0; n--) {
    const key = rng.chance(0.95) && keys.length > 0 ? rng.pick(keys) : rng.pick(STRANGE_KEYS);
    // defineProperty: `out.__proto__ = …` would set the prototype, not write the key the document is to have.
    Object.defineProperty(out, key, { value: value(rng, key, depth), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Configs `sluice check` accepts: the starting points that mutations move
 * away from. Small, because a YAML parse costs in proportion to the text,
 * and most of what a bigger document holds would be more of the same.
 */
function validConfig(rng: Prng): Record<string, unknown> {
  const outbounds: Record<string, unknown>[] = [{ tag: 'direct', type: 'direct', mark: 2 }];
  if (rng.chance(0.5)) outbounds.push({ tag: 'hop', type: 'socks', server: '127.0.0.1', port: 1080 });
  if (rng.chance(0.3)) outbounds.push({ tag: 'deny', type: 'block' });
  const base: Record<string, unknown> = { inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }], outbounds };
  if (rng.chance(0.5)) base.route = { rules: [{ dst_port: [53], network: 'udp', outbound: rng.pick(outbounds).tag }], final: 'direct' };
  if (rng.chance(0.15)) base.timeouts = { connect_ms: 1000, tcp_idle_ms: 2000, udp_idle_ms: 1000, drain_ms: 500 };
  if (rng.chance(0.1)) base.firewall = { fwmark: 1, table: 100, interfaces: ['eth1'], bypass_cidr: ['10.0.0.0/8'] };
  if (rng.chance(0.1)) base.dns = { listen: ['127.0.0.1:1053'], upstreams: ['udp://192.0.2.53'], hosts: { 'a.test': '192.0.2.9' } };
  if (rng.chance(0.05)) base.control = { listen: '127.0.0.1:9090', secret: 'fuzz' };
  return base;
}

/** Sets, deletes or adds one key somewhere in `doc`, or adds or removes a list entry. */
function mutate(rng: Prng, doc: Record<string, unknown>): void {
  let node: unknown = doc;
  let section = '';
  for (let depth = 0; depth < 4 && rng.chance(0.7); depth++) {
    const container = node as Record<string, unknown> | unknown[];
    const keys = Object.keys(container);
    if (keys.length === 0) break;
    const key = rng.pick(keys);
    const next = (container as Record<string, unknown>)[key];
    if (next === null || typeof next !== 'object') break;
    if (!Array.isArray(container)) section = key;
    node = next;
  }
  if (Array.isArray(node)) {
    if (rng.chance(0.5)) node.push(rng.chance(0.8) ? object(rng, section, 3) : scalar(rng));
    else if (node.length > 0) node.splice(rng.int(node.length), 1);
    return;
  }
  const target = node as Record<string, unknown>;
  const keys = KEYS[section] ?? KEYS[''];
  const key = rng.chance(0.9) ? rng.pick(keys) : rng.pick(STRANGE_KEYS);
  if (rng.chance(0.2)) delete target[key];
  else Object.defineProperty(target, key, { value: value(rng, key, 4), enumerable: true, writable: true, configurable: true });
}

/** The document's value: mostly a valid config a few mutations away, else any structure. */
function tree(rng: Prng): unknown {
  if (rng.chance(0.9)) {
    const doc = validConfig(rng);
    for (let n = rng.size(3); n > 0; n--) mutate(rng, doc);
    return doc;
  }
  return rng.chance(0.5) ? object(rng, '', 0) : value(rng, '?', 0);
}

/** Writes a value tree as YAML text, choosing among the ways a person (or a tool) would write each node. */
class YamlWriter {
  private out = '';
  private anchors = 0;

  constructor(private readonly rng: Prng) {}

  document(v: unknown): string {
    const rng = this.rng;
    if (rng.chance(0.05)) this.out += rng.pick(['---\n', '%YAML 1.2\n---\n', '# config\n']);
    if (rng.chance(0.2)) this.out += `${this.flow(v)}\n`;
    else this.block(v, 0);
    return this.out;
  }

  /** Block style at `indent`; the caller has written the key (or `- `) and nothing after it. */
  private block(v: unknown, indent: number): void {
    const pad = ' '.repeat(indent);
    if (Array.isArray(v) && v.length > 0 && !this.rng.chance(0.1)) {
      for (const item of v) {
        this.out += `${pad}-`;
        this.node(item, indent + 2);
      }
    } else if (isPlainObject(v) && Object.keys(v).length > 0 && !this.rng.chance(0.1)) {
      if (this.anchors > 0 && this.rng.chance(0.03)) this.out += `${pad}<<: *a${this.rng.range(1, this.anchors)}\n`;
      for (const [k, item] of Object.entries(v)) {
        this.out += `${pad}${this.key(k)}:`;
        this.node(item, indent + 2);
      }
    } else {
      this.out += `${pad}${this.flow(v)}\n`;
    }
  }

  /** A map value or list item after its `key:` or `-`: inline, or as a nested block, maybe anchored and tagged. */
  private node(v: unknown, indent: number): void {
    const rng = this.rng;
    if (v !== null && typeof v === 'object') {
      const anchor = rng.chance(0.05) ? ` &a${++this.anchors}` : '';
      if (rng.chance(0.15) || (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0)) {
        this.out += `${anchor} ${this.flow(v)}\n`;
      } else {
        this.out += `${anchor}\n`;
        this.block(v, indent);
      }
      return;
    }
    if (this.anchors > 0 && rng.chance(0.03)) this.out += ` *a${rng.range(1, this.anchors)}\n`;
    else if (typeof v === 'string' && v.includes('\n') && rng.chance(0.5)) this.out += ` |\n${v.split('\n').map((l) => `${' '.repeat(indent)}${l}`).join('\n')}\n`;
    else this.out += ` ${this.scalar(v)}\n`;
  }

  /** Flow style: `{ a: 1, b: [x, y] }`. */
  private flow(v: unknown): string {
    if (Array.isArray(v)) return `[${v.map((x) => this.flow(x)).join(', ')}]`;
    if (isPlainObject(v)) return `{ ${Object.entries(v).map(([k, x]) => `${this.key(k)}: ${this.flow(x)}`).join(', ')} }`;
    return this.scalar(v);
  }

  private key(k: string): string {
    return isPlainSafe(k) && this.rng.chance(0.9) ? k : JSON.stringify(k);
  }

  /** A scalar: plain when that reads back as the same value, else quoted; now and then with a tag. */
  private scalar(v: unknown): string {
    const rng = this.rng;
    const tag = rng.chance(0.03) ? `${rng.pick(['!!str', '!!int', '!!float', '!!bool', '!!null', '!!binary', '!custom'])} ` : '';
    if (typeof v === 'number') {
      if (Object.is(v, -0)) return `${tag}-0`;
      if (Number.isInteger(v) && v >= 0 && v < 2 ** 32 && rng.chance(0.2)) return `${tag}0x${v.toString(16)}`;
      return `${tag}${String(v)}`;
    }
    if (typeof v === 'boolean' || v === null) return `${tag}${rng.chance(0.1) && v === null ? '~' : String(v)}`;
    const s = String(v);
    if (isPlainSafe(s) && rng.chance(0.7)) return `${tag}${s}`;
    if (!/[\u0000-\u001f\u007f-\uffff]/.test(s) && rng.chance(0.4)) return `${tag}'${s.replace(/'/g, "''")}'`;
    return `${tag}${JSON.stringify(s)}`;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Words YAML's core schema would read as something other than a string. */
const YAML_WORDS = /^(?:true|false|null|~|y|n|yes|no|on|off|\.inf|\.nan|[-+]?\.?[0-9].*)$/i;

/** True when `s` written plain reads back as the string `s`. */
function isPlainSafe(s: string): boolean {
  return /^[A-Za-z_./*][A-Za-z0-9_./*-]*$/.test(s) && !YAML_WORDS.test(s);
}

/** YAML and JSON syntax spliced into the text: anchors, aliases, merges, tags, flow and block markers. */
const SPLICES = ['&a ', '*a', '*a1', '<<: *a1', '!!str ', '!!binary ', '? ', '- ', ': ', '\n  ', '\n', '"', "'", '{', '}', '[', ']', ',', '#', '|\n  x', '%YAML 1.2\n---\n', '---\n', '...\n', '\t', '0x', '~'];

/** One input of the config loader: its text and the format it is given as. */
export interface ConfigDocument {
  readonly text: string;
  readonly format: 'yaml' | 'json';
}

/**
 * A config document from `rng`: a value tree written as JSON (compact or
 * indented) or YAML (block or flow), and one in five then mangled as text
 * (syntax spliced in, bytes cut out).
 */
export function configDocument(rng: Prng): ConfigDocument {
  const v = tree(rng);
  const format = rng.chance(0.4) ? 'json' : 'yaml';
  let text = format === 'json' ? (JSON.stringify(v, null, rng.chance(0.3) ? 2 : undefined) ?? 'null') : new YamlWriter(rng).document(v);
  for (let n = rng.chance(0.2) ? rng.size(4) : 0; n > 0; n--) {
    const at = rng.int(text.length + 1);
    text = rng.chance(0.8) ? text.slice(0, at) + rng.pick(SPLICES) + text.slice(at) : text.slice(0, at) + text.slice(at + rng.size(10));
  }
  return { text, format };
}
