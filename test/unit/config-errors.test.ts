import { strict as assert } from 'node:assert';
import { ConfigError, isConfigError, isSluiceError, loadConfigFile, parseConfig } from '@sluice/core';

const BASE = {
  inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }',
  outbounds: '  - { tag: direct, type: direct }\n  - { tag: deny, type: block }',
};

/** Builds a config from sections (YAML text under each key); `BASE` fills the rest. */
function yaml(sections: Record<string, string>): string {
  const all = { ...BASE, route: '  final: direct', ...sections };
  return Object.entries(all)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => (v.startsWith(' ') ? `${k}:\n${v}` : `${k}: ${v}`))
    .join('\n');
}

/** Parses and returns the issues as `path: message` lines; fails when the config is accepted. */
function issues(text: string): string[] {
  try {
    parseConfig(text, { baseDir: '/' });
  } catch (err) {
    assert.ok(isConfigError(err), `expected ConfigError, got ${String(err)}`);
    assert.ok(isSluiceError(err));
    assert.equal(err.code, 'SLUICE_ERR_CONFIG');
    return err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  }
  assert.fail('config was accepted');
}

function expectIssue(text: string, expected: string | RegExp): void {
  const found = issues(text);
  const ok = found.some((l) => (typeof expected === 'string' ? l === expected : expected.test(l)));
  assert.ok(ok, `expected ${String(expected)} among:\n${found.join('\n')}`);
}

