#!/usr/bin/env node
'use strict';
/**
 * `npm run check:imports`: fails when a test, benchmark or example imports a
 * package's compiled internals (`@sluice/core/dist/...`, or the same file
 * reached by a relative `packages/core/dist/...` path) instead of a public
 * entry point: `@sluice/core`, `@sluice/core/testing`, a plugin's main
 * export, or `@sluice/testbed`. Internals move without notice; a test that
 * reaches into them tests something users cannot rely on.
 *
 * Reads import/export `from`, `import()`, `require()` and `require.resolve()`
 * specifiers in .ts/.js/.mjs/.cjs files under test/, bench/ and examples/
 * (not compiled output or node_modules).
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIRS = ['test', 'bench', 'examples'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'results']);
const SOURCE = /\.(ts|js|mjs|cjs)$/;
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire(?:\.resolve)?\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;
const DEEP = /(?:^|\/)(?:@sluice|packages)\/[^/]+\/dist(?:\/|$)/;

function* sourceFiles(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* sourceFiles(p);
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) yield p;
  }
}

/** Every deep import under `root` as `{ file, line, specifier }`, file relative to `root`. */
function findDeepImports(root = ROOT) {
  const found = [];
  for (const dir of DIRS) {
    const abs = path.join(root, dir);
    if (!fs.existsSync(abs)) continue;
    for (const file of sourceFiles(abs)) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(SPECIFIER)) {
        if (!DEEP.test(m[2])) continue;
        const line = text.slice(0, m.index).split('\n').length;
        found.push({ file: path.relative(root, file), line, specifier: m[2] });
      }
    }
  }
  return found;
}

if (require.main === module) {
  const found = findDeepImports();
  if (found.length === 0) {
    process.stdout.write(`check:imports: no imports of @sluice/*/dist/ in ${DIRS.join('/, ')}/\n`);
  } else {
    const files = new Set(found.map((f) => f.file)).size;
    process.stderr.write(
      `check:imports: ${found.length} import(s) of package internals in ${files} file(s); ` +
        'use @sluice/core, @sluice/core/testing, a plugin\'s main export or @sluice/testbed instead:\n' +
        found.map((f) => `  ${f.file}:${f.line}  ${f.specifier}`).join('\n') +
        '\n',
    );
    process.exitCode = 1;
  }
}

module.exports = { findDeepImports };
