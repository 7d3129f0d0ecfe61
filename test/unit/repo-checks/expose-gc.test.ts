import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './fixture';

/*
 * Tests call `global.gc?.()` after each case to flush native lifetime bugs
 * (a handle freed while libuv still polls it). Without `--expose-gc` the call
 * is silently skipped, so every mocha run that reaches those tests must pass
 * the flag: .mocharc.json for `npm test`, `--node-option` for runs without it.
 */

function testSources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (name === 'dist' || name === 'node_modules') return [];
    return statSync(p).isDirectory() ? testSources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('repo: global.gc in tests really runs', () => {
  it('.mocharc.json and every package.json script that runs test/dist/unit without it pass --expose-gc', () => {
    const usesGc = testSources(path.join(REPO_ROOT, 'test')).filter((f) => !f.endsWith('expose-gc.test.ts') && readFileSync(f, 'utf8').includes('gc?.()'));
    assert.ok(usesGc.length > 0, 'no test calls global.gc?.(): drop this check');
    const mocharc = JSON.parse(readFileSync(path.join(REPO_ROOT, '.mocharc.json'), 'utf8')) as { 'node-option'?: string[] };
    assert.ok(mocharc['node-option']?.includes('expose-gc'), '.mocharc.json lacks "node-option": ["expose-gc"]');
    const scripts = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const [name, script] of Object.entries(scripts)) {
      if (!/mocha .*--no-config/.test(script) || !script.includes('test/dist/unit')) continue;
      assert.match(script, /--node-option expose-gc/, `script "${name}" runs unit tests without --expose-gc`);
    }
  });

  it('is exposed in this run when mocha was started with the flag', function () {
    // Runs started by hand (`npx mocha --no-config ...`) may leave it out; the configured runs may not.
    if (!process.execArgv.includes('--expose-gc')) return;
    assert.equal(typeof global.gc, 'function');
  });
});