describe('config: validation errors', () => {
  it('reports a port out of range', () => {
    expectIssue(yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, port: 70000 }' }), 'inbounds[0].port: must be 1-65535');
    expectIssue(yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, port: 0 }' }), 'inbounds[0].port: must be 1-65535');
    expectIssue(yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, port: http }' }), /^inbounds\[0\]\.port: must be an integer 1-65535 \(got "http"\)$/);
    expectIssue(yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1 }' }), 'inbounds[0].port: required');
  });

  it('reports an unknown final outbound', () => {
    expectIssue(yaml({ route: '  final: nowhere' }), 'route.final: unknown outbound "nowhere"');
  });

  it('requires final when there are several outbounds', () => {
    expectIssue(yaml({ route: '' }), /^route\.final: required when there is more than one outbound/);
  });

  it('reports duplicate tags', () => {
    expectIssue(yaml({ outbounds: '  - { tag: direct, type: direct }\n  - { tag: direct, type: block }' }), 'outbounds[1].tag: duplicate tag "direct"');
    expectIssue(
      yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, port: 1 }\n  - { tag: in, type: tproxy, listen: "::1", port: 1 }' }),
      'inbounds[1].tag: duplicate tag "in"',
    );
  });

  it('reports an invalid CIDR at its index', () => {
    expectIssue(
      yaml({ route: '  rules:\n    - { dst_cidr: [10.0.0.0/8, 10.0.0.0/33], outbound: deny }\n  final: direct' }),
      'route.rules[0].dst_cidr[1]: invalid CIDR "10.0.0.0/33"',
    );
    for (const bad of ['10.1/8', '10.0.0.0/8/8', 'fe80::1%eth0', '::1/129', 'example.com', '10.0.0.0/']) {
      expectIssue(yaml({ route: `  rules:\n    - { src_cidr: "${bad}", outbound: deny }\n  final: direct` }), `route.rules[0].src_cidr: invalid CIDR "${bad}"`);
    }
  });

  it('reports unknown keys in core sections, with a suggestion when close', () => {
    expectIssue(yaml({ foo: '1' }), 'foo: unknown key "foo"');
    expectIssue(yaml({ inbounds: '  - { tag: in, type: tproxy, listen: 127.0.0.1, prot: 15001 }' }), 'inbounds[0].prot: unknown key "prot" (did you mean "port"?)');
    expectIssue(yaml({ timeouts: '{ conect_ms: 5 }' }), /^timeouts\.conect_ms: unknown key "conect_ms" \(did you mean "connect_ms"\?\)$/);
    expectIssue(yaml({ route: '  rules:\n    - { dst_port: 53, outbound: deny, outboud: x }\n  final: direct' }), /^route\.rules\[0\]\.outboud: unknown key/);
    expectIssue(yaml({ firewall: '{ locall: true }' }), /^firewall\.locall: unknown key "locall"/);
  });

  it('lets outbound entries keep type-specific keys but checks tag and type', () => {
    assert.doesNotThrow(() => parseConfig(yaml({ outbounds: '  - { tag: direct, type: direct, anything: [1, 2] }', route: '' }), { baseDir: '/' }));
    expectIssue(yaml({ outbounds: '  - { type: direct }', route: '' }), 'outbounds[0].tag: required');
    expectIssue(yaml({ outbounds: '  - { tag: "", type: direct }', route: '' }), /^outbounds\[0\]\.tag: must be a non-empty string/);
    expectIssue(yaml({ outbounds: '  - { tag: x }', route: '' }), 'outbounds[0].type: required');
    expectIssue(yaml({ outbounds: '  - just-a-string', route: '' }), 'outbounds[0]: must be a mapping');
  });

  it('validates rule references and contents', () => {
    const rule = (r: string): string => yaml({ route: `  rules:\n    - ${r}\n  final: direct` });
    expectIssue(rule('{ dst_port: 53, outbound: nowhere }'), 'route.rules[0].outbound: unknown outbound "nowhere"');
    expectIssue(rule('{ dst_port: 53 }'), 'route.rules[0].outbound: required');
    expectIssue(rule('{ inbound: [in, out], outbound: deny }'), 'route.rules[0].inbound[1]: unknown inbound "out"');
    expectIssue(rule('{ outbound: deny }'), /^route\.rules\[0\]: has no match condition .*use route\.final/);
    expectIssue(rule('{ network: icmp, outbound: deny }'), 'route.rules[0].network: must be "tcp" or "udp" (got "icmp")');
    expectIssue(rule('{ dst_cidr: [], outbound: deny }'), 'route.rules[0].dst_cidr: must not be empty');
    expectIssue(rule('{ dst_port: [53, 70000], outbound: deny }'), 'route.rules[0].dst_port[1]: must be 1-65535');
    expectIssue(rule('{ dst_port: "5100-5000", outbound: deny }'), 'route.rules[0].dst_port: port range "5100-5000": start is greater than end');
    expectIssue(rule('{ src_port: "0-10", outbound: deny }'), 'route.rules[0].src_port: port range "0-10": ports must be 1-65535');
    expectIssue(rule('{ src_port: "a-b", outbound: deny }'), 'route.rules[0].src_port: invalid port range "a-b"');
  });

  it('validates inbounds', () => {
    const inb = (i: string): string => yaml({ inbounds: `  - ${i}` });
    expectIssue(inb('{ tag: in, type: tproxy, listen: localhost, port: 1 }'), /^inbounds\[0\]\.listen: must be an IP literal/);
    expectIssue(inb('{ tag: in, type: socks, listen: 127.0.0.1, port: 1 }'), 'inbounds[0].type: must be "tproxy" or "redirect" (got "socks")');
    expectIssue(inb('{ tag: in, type: tproxy, listen: 127.0.0.1, port: 1, network: [] }'), 'inbounds[0].network: must not be empty');
    expectIssue(inb('{ tag: in, type: tproxy, listen: 127.0.0.1, port: 1, reuse_port: "yes" }'), 'inbounds[0].reuse_port: must be true or false (got "yes")');
    expectIssue(yaml({ inbounds: '[]' }), 'inbounds: at least one inbound is required');
    expectIssue(yaml({ inbounds: '' }), 'inbounds: at least one inbound is required');
    expectIssue(
      yaml({ inbounds: '  - { tag: a, type: tproxy, listen: 127.0.0.1, port: 1 }\n  - { tag: b, type: tproxy, listen: 127.0.0.1, port: 1, network: tcp }' }),
      'inbounds[1].port: tcp 127.0.0.1:1 is already used by inbounds[0]',
    );
    // Same port, different protocol: both can bind.
    assert.doesNotThrow(() =>
      parseConfig(yaml({ inbounds: '  - { tag: a, type: tproxy, listen: 127.0.0.1, port: 1, network: udp }\n  - { tag: b, type: tproxy, listen: 127.0.0.1, port: 1, network: tcp }' }), {
        baseDir: '/',
      }),
    );
  });

  it('validates log, plugins, timeouts, udp and firewall', () => {
    expectIssue(yaml({ log: '{ level: loud }' }), /^log\.level: must be one of trace, debug, info, warn, error, fatal, silent/);
    expectIssue(yaml({ plugins: '[a, a]' }), 'plugins[1]: duplicate plugin "a"');
    expectIssue(yaml({ plugins: 'a' }), 'plugins: must be a list of package names');
    expectIssue(yaml({ timeouts: '{ connect_ms: 0 }' }), 'timeouts.connect_ms: must be 1-2147483647');
    expectIssue(yaml({ route: '{ final: direct, hook_timeout_ms: 0 }' }), 'route.hook_timeout_ms: must be 1-2147483647');
    expectIssue(yaml({ timeouts: '{ drain_ms: -1 }' }), 'timeouts.drain_ms: must be 0-2147483647');
    expectIssue(yaml({ timeouts: '{ drain_ms: soon }' }), 'timeouts.drain_ms: must be an integer 0-2147483647 (got "soon")');
    expectIssue(yaml({ udp: '{ max_sessions: 1.5 }' }), /^udp\.max_sessions: must be an integer/);
    expectIssue(yaml({ workers: '0' }), 'workers: must be 1-256');
    expectIssue(yaml({ workers: 'many' }), 'workers: must be an integer 1-256 (got "many")');
    expectIssue(yaml({ firewall: '{ fwmark: 0 }' }), 'firewall.fwmark: must be 1-4294967295');
    expectIssue(yaml({ firewall: '{ table: 254 }' }), /^firewall\.table: must not be 254/);
    expectIssue(yaml({ firewall: '{ fwmark: 3, bypass_mark: 1 }' }), /^firewall\.bypass_mark: 0x1 is contained in firewall\.fwmark 0x3/);
    expectIssue(yaml({ firewall: '{ fwmark: 0xffffffff, bypass_mark: 0xffffffff }' }), /^firewall\.bypass_mark: 0xffffffff is contained/);
    expectIssue(yaml({ firewall: '{ interfaces: [eth0, "bad name"] }' }), /^firewall\.interfaces\[1\]: must be an interface name/);
    expectIssue(yaml({ firewall: '{ interfaces: [averyveryverylongname] }' }), /^firewall\.interfaces\[0\]: must be an interface name/);
    expectIssue(yaml({ firewall: '{ bypass_cidr: [10.0.0.0/8, nope] }' }), 'firewall.bypass_cidr[1]: invalid CIDR "nope"');
    expectIssue(yaml({ firewall: '{ local: 1 }' }), 'firewall.local: must be true or false (got 1)');
  });

  it('collects every issue in one error', () => {
    const found = issues(`
inbounds:
  - { tag: in, type: tproxy, listen: 127.0.0.1, port: 70000, extra: 1 }
outbounds:
  - { tag: direct, type: direct }
  - { tag: direct, type: block }
route:
  rules:
    - { dst_cidr: 10.0.0.0/33, outbound: direct }
  final: nowhere
firewall: { table: 0 }
`);
    assert.deepEqual(found, [
      'inbounds[0].extra: unknown key "extra"',
      'inbounds[0].port: must be 1-65535',
      'outbounds[1].tag: duplicate tag "direct"',
      'route.rules[0].dst_cidr: invalid CIDR "10.0.0.0/33"',
      'route.final: unknown outbound "nowhere"',
      'firewall.table: must be 1-2147483647',
    ]);
  });

  it('reports YAML syntax errors with line and column', () => {
    const found = issues('inbounds:\n  - { tag: in, port: 1\noutbounds: []\n');
    assert.equal(found.length >= 1, true);
    assert.match(found[0], /^YAML syntax error at line \d+, column \d+: /);
    const dup = issues('log: { level: info }\nlog: { level: warn }\n');
    assert.match(dup[0], /^YAML syntax error at line 2, column 1: Map keys must be unique/);
  });

  it('refuses map keys that are maps or lists (an alias of one too), with their position, and prints nothing', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    const consoleWarn = console.warn;
    process.on('warning', onWarning);
    console.warn = (...args: unknown[]) => void warnings.push(args.join(' '));
    try {
      assert.deepEqual(issues('log: { level: info }\n? [a, b]\n: 1\n'), ['YAML error at line 2, column 3: a key must be a single value, not a map or a list']);
      assert.deepEqual(issues('udp: &u { max_sessions: 5 }\ntimeouts: { *u : 2 }\n'), [
        'YAML error at line 2, column 13: a key must be a single value, not a map or a list',
      ]);
      assert.deepEqual(issues('{"log": {"level": "info"}, {"a": 1}: 2}'), ['YAML error at line 1, column 28: a key must be a single value, not a map or a list']);
      // process.emitWarning emits on a later tick.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
      console.warn = consoleWarn;
    }
    assert.deepEqual(warnings, []);
  });

  it('refuses an alias inside the node it refers to (a value that contains itself; found by the config fuzzer: stack overflow)', () => {
    assert.deepEqual(issues('route:\n  rules: &r\n    - { any: *r, outbound: direct }\n'), ['YAML error at line 3, column 14: alias *r is inside the node it refers to']);
    assert.deepEqual(issues('timeouts: &t { <<: *t }\n'), ['YAML error at line 1, column 20: alias *t is inside the node it refers to']);
  });

  it('refuses a document that is not a mapping', () => {
    assert.match(issues('- a\n- b\n')[0], /^the config must be a mapping/);
    assert.deepEqual(issues(''), ['inbounds: at least one inbound is required', 'outbounds: at least one outbound is required']);
  });

  it('reports a missing file as a config error', async () => {
    await assert.rejects(loadConfigFile('/nonexistent/sluice.yaml'), (err: unknown) => {
      assert.ok(isConfigError(err));
      assert.equal(err.issues[0].message, 'cannot read config file /nonexistent/sluice.yaml: no such file');
      return true;
    });
  });
});
