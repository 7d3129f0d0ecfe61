import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig } from '@sluice/core';
import { renderFirewall } from '@sluice/core';

// Everything here runs inside a throwaway network namespace; the host's own ruleset is only read.
const NS = `sfw-${process.pid}`;
const BIN = resolve(__dirname, '../../../packages/core/bin/sluice.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(argv: string[], input?: string): Run {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

/** Runs a command in the test namespace and fails the test when it fails. */
function ns(argv: string[], input?: string): string {
  const r = sh(['ip', 'netns', 'exec', NS, ...argv], input);
  assert.equal(r.code, 0, `${argv.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const tryNs = (argv: string[], input?: string): Run => sh(['ip', 'netns', 'exec', NS, ...argv], input);

/** What must not change on the host: our table's existence and our ip rules. */
function hostState(): string {
  const table = sh(['nft', 'list', 'table', 'inet', 'sluice']).code === 0;
  return JSON.stringify({ table, rules4: sh(['ip', 'rule', 'list', 'fwmark', '0x1']).stdout, rules6: sh(['ip', '-6', 'rule', 'list', 'fwmark', '0x1']).stdout });
}

const CONFIGS: Record<string, string> = {
  'gateway, IPv4 + IPv6': `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002 }
outbounds: [{ tag: direct, type: direct, mark: 0x2 }]
`,
  'local mode, interfaces, custom marks, overlapping bypass ranges': `
inbounds:
  - { tag: in4, type: tproxy, listen: 0.0.0.0, port: 15001, network: tcp }
  - { tag: in4b, type: tproxy, listen: 127.0.0.1, port: 15003 }
outbounds: [{ tag: direct, type: direct, mark: "0xff00" }]
firewall: { fwmark: 0x10, table: 200, local: true, interfaces: [eth0, "wg*"], bypass_cidr: [10.0.0.0/8, 10.1.0.0/16, "fd00::/8"] }
`,
  'IPv6 UDP only, wildcard, no bypass ranges': `
inbounds: [{ tag: in6, type: tproxy, listen: "::", port: 15002, network: udp }]
outbounds: [{ tag: direct, type: direct }]
firewall: { bypass_cidr: [] }
`,
  'firewall.offload: v4 and v6 sets, ports, a src-only rule, local mode': `
inbounds:
  - { tag: in4, type: tproxy, listen: 0.0.0.0, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::", port: 15002 }
outbounds: [{ tag: direct, type: direct, mark: 0x2 }]
route:
  rules:
    - { dst_cidr: [1.0.1.0/24, 1.0.1.128/25, "2400:3200::/32"], outbound: direct }
    - { src_cidr: [192.168.1.0/24], dst_port: [443, "8000-8100"], network: tcp, outbound: direct }
    - { src_port: 5353, outbound: direct }
firewall: { offload: true, local: true }
`,
  'firewall.offload with a redirect inbound, gateway mode': `
inbounds: [{ tag: r, type: redirect, listen: 0.0.0.0, port: 15005 }]
outbounds: [{ tag: direct, type: direct }]
route:
  rules: [{ dst_cidr: [203.0.113.0/24], outbound: direct }]
firewall: { offload: true }
`,
};

describe('firewall: rulesets in a network namespace', function () {
  this.timeout(120_000);
  let dir: string;
  let hostBefore: string;

  before(function () {
    assert.equal(process.getuid?.(), 0, 'these tests need root (CAP_NET_ADMIN) to create a network namespace');
    hostBefore = hostState();
    sh(['ip', 'netns', 'del', NS]);
    assert.equal(sh(['ip', 'netns', 'add', NS]).code, 0);
    // A fresh namespace has lo down, and `ip route add local … dev lo` refuses a down device.
    ns(['ip', 'link', 'set', 'lo', 'up']);
    // Someone else's table, which nothing of ours may touch.
    ns(['nft', '-f', '-'], 'table inet other {\n\tchain c { type filter hook input priority 0; policy accept; }\n}\n');
    dir = mkdtempSync(join(tmpdir(), 'sfw-'));
  });

  after(() => {
    sh(['ip', 'netns', 'del', NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    tryNs(['nft', 'delete', 'table', 'inet', 'sluice']);
  });

  for (const [name, yaml] of Object.entries(CONFIGS)) {
    it(`${name}: passes nft -c, applies, re-applies identically, and deletes cleanly`, () => {
      const fw = renderFirewall(parseConfig(yaml, { baseDir: '/' }));
      ns(['nft', '-c', '-f', '-'], fw.nft);
      assert.notEqual(tryNs(['nft', 'list', 'table', 'inet', 'sluice']).code, 0, 'check mode must not create the table');

      ns(['nft', '-f', '-'], fw.nft);
      const first = ns(['nft', 'list', 'table', 'inet', 'sluice']);
      assert.match(first, yaml.includes('redirect') ? /chain nat_prerouting \{/ : /chain prerouting \{/);
      assert.match(first, yaml.includes('redirect') ? /redirect to :/ : /tproxy ip6? to/);
      assert.equal(/counter offload_up \{/.test(first), yaml.includes('offload: true'));
      assert.equal(/chain output \{/.test(first), yaml.includes('local: true'));

      ns(['nft', '-f', '-'], fw.nft);
      assert.equal(ns(['nft', 'list', 'table', 'inet', 'sluice']), first, 're-applying must replace, not add');
      assert.equal(ns(['nft', 'list', 'tables']).match(/inet sluice/g)?.length, 1);

      ns(['nft', 'delete', 'table', 'inet', 'sluice']);
      assert.notEqual(tryNs(['nft', 'list', 'table', 'inet', 'sluice']).code, 0);
      assert.match(ns(['nft', 'list', 'tables']), /table inet other/);
    });
  }

  it('sluice rules --apply / --remove: idempotent, exact, and leave other tables alone', () => {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, CONFIGS['gateway, IPv4 + IPv6']);
    const cli = (flag: string): Run => tryNs(['node', BIN, 'rules', '-c', file, flag]);

    for (let i = 0; i < 2; i++) {
      const r = cli('--apply');
      assert.equal(r.code, 0, r.stderr);
    }
    assert.match(ns(['nft', 'list', 'table', 'inet', 'sluice']), /tproxy ip to 127\.0\.0\.1:15001/);
    assert.equal(ns(['ip', 'rule', 'list', 'fwmark', '0x1', 'lookup', '100']).trim().split('\n').length, 1, 'no duplicate ip rule');
    assert.equal(ns(['ip', '-6', 'rule', 'list', 'fwmark', '0x1', 'lookup', '100']).trim().split('\n').length, 1);
    assert.match(ns(['ip', 'route', 'show', 'table', '100']), /^local default dev lo/m);
    assert.match(ns(['ip', '-6', 'route', 'show', 'table', '100']), /^local default dev lo/m);

    for (let i = 0; i < 2; i++) {
      const r = cli('--remove');
      assert.equal(r.code, 0, r.stderr);
    }
    assert.notEqual(tryNs(['nft', 'list', 'table', 'inet', 'sluice']).code, 0);
    assert.equal(ns(['ip', 'rule', 'list', 'fwmark', '0x1']).trim(), '');
    assert.equal(ns(['ip', '-6', 'rule', 'list', 'fwmark', '0x1']).trim(), '');
    assert.equal(ns(['ip', 'route', 'show', 'table', '100']).trim(), '');
    assert.match(ns(['nft', 'list', 'tables']), /table inet other/);
  });

  it('--apply adopts no policy routing another tool installed, and --remove leaves it in place', () => {
    const file = join(dir, 'foreign.yaml');
    writeFileSync(file, CONFIGS['gateway, IPv4 + IPv6']);
    // Another tool (or the admin) set up the same rule and route for IPv4 before Sluice.
    ns(['ip', 'rule', 'add', 'fwmark', '0x1', 'lookup', '100']);
    ns(['ip', 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', '100']);
    try {
      const applied = tryNs(['node', BIN, 'rules', '-c', file, '--apply']);
      assert.equal(applied.code, 0, applied.stderr);
      assert.equal(ns(['ip', 'rule', 'list', 'fwmark', '0x1', 'lookup', '100']).trim().split('\n').length, 1, 'no duplicate ip rule');
      const removed = tryNs(['node', BIN, 'rules', '-c', file, '--remove']);
      assert.equal(removed.code, 0, removed.stderr);
      assert.match(ns(['ip', 'rule', 'list', 'fwmark', '0x1']), /lookup 100/, 'the foreign rule was removed');
      assert.match(ns(['ip', 'route', 'show', 'table', '100']), /^local default dev lo/m, 'the foreign route was removed');
      // What Sluice added itself (IPv6 here) is gone.
      assert.equal(ns(['ip', '-6', 'rule', 'list', 'fwmark', '0x1']).trim(), '');
    } finally {
      tryNs(['ip', 'rule', 'del', 'fwmark', '0x1', 'lookup', '100']);
      tryNs(['ip', 'route', 'del', 'local', 'default', 'dev', 'lo', 'table', '100']);
    }
  });

  it('what sluice rules prints can be applied by hand, and --remove undoes it', () => {
    const file = join(dir, 'printed.yaml');
    writeFileSync(file, CONFIGS['local mode, interfaces, custom marks, overlapping bypass ranges']);
    const printed = sh(['node', BIN, 'rules', '-c', file]);
    assert.equal(printed.code, 0, printed.stderr);
    const lines = printed.stdout.split('\n');
    const commands = lines.filter((l) => l.startsWith('ip '));
    const nft = lines.filter((l) => !l.startsWith('ip ')).join('\n');
    assert.deepEqual(commands, ['ip rule add fwmark 0x10 lookup 200 protocol 250', 'ip route add local default dev lo table 200 proto 250']);
    ns(['nft', '-f', '-'], nft);
    for (const c of commands) ns(c.split(' '));
    assert.match(ns(['nft', 'list', 'chain', 'inet', 'sluice', 'output']), /meta mark set 0x00000010/);
    assert.match(ns(['ip', 'rule', 'list']), /fwmark 0x10 lookup 200/);

    const r = tryNs(['node', BIN, 'rules', '-c', file, '--remove']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(ns(['ip', 'rule', 'list']), /lookup 200/);
    assert.equal(ns(['ip', 'route', 'show', 'table', '200']).trim(), '');
  });

  it('left the host untouched', () => {
    assert.equal(hostState(), hostBefore);
  });
});
