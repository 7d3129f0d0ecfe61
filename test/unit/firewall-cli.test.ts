import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { parseConfig } from '@sluice/core';
import { renderFirewall } from '@sluice/core';

const sluice = runCli;

const GOOD = `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002 }
outbounds: [{ tag: direct, type: direct, mark: 0x2 }]
`;

describe('cli: sluice rules', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-rules-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the ruleset, then the ip commands, then how to remove them', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, GOOD);
    const r = await sluice('rules', '-c', file);
    assert.equal(r.code, 0, r.stderr);
    const fw = renderFirewall(parseConfig(GOOD, { baseDir: dir }));
    const nftAt = r.stdout.indexOf(fw.nft.trimEnd());
    assert.ok(nftAt >= 0, 'the ruleset is printed verbatim');
    const after = r.stdout.slice(nftAt + fw.nft.length).split('\n');
    assert.deepEqual(
      after.filter((l) => l.startsWith('ip ')),
      fw.up,
      'the ip commands follow the ruleset, as plain lines',
    );
    for (const c of fw.down) assert.ok(after.includes(`#   ${c}`), `removal hint for ${c}`);
    for (const line of r.stdout.split('\n').slice(0, 2)) assert.match(line, /^#/);
  });

  it('prints config errors and exits 1 without printing rules', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, GOOD.replace('port: 15001', 'port: 0'));
    for (const flag of [[], ['--apply'], ['--remove']]) {
      const r = await sluice('rules', '-c', file, ...flag);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'inbounds[0].port: must be 1-65535\n');
    }
  });

  it('refuses --apply together with --remove', async () => {
    const file = join(dir, 'both.yaml');
    writeFileSync(file, GOOD);
    const r = await sluice('rules', '-c', file, '--apply', '--remove');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /mutually exclusive/);
  });
});
