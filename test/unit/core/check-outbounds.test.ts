import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const bin = path.resolve(__dirname, '..', '..', '..', '..', 'packages', 'core', 'bin', 'sluice.js');

function check(yaml: string): { status: number | null; stderr: string; stdout: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-check-'));
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, yaml);
  const r = spawnSync(process.execPath, [bin, 'check', '-c', file], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

const inbound = 'inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]\n';

describe('sluice check validates outbound options through the plugins', () => {
  it('names a bad option of a plugin type by its key path', () => {
    const r = check(`${inbound}outbounds: [{ tag: direct, type: direct, mark: "abc" }]\n`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /outbounds\[0\]\.mark: must be a number or a hex string/);
  });

  it('names an unknown outbound type and lists the known ones', () => {
    const r = check(`${inbound}outbounds: [{ tag: x, type: wormhole }]\n`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /outbounds\[0\]\.type: unknown outbound type "wormhole" \(known: block, direct, socks\)/);
  });

  it('reports a cycle in via', () => {
    const r = check(
      `${inbound}outbounds:\n  - { tag: a, type: socks, server: 127.0.0.1, port: 1080, via: b }\n  - { tag: b, type: socks, server: 127.0.0.1, port: 1081, via: a }\nroute: { final: a }\n`,
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cycle in via: a -> b -> a/);
  });

  it('never echoes a password', () => {
    const r = check(`${inbound}outbounds: [{ tag: s, type: socks, server: 127.0.0.1, port: 99999, username: u, password: hunter2-secret }]\n`);
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2-secret/);
  });
});
