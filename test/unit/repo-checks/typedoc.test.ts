import * as assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, writeTree } from './fixture';

/*
 * `npm run docs` renders the API reference of `@sluice/core` and `@sluice/core/testing` with TypeDoc
 * (typedoc.json at the root). The reference is only worth having if it is complete, so TypeDoc's
 * validation is on and any warning fails the run; these tests hold both halves: the real sources pass,
 * and the same options do catch an undocumented export and a broken {@link}.
 */

const UNDOCUMENTED = /does not have any documentation/;
const BROKEN_LINK = /Failed to resolve link/;
const NOT_EXPORTED = /but not included in the documentation/;

function typedoc(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/typedoc'), args, { cwd: REPO_ROOT, encoding: 'utf8' });
}

/** Every file below `dir`, relative to it, with `/` separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

describe('repo: npm run docs (TypeDoc API reference)', function () {
  this.timeout(180_000);
  let out: string;
  let run: SpawnSyncReturns<string>;

  before(() => {
    out = mkdtempSync(path.join(tmpdir(), 'sluice-docs-'));
    run = spawnSync('npm', ['run', '-s', 'docs', '--', '--out', out], { cwd: REPO_ROOT, encoding: 'utf8' });
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('exits 0 without a warning: every public export documented, every {@link} resolved', () => {
    const log = `${run.stdout}${run.stderr}`;
    assert.doesNotMatch(log, UNDOCUMENTED, log);
    assert.doesNotMatch(log, BROKEN_LINK, log);
    assert.doesNotMatch(log, NOT_EXPORTED, log);
    assert.doesNotMatch(log, /\[warning\]|\[error\]/, log);
    assert.equal(run.status, 0, log);
  });

  it('has a page for the key exports of both entry points', () => {
    // TypeDoc names a page <module>.<export>.html; the modules are `index` (@sluice/core) and `testing`.
    const pages = new Set(filesUnder(out).map((f) => path.posix.basename(f)));
    const expected = [
      ...['createSluice', 'definePlugin', 'defineOutbound', 'Sluice'].map((name) => `index.${name}.html`),
      ...['runTcp', 'createMockBinding'].map((name) => `testing.${name}.html`),
    ];
    assert.deepEqual(expected.filter((page) => !pages.has(page)), [], `missing among ${pages.size} files`);
  });

  it('fails on an undocumented export or a broken {@link} with the same options', () => {
    // Its own options file extending the root one: TypeDoc reads `tsconfig` from typedoc.json before the command line.
    const fixture = writeTree({
      'typedoc.json': JSON.stringify({ extends: [path.join(REPO_ROOT, 'typedoc.json')], entryPoints: ['index.ts'], tsconfig: 'tsconfig.json', readme: 'none', out: 'out' }),
      'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, module: 'commonjs' }, include: ['index.ts'] }),
      'index.ts': 'export function undocumented(): void {}\n\n/** See {@link NoSuchThing}. */\nexport const linked = 1;\n',
    });
    try {
      const bad = typedoc(['--options', path.join(fixture, 'typedoc.json')]);
      const log = `${bad.stdout}${bad.stderr}`;
      assert.match(log, UNDOCUMENTED, log);
      assert.match(log, BROKEN_LINK, log);
      assert.notEqual(bad.status, 0, log);
    } finally {
      rmSync(fixture, { recursive: true, force: true });
    }
  });
});
