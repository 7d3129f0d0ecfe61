import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const bin = path.resolve(__dirname, '..', '..', '..', '..', 'packages', 'core', 'bin', 'sluice.js');

/** Runs `sluice check` on `yaml`, with `files` (relative path → content) next to the config, from that directory. */
function check(yaml: string, files: Record<string, string> = {}): { status: number | null; stderr: string; stdout: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-check-'));
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, yaml);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  const r = spawnSync(process.execPath, [bin, 'check', '-c', file], { encoding: 'utf8', cwd: dir });
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
    assert.match(r.stderr, /outbounds\[0\]\.type: unknown outbound type "wormhole" \(known: block, direct, fallback, load-balance, selector, socks, url-test\)/);
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

  it('refuses a plugin made for another @sluice/core, naming both versions', () => {
    const version = (JSON.parse(fs.readFileSync(path.join(path.dirname(bin), '..', 'package.json'), 'utf8')) as { version: string }).version;
    const plugin = `exports.plugin = { name: 'sluice-plugin-future', sluice: '^9.0.0', outbounds: [] };\n`;
    const r = check(`plugins: [./future.js]\n${inbound}outbounds: [{ tag: d, type: direct }]\n`, { 'future.js': plugin });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`plugin "sluice-plugin-future" needs @sluice/core \\^9\\.0\\.0, but this is @sluice/core ${version.replace(/\./g, '\\.')}`));
  });

  it('uses the real built-in plugins even with a shadowing package next to the config', () => {
    const shadow = { 'node_modules/@sluice/plugin-direct/index.js': `throw new Error('shadow plugin loaded');\n` };
    const r = check(`plugins: ['@sluice/plugin-direct']\n${inbound}outbounds: [{ tag: d, type: direct, mark: 2 }]\n`, shadow);
    assert.doesNotMatch(r.stderr + r.stdout, /shadow plugin loaded/);
    assert.equal(r.status, 0, r.stderr);
  });
});
