import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { z } from 'zod';
import { builtinOutboundDefinitions, BlockOutbound, configJsonSchema, defineOutbound, isConfigError, parseConfig, validateOutbounds } from '@sluice/core';

const REPO = path.resolve(__dirname, '../../../..');
const SCHEMA_FILE = require.resolve('@sluice/core/schema/sluice.schema.json');
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** The schema's complaints about a parsed document, as `instancePath message` lines. */
function schemaErrors(doc: unknown): string[] {
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

/** What `sluice check` finds: the core sections, then each outbound's own options. */
function loaderIssues(text: string): string[] {
  try {
    validateOutbounds(parseConfig(text, { baseDir: REPO }));
    return [];
  } catch (err) {
    if (!isConfigError(err)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

const BASE = `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route:
  final: direct
`;

/** A config using most keys: groups, socks, Clash lines, nested conditions, dns, control, every section. */
const RICH = `
log: { level: debug }
workers: 1
worker_mode: thread
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp], sniff: true, sniff_timeout_ms: 200, override_destination: true, reuse_port: true }
  - { tag: r4, type: redirect, listen: 0.0.0.0, port: 15011, network: tcp }
outbounds:
  - { tag: direct, type: direct, mark: "0x2", interface: eth0, connect_timeout_ms: 5000 }
  - { tag: s5, type: socks, server: 192.0.2.1, port: 1080, username: u, password: p, udp: true }
  - { tag: s4, type: socks, server: proxy.example, port: 1080, version: 4a, via: s5 }
  - { tag: deny, type: block }
  - { tag: auto, type: url-test, outbounds: [s5, direct], tolerance_ms: 20, check: { url: "http://192.0.2.9/", interval_ms: 1000, lazy: true } }
  - { tag: lb, type: load-balance, outbounds: [s5, direct], strategy: sticky-sessions, sticky_ttl_ms: 1000 }
  - { tag: pick, type: selector, outbounds: [auto, lb, deny], default: auto }
  - { tag: fb, type: fallback, outbounds: [s5, direct] }
route:
  rules:
    - { name: ads, domain_suffix: [ads.example, .tracker.example], outbound: deny }
    - { network: udp, dst_port: [53, "5000-5100"], src_cidr: 10.0.0.0/8, outbound: direct }
    - outbound: pick
      all:
        - { domain_keyword: video }
        - any: [{ network: udp }, "DST-PORT,853"]
      not: { inbound: r4 }
    - "DOMAIN-SUFFIX,internal.test,direct"
    - "IP-CIDR,203.0.113.0/24,deny,no-resolve"
  final: fb
  hook_timeout_ms: 500
firewall: { fwmark: 0x1, table: 100, bypass_mark: "0x2", interfaces: [eth1], bypass_cidr: [10.0.0.0/8], local: false }
timeouts: { connect_ms: 5000, tcp_idle_ms: 60000, udp_idle_ms: 30000, drain_ms: 0 }
udp: { max_sessions: 500 }
limits: { max_tcp_flows: auto }
relay: { splice: false, native_udp: true }
control: { listen: "127.0.0.1:9090", ui: true, metrics_without_auth: true }
dns:
  listen: ["127.0.0.1:1053"]
  upstreams: ["udp://192.0.2.53", { tag: doh, address: "https://dns.example/dns-query", via: s5 }]
  rules: [{ domain_suffix: corp.example, upstream: doh }]
  cache: { size: 100, min_ttl: 10, max_ttl: 600, negative_ttl: 5 }
  hosts: { router.lan: 192.168.1.1, nas.lan: [192.168.1.2, "fd00::2"] }
  mode: fake-ip
  fake_ip_range: [198.18.0.0/15]
  fake_ip_filter: ["*.lan", "+.example.com"]
`;

/** Configs that both the loader and the schema must refuse: what goes wrong, and the text. */
const BAD: readonly (readonly [string, string])[] = [
  ['unknown top-level key', `${BASE}\nlogs: { level: info }`],
  ['unknown key in a section', `${BASE}\ntimeouts: { conect_ms: 5 }`],
  ['unknown key in an inbound', BASE.replace('port: 15001', 'port: 15001, prot: 1')],
  ['wrong type: a string for a boolean', `${BASE}\nrelay: { splice: "yes" }`],
  ['wrong type: a mapping for an integer', `${BASE}\nudp: { max_sessions: { n: 1 } }`],
  ['integer out of range', BASE.replace('port: 15001', 'port: 70000')],
  ['bad enum: log level', `${BASE}\nlog: { level: verbose }`],
  ['bad enum: inbound type', BASE.replace('type: tproxy', 'type: tun')],
  ['bad enum: worker_mode', `${BASE}\nworker_mode: fiber`],
  ['bad enum: network', BASE.replace('port: 15001', 'port: 15001, network: sctp')],
  ['missing required: inbounds', BASE.replace(/inbounds:\n.*\n/, '')],
  ['missing required: inbound port', BASE.replace(', port: 15001', '')],
  ['missing required: dns.listen', `${BASE}\ndns: { upstreams: ["udp://192.0.2.53"] }`],
  ['bad dns upstream URL', `${BASE}\ndns: { listen: ["127.0.0.1:1053"], upstreams: ["ftp://192.0.2.53"] }`],
  ['unknown key in a rule', `${BASE.replace('route:\n  final: direct', '')}route:\n  rules: [{ dst_port: 53, outbund: direct }]\n  final: direct`],
  ['a rule without a condition', `${BASE.replace('route:\n  final: direct', '')}route:\n  rules: [{ name: x, outbound: direct }]\n  final: direct`],
  ['a nested condition without a condition', `${BASE.replace('route:\n  final: direct', '')}route:\n  rules: [{ not: {}, outbound: direct }]\n  final: direct`],
  ['a dns rule without a condition', `${BASE}\ndns: { listen: ["127.0.0.1:1053"], upstreams: [{ tag: u, address: "udp://192.0.2.53" }], rules: [{ upstream: u }] }`],
  ['empty all', `${BASE.replace('route:\n  final: direct', '')}route:\n  rules: [{ all: [], outbound: direct }]\n  final: direct`],
  ['bad outbound option: direct with an unknown key', BASE.replace('mark: 0x2 }', 'mark: 0x2, mrak: 3 }')],
  ['bad outbound option: socks without a server', `${BASE}`.replace('- { tag: deny, type: block }', '- { tag: deny, type: block }\n  - { tag: s, type: socks, port: 1080 }')],
  ['bad outbound option: socks port out of range', `${BASE}`.replace('- { tag: deny, type: block }', '- { tag: deny, type: block }\n  - { tag: s, type: socks, server: 192.0.2.1, port: 0 }')],
  ['bad outbound option: block takes no options', BASE.replace('type: block }', 'type: block, mark: 2 }')],
  ['bad group option: load-balance strategy', BASE.replace('- { tag: deny, type: block }', '- { tag: deny, type: block }\n  - { tag: g, type: load-balance, outbounds: [direct], strategy: random }')],
  ['bad group option: selector with a url-test key', BASE.replace('- { tag: deny, type: block }', '- { tag: deny, type: block }\n  - { tag: g, type: selector, outbounds: [direct], tolerance_ms: 5 }')],
  ['outbound without a type', BASE.replace('{ tag: deny, type: block }', '{ tag: deny }')],
  ['control with an unknown key', `${BASE}\ncontrol: { listen: "127.0.0.1:9090", ui: true, dashboard: true }`],
];

describe('config: the JSON Schema agrees with the loader', () => {
  it('accepts a config that uses most keys, as the loader does', () => {
    assert.deepEqual(loaderIssues(RICH), []);
    assert.deepEqual(schemaErrors(parse(RICH)), []);
  });

  it('accepts a third-party outbound type, checking only tag and type', () => {
    assert.deepEqual(schemaErrors(parse(BASE.replace('{ tag: deny, type: block }', '{ tag: deny, type: http-connect, server: 192.0.2.1 }'))), []);
  });

  it('accepts every key with its default value written out, as the loader does', () => {
    type Node = { properties?: Record<string, Node>; anyOf?: Node[]; default?: unknown };
    const props = schema.properties as Record<string, Node>;
    /** A mapping's keys that have a default, set to it (a mapping's own defaults inside it). */
    const defaults = (node: Node): Record<string, unknown> => {
      const fields = node.properties ?? node.anyOf?.find((n) => n.properties)?.properties ?? {};
      const out: Record<string, unknown> = {};
      for (const [k, f] of Object.entries(fields)) {
        if (f.default !== undefined) out[k] = f.default;
        else if (f.properties) out[k] = defaults(f);
      }
      return out;
    };
    const doc = parse(BASE) as Record<string, unknown>;
    for (const section of ['log', 'relay', 'timeouts', 'udp', 'limits', 'firewall', 'control', 'route', 'dns', 'workers', 'worker_mode', 'plugins']) {
      const node = props[section]!;
      const value = node.default !== undefined ? node.default : { ...(doc[section] as object), ...defaults(node) };
      assert.ok(Array.isArray(value) || typeof value !== 'object' || Object.keys(value as object).length > 0, section);
      doc[section] = value;
    }
    Object.assign(doc.dns as object, { listen: ['127.0.0.1:1053'], upstreams: ['udp://192.0.2.53'] });
    assert.ok((doc.dns as { cache?: object }).cache, 'dns.cache defaults were written');
    assert.deepEqual(schemaErrors(doc), []);
    assert.deepEqual(loaderIssues(JSON.stringify(doc)), []);
  });

  for (const [what, text] of BAD) {
    it(`refuses ${what}, as the loader does`, () => {
      assert.notDeepEqual(loaderIssues(text), [], 'the loader accepted it');
      assert.notDeepEqual(schemaErrors(parse(text)), [], 'the schema accepted it');
    });
  }
});

describe('config: a schema that covers a plugin outbound type', () => {
  const echo = defineOutbound({
    type: 'echo',
    options: z.object({ prefix: z.string().min(1).describe('what each reply starts with'), mark: z.preprocess((v) => (typeof v === 'string' ? Number(v) : v), z.number().int()).optional() }).strict(),
    create: (_o, deps) => new BlockOutbound(deps.tag),
  });
  const withEcho = new Ajv({ allErrors: true, strict: false }).compile(configJsonSchema([...builtinOutboundDefinitions(), echo]));
  const doc = (entry: string): unknown => parse(BASE.replace('{ tag: deny, type: block }', entry));

  it("checks the type's options from its zod schema, descriptions included", () => {
    assert.ok(withEcho(doc('{ tag: deny, type: echo, prefix: ">", mark: "0x2" }')), JSON.stringify(withEcho.errors));
    assert.ok(!withEcho(doc('{ tag: deny, type: echo, prefix: 1 }')));
    assert.ok(!withEcho(doc('{ tag: deny, type: echo, prefix: ">", bogus: 1 }')));
    assert.ok(!withEcho(doc('{ tag: deny, type: echo }')));
    assert.match(JSON.stringify(configJsonSchema([echo])), /what each reply starts with/);
  });
});

describe('config: the examples name the schema and validate against it', () => {
  const examples = ['examples/gateway.yaml'];

  for (const file of examples) {
    it(`${file} starts with a yaml-language-server $schema line that points at the shipped schema`, () => {
      const text = readFileSync(path.join(REPO, file), 'utf8');
      const m = /^# yaml-language-server: \$schema=(\S+)\n/.exec(text);
      assert.ok(m, 'no yaml-language-server line at the top');
      const target = path.resolve(path.dirname(path.join(REPO, file)), m[1]!);
      assert.ok(existsSync(target), `${m[1]} does not exist`);
      assert.equal(readFileSync(target, 'utf8'), readFileSync(SCHEMA_FILE, 'utf8'));
      assert.deepEqual(schemaErrors(parse(text)), []);
      assert.deepEqual(loaderIssues(text), []);
    });
  }

  it('the complete configs in the docs and the README validate against the schema', () => {
    const files = [...readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'README.md'];
    let count = 0;
    for (const file of files) {
      const text = readFileSync(path.join(REPO, file), 'utf8');
      for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
        if (!/^inbounds:/m.test(m[1]!) || !/^outbounds:/m.test(m[1]!)) continue;
        count++;
        assert.deepEqual(schemaErrors(parse(m[1]!)), [], `${file}:\n${m[1]!}`);
      }
    }
    assert.ok(count >= 3, `found only ${count} complete configs`);
  });
});
