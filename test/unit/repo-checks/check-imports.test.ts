import * as assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, writeTree } from './fixture';

interface DeepImport {
  file: string;
  line: number;
  specifier: string;
}
const { findDeepImports } = require(path.join(REPO_ROOT, 'test/check-imports.js')) as {
  findDeepImports(root: string): DeepImport[];
};

describe('check:imports', () => {
  it('finds @sluice/*/dist and packages/*/dist imports in test/, bench/ and examples/, and nothing else', () => {
    // Written with <dist> so this file does not itself contain the imports the check looks for.
    const root = writeTree(withDist({
      'test/unit/a.test.ts': [
        "import { Router } from '@sluice/core';",
        "import { x } from '@sluice/core/<dist>/router';",
        'import {',
        '  y,',
        "} from '@sluice/plugin-socks/<dist>/ip';",
        "import { mock } from '@sluice/core/testing';",
      ].join('\n'),
      'bench/b.js': "const { relay } = require('../packages/core/<dist>/relay');\nconst n = require('@sluice/native');\n",
      'examples/c.js': "const p = import('@sluice/native/<dist>');\n",
      // Compiled output and other folders are not sources.
      'test/<dist>/unit/a.test.js': "require('@sluice/core/<dist>/router');\n",
      'docs/d.ts': "import '@sluice/core/<dist>/router';\n",
    }));
    try {
      assert.deepEqual(sorted(findDeepImports(root)), sorted([
        { file: path.join('test/unit/a.test.ts'), line: 2, specifier: '@sluice/core/dist/router' },
        { file: path.join('test/unit/a.test.ts'), line: 5, specifier: '@sluice/plugin-socks/dist/ip' },
        { file: path.join('bench/b.js'), line: 1, specifier: '../packages/core/dist/relay' },
        { file: path.join('examples/c.js'), line: 1, specifier: '@sluice/native/dist' },
      ]));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function withDist(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k.replace(/<dist>/g, 'dist'), v.replace(/<dist>/g, 'dist')]));
}

function sorted(list: DeepImport[]): DeepImport[] {
  return [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}
