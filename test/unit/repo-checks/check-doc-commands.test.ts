import * as assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, writeTree } from './fixture';

interface Missing {
  file: string;
  line: number;
  problem: string;
}
const { findMissingCommands } = require(path.join(REPO_ROOT, 'test/check-doc-commands.js')) as {
  findMissingCommands(root: string): Missing[];
};

/** A small repository: scripts, a workspace, a benchmark with a shared flag, a test source and a CLI command. */
const BASE: Record<string, string> = {
  'package.json': JSON.stringify({ workspaces: ['packages/core'], scripts: { build: 'tsc -b', bench: 'node bench/run-all.js' } }),
  'packages/core/package.json': JSON.stringify({ name: '@sluice/core', scripts: { 'build:ui': 'node scripts/build-ui.js' } }),
  'packages/core/src/cli/check.ts': "program.command('check').option('-c, --config <file>', 'x').option('--print', 'y');\n",
  'bench/run-all.js': "parseArgs({ options: { only: { type: 'string' } } });\n",
  'bench/conn-rate.js': "require('./lib/harness');\n",
  'bench/lib/harness.js': "const OPTIONS = { quick: { type: 'boolean' }, 'no-write': { type: 'boolean' } };\n",
  'test/unit/a.test.ts': '',
};

function missing(docs: Record<string, string>): string[] {
  const root = writeTree({ ...BASE, ...docs });
  try {
    return findMissingCommands(root).map((m) => `${m.file}:${m.line}: ${m.problem}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('check:docs (commands named in the docs exist)', () => {
  it('passes commands that exist: scripts (also of a workspace), files, shared bench flags, compiled test paths, CLI options', () => {
    assert.deepEqual(missing({
      'README.md': [
        '```sh',
        'npm ci && npm run -s build',
        'sudo node bench/conn-rate.js --quick --no-write   # prints only',
        '```',
        'Figures from `npm run bench -- --only conn`, the bundle from `npm run build:ui -w @sluice/core`; the test',
        '(`npx mocha --no-config',
        '  test/dist/unit/a.test.js`) and `test/dist/unit/**/*.test.js`; `sluice check -c FILE --print`.',
      ].join('\n'),
      'packages/core/README.md': '`npm run build:ui` builds the dashboard.\n',
    }), []);
  });

  it('reports each missing script, file, flag, test source and CLI option with its file and line', () => {
    assert.deepEqual(missing({
      'README.md': ['# Sluice', '', 'Run `npm run bnech` first.'].join('\n'),
      'docs/speed.md': [
        'Measured with `node bench/dns.js`.',
        '```',
        'node bench/conn-rate.js --quick --reps-per-mode 3',
        '```',
        '`npm run build:ui -w @sluice/core` and `npm run lint -w @sluice/core`, `npm run x -w @sluice/nope`.',
        'The test (`test/dist/unit/gone.test.js`) and `sluice check --apply`.',
      ].join('\n'),
    }), [
      'README.md:3: npm run bnech: no script "bnech" in package.json',
      'docs/speed.md:1: bench/dns.js: no such file',
      'docs/speed.md:3: bench/conn-rate.js --reps-per-mode: the script has no such flag',
      'docs/speed.md:5: npm run lint -w @sluice/core: no script "lint" in packages/core/package.json',
      'docs/speed.md:5: npm run x -w @sluice/nope: no such workspace',
      'docs/speed.md:6: test/dist/unit/gone.test.js: its source test/unit/gone.test.ts does not exist',
      'docs/speed.md:6: sluice check --apply: no such option',
    ].map((s) => s.replace(/^docs\/speed\.md/, path.join('docs', 'speed.md'))));
  });

  it('finds nothing missing in this repository', () => {
    assert.deepEqual(findMissingCommands(REPO_ROOT), []);
  });
});
