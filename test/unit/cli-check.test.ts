import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../helpers/cli';
import { parseConfig } from '@sluice/core';

const sluice = runCli;

const GOOD = `
log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
  - { tag: up, type: socks, server: 192.0.2.1, port: 1080, username: alice, password: hunter2 }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { network: udp, dst_port: [53, "5000-5100"], outbound: direct }
  final: direct
firewall: { interfaces: [lan0] }
`;

describe('cli: sluice check', () => {
  let dir: string;
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-check-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a good file and summarises it', async () => {
    const r = await sluice('check', '-c', file('good.yaml', GOOD));
    assert.deepEqual(r, { code: 0, stdout: 'config OK: 2 inbounds, 3 outbounds, 2 rules\n  rules[0]: dst_cidr=203.0.113.0/24 -> deny\n  rules[1]: network=udp && dst_port=[53,5000-5100] -> direct\n  final -> direct\n', stderr: '' });
  });

  it('with firewall.offload, says which leading rules the kernel forwards and where that stops', async () => {
    const offload = GOOD.replace("    - { dst_cidr: [203.0.113.0/24], outbound: deny }\n", '    - { dst_cidr: [198.51.100.0/24], outbound: direct }\n    - { dst_cidr: [203.0.113.0/24], outbound: deny }\n').replace('firewall: { interfaces: [lan0] }', 'firewall: { interfaces: [lan0], offload: true }');
    const r = await sluice('check', '-c', file('offload.yaml', offload));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n  Offloaded: rules\[0\] "rules\[0\]" -> direct is forwarded by the kernel and counted in offload_up\/offload_down\.\n/);
    assert.match(r.stdout, /\n  Not offloaded from rules\[1\] "rules\[1\]" on \(first match wins\): outbound "deny" is of type block, not direct\.\n/);
  });

  it('accepts JSON', async () => {
    const json = JSON.stringify({ inbounds: [{ tag: 'in', type: 'tproxy', listen: '::1', port: 15001 }], outbounds: [{ tag: 'o', type: 'direct', mark: '0x2' }] });
    const r = await sluice('check', '--config', file('good.json', json));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'config OK: 1 inbounds, 1 outbounds, 0 rules\n');
  });

  it('--print echoes the normalised config with secrets redacted, and it loads again', async () => {
    const r = await sluice('check', '-c', file('print.yaml', GOOD), '--print');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# config OK: 2 inbounds, 3 outbounds, 2 rules\n/);
    assert.doesNotMatch(r.stdout, /hunter2|alice/);
    assert.match(r.stdout, /password: "?\[redacted\]"?/);
    assert.match(r.stdout, /udp_idle_ms: 60000/, 'defaults are filled in');
    const again = parseConfig(r.stdout, { baseDir: '/' });
    assert.equal(again.outbounds[2].raw.password, '[redacted]');
    assert.equal(again.firewall.bypass_mark, 2);
  });

  const BAD: [string, string, string[]][] = [
    ['port out of range', GOOD.replace('port: 15001', 'port: 70000'), ['inbounds[0].port: must be 1-65535']],
    ['unknown final', GOOD.replace('final: direct', 'final: nowhere'), ['route.final: unknown outbound "nowhere"']],
    ['duplicate outbound tag', GOOD.replace('tag: deny', 'tag: direct'), ['outbounds[1].tag: duplicate tag "direct"', 'route.rules[0].outbound: unknown outbound "deny"']],
    ['bad CIDR', GOOD.replace('[203.0.113.0/24]', '[203.0.113.0/24, 10.0.0.0/33]'), ['route.rules[0].dst_cidr[1]: invalid CIDR "10.0.0.0/33"']],
    ['misspelled key', GOOD.replace('log: { level: info }', 'log: { levle: info }'), ['log.levle: unknown key "levle" (did you mean "level"?)']],
    ['YAML syntax', 'inbounds: [\n', ['YAML syntax error at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]']],
  ];
  for (const [name, text, expected] of BAD) {
    it(`rejects a bad file (${name}) with one line per issue on stderr`, async () => {
      const r = await sluice('check', '-c', file(`${name.replace(/\W+/g, '-')}.yaml`, text));
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.stderr.trimEnd().split('\n'), expected);
    });
  }

  it('reports a missing file', async () => {
    const r = await sluice('check', '-c', join(dir, 'missing.yaml'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `cannot read config file ${join(dir, 'missing.yaml')}: no such file\n`);
  });

  it('requires -c', async () => {
    const r = await sluice('check');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /required option '-c, --config <file>'/);
  });

  it('sets the exit status of the real binary', () => {
    const bin = resolve(__dirname, '../../../packages/core/bin/sluice.js');
    const good = spawnSync(process.execPath, [bin, 'check', '-c', file('bin-good.yaml', GOOD)], { encoding: 'utf8' });
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stdout, 'config OK: 2 inbounds, 3 outbounds, 2 rules\n  rules[0]: dst_cidr=203.0.113.0/24 -> deny\n  rules[1]: network=udp && dst_port=[53,5000-5100] -> direct\n  final -> direct\n');
    const bad = spawnSync(process.execPath, [bin, 'check', '-c', file('bin-bad.yaml', GOOD.replace('port: 15002', 'port: 0'))], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'inbounds[1].port: must be 1-65535\n');
  });
});
