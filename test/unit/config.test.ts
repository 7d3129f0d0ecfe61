import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULTS,
  loadConfigFile,
  parseConfig,
  redactConfig,
  toConfigDocument,
  validateConfigFile,
  type SluiceConfig,
} from '@sluice/core';
import { stringify } from 'yaml';

/** The example from the config contract. */
const EXAMPLE = `
log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { network: udp, dst_port: [53, "5000-5100"], outbound: direct }
  final: direct
`;

const MINIMAL = `
inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct }]
`;

const parse = (text: string): SluiceConfig => parseConfig(text, { baseDir: '/etc/sluice' });

describe('config: parsing and defaults', () => {
  it('parses the contract example', () => {
    const c = parse(EXAMPLE);
    assert.equal(c.inbounds.length, 2);
    assert.deepEqual(c.inbounds[1], {
      tag: 'in6',
      type: 'tproxy',
      listen: '::1',
      port: 15002,
      network: ['tcp', 'udp'],
      reuse_port: false,
      sniff: false,
      sniff_timeout_ms: 300,
      override_destination: false,
    });
    assert.deepEqual(
      c.outbounds.map((o) => [o.tag, o.type, o.path]),
      [
        ['direct', 'direct', 'outbounds[0]'],
        ['deny', 'block', 'outbounds[1]'],
      ],
    );
    assert.deepEqual(c.route.rules[0], { name: 'rules[0]', dst_cidr: ['203.0.113.0/24'], outbound: 'deny' });
    assert.deepEqual(c.route.rules[1], {
      name: 'rules[1]',
      network: ['udp'],
      dst_port: [
        { from: 53, to: 53 },
        { from: 5000, to: 5100 },
      ],
      outbound: 'direct',
    });
    assert.equal(c.route.final, 'direct');
    assert.equal(c.baseDir, '/etc/sluice');
  });

  it('keeps every key of an outbound entry as raw, for the type factory', () => {
    const c = parse(`${MINIMAL.replace('{ tag: direct, type: direct }', '{ tag: s, type: socks, server: 10.0.0.1, port: 1080, via: x }')}`);
    assert.deepEqual(c.outbounds[0].raw, { tag: 's', type: 'socks', server: '10.0.0.1', port: 1080, via: 'x' });
  });

  it('fills in every default', () => {
    const c = parse(MINIMAL);
    assert.equal(c.log.level, 'info');
    assert.deepEqual(c.plugins, []);
    assert.deepEqual(c.inbounds[0].network, ['tcp', 'udp']);
    assert.equal(c.inbounds[0].reuse_port, false);
    assert.deepEqual(c.timeouts, { connect_ms: 10000, tcp_idle_ms: 300000, udp_idle_ms: 60000, drain_ms: 5000 });
    assert.deepEqual(c.udp, { max_sessions: 10000 });
    assert.equal(c.workers, 1);
    assert.deepEqual(c.relay, { splice: true, native_udp: true });
    assert.deepEqual(c.firewall, {
      fwmark: 1,
      table: 100,
      bypass_mark: 2,
      interfaces: [],
      bypass_cidr: [...DEFAULTS.firewall.bypass_cidr],
      local: false,
      offload: false,
    });
    assert.deepEqual(c.route, { rules: [], rule_sets: [], final: 'direct', hook_timeout_ms: 1000 }, 'a single outbound is the default final');
  });

  it('reads explicit values of every section', () => {
    const c = parse(`${MINIMAL}
log: { level: debug }
plugins: [sluice-plugin-a, "@scope/b"]
timeouts: { connect_ms: 1, tcp_idle_ms: 2, udp_idle_ms: 3, drain_ms: 0 }
udp: { max_sessions: 7 }
workers: 4
relay: { splice: false, native_udp: false }
route: { final: direct, hook_timeout_ms: 250 }
firewall: { fwmark: 4, table: 252, bypass_mark: 8, interfaces: [eth1, eth1, "wg*"], bypass_cidr: 10.0.0.0/8, local: true, offload: true }
`);
    assert.equal(c.log.level, 'debug');
    assert.deepEqual(c.plugins, ['sluice-plugin-a', '@scope/b']);
    assert.deepEqual(c.timeouts, { connect_ms: 1, tcp_idle_ms: 2, udp_idle_ms: 3, drain_ms: 0 });
    assert.deepEqual(c.udp, { max_sessions: 7 });
    assert.equal(c.workers, 4);
    assert.deepEqual(c.relay, { splice: false, native_udp: false });
    assert.equal(c.route.hook_timeout_ms, 250);
    assert.equal(parse(`${MINIMAL}\nworkers: auto`).workers, 'auto');
    assert.deepEqual(c.firewall, { fwmark: 4, table: 252, bypass_mark: 8, interfaces: ['eth1', 'wg*'], bypass_cidr: ['10.0.0.0/8'], local: true, offload: true });
  });

  it('reads hex numbers both as YAML 0x literals and as strings', () => {
    const c = parse(`${MINIMAL}
firewall: { fwmark: 0x10, table: "0x20", bypass_mark: "0x200" }
udp: { max_sessions: "500" }
`);
    assert.equal(c.firewall.fwmark, 16);
    assert.equal(c.firewall.table, 32);
    assert.equal(c.firewall.bypass_mark, 512);
    assert.equal(c.udp.max_sessions, 500);
  });

  it('takes bypass_mark from the first outbound with a numeric mark', () => {
    const c = parse(`
inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds:
  - { tag: a, type: block }
  - { tag: b, type: direct, mark: "0xff00" }
  - { tag: c, type: direct, mark: 7 }
route: { final: a }
`);
    assert.equal(c.firewall.bypass_mark, 0xff00);
    const explicit = parse(`${MINIMAL.replace('type: direct }', 'type: direct, mark: 4 }')}\nfirewall: { bypass_mark: 8 }`);
    assert.equal(explicit.firewall.bypass_mark, 8, 'an explicit bypass_mark wins');
  });

  it('accepts single values where lists are allowed and normalises networks', () => {
    const c = parse(`
inbounds:
  - { tag: in, type: tproxy, listen: "::", port: 15001, network: udp, reuse_port: true }
outbounds: [{ tag: direct, type: direct }]
route:
  rules:
    - { name: lan, network: [udp, tcp, udp], inbound: in, src_cidr: 192.168.0.0/16, dst_cidr: "2001:db8::1", src_port: 1024, dst_port: "1-1023", outbound: direct }
`);
    assert.deepEqual(c.inbounds[0].network, ['udp']);
    assert.equal(c.inbounds[0].reuse_port, true);
    assert.deepEqual(c.route.rules[0], {
      name: 'lan',
      network: ['tcp', 'udp'],
      inbound: ['in'],
      src_cidr: ['192.168.0.0/16'],
      dst_cidr: ['2001:db8::1'],
      src_port: [{ from: 1024, to: 1024 }],
      dst_port: [{ from: 1, to: 1023 }],
      outbound: 'direct',
    });
  });

  it('parses JSON, including hex strings', () => {
    const c = parseConfig(
      JSON.stringify({
        inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
        outbounds: [{ tag: 'direct', type: 'direct', mark: '0x2' }],
        firewall: { fwmark: '0x4', interfaces: ['eth1'], bypass_cidr: ['10.0.0.0/8'], local: true },
      }),
      { format: 'json', baseDir: '/' },
    );
    assert.equal(c.firewall.fwmark, 4);
    assert.equal(c.firewall.bypass_mark, 2);
    assert.deepEqual(c.firewall.interfaces, ['eth1']);
    assert.deepEqual(c.firewall.bypass_cidr, ['10.0.0.0/8']);
    assert.equal(c.firewall.local, true);
  });

  it('supports YAML anchors and merge keys', () => {
    const c = parse(`
inbounds:
  - &base { tag: a, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { <<: *base, tag: b, port: 15002 }
outbounds: [{ tag: direct, type: direct }]
`);
    assert.deepEqual(
      c.inbounds.map((i) => [i.tag, i.port, i.listen]),
      [
        ['a', 15001, '127.0.0.1'],
        ['b', 15002, '127.0.0.1'],
      ],
    );
  });

  describe('files', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sluice-config-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('loads YAML and JSON files, with baseDir set to the file directory', async () => {
      await writeFile(join(dir, 'a.yaml'), EXAMPLE);
      await writeFile(join(dir, 'b.json'), JSON.stringify({ inbounds: [{ tag: 'i', type: 'tproxy', listen: '::1', port: 1 }], outbounds: [{ tag: 'o', type: 'block' }] }));
      const a = await loadConfigFile(join(dir, 'a.yaml'));
      assert.equal(a.baseDir, dir);
      assert.equal(a.route.rules.length, 2);
      const b = await validateConfigFile(join(dir, 'b.json'));
      assert.equal(b.route.final, 'o');
      await writeFile(join(dir, 'c.json'), '{"inbounds": [}');
      await assert.rejects(loadConfigFile(join(dir, 'c.json')), /^ConfigError: JSON syntax error at line 1, column \d+/);
    });

    it('prints a normalised config that loads again to the same config', async () => {
      const c = parse(`${EXAMPLE}\nworkers: auto\n`);
      await writeFile(join(dir, 'printed.yaml'), stringify(toConfigDocument(c)));
      const again = await loadConfigFile(join(dir, 'printed.yaml'));
      assert.deepEqual({ ...again, baseDir: '' }, { ...c, baseDir: '' });
    });
  });
});

describe('config: redactConfig', () => {
  it('replaces secrets at any depth and leaves the input alone', () => {
    const raw = {
      outbounds: [
        { tag: 's', type: 'socks', username: 'alice', password: 'hunter2', port: 1080 },
        { tag: 't', type: 'x', nested: { admin_token: 'abc', Secret: 's', list: [{ token: 't' }] } },
      ],
      api: { token: 'tok', listen: '127.0.0.1' },
    };
    const copy = structuredClone(raw);
    const r = redactConfig(raw);
    assert.deepEqual(r, {
      outbounds: [
        { tag: 's', type: 'socks', username: '[redacted]', password: '[redacted]', port: 1080 },
        { tag: 't', type: 'x', nested: { admin_token: '[redacted]', Secret: '[redacted]', list: [{ token: '[redacted]' }] } },
      ],
      api: { token: '[redacted]', listen: '127.0.0.1' },
    });
    assert.deepEqual(raw, copy);
  });
});
