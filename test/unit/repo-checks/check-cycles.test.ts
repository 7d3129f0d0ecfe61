import * as assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, writeTree } from './fixture';

const { findCycles } = require(path.join(REPO_ROOT, 'test/check-cycles.js')) as {
  findCycles(root: string): Promise<{ problems: string[]; scanned: number; packages: string[] }>;
};

/** A one-workspace repository whose sources are `files` (relative to its src/). */
function repo(files: Readonly<Record<string, string>>, extra: Readonly<Record<string, string>> = {}): string {
  const tree: Record<string, string> = {
    'package.json': JSON.stringify({ private: true, workspaces: ['packages/p', 'packages/private'] }),
    'packages/p/package.json': JSON.stringify({ name: '@x/p' }),
    'packages/p/tsconfig.json': JSON.stringify({ compilerOptions: { rootDir: 'src' } }),
    'packages/private/package.json': JSON.stringify({ name: '@x/private', private: true }),
    'packages/private/tsconfig.json': JSON.stringify({ compilerOptions: { rootDir: 'src' } }),
    ...extra,
  };
  for (const [rel, text] of Object.entries(files)) tree[`packages/p/src/${rel}`] = text;
  return writeTree(tree);
}

describe('check:cycles', function () {
  this.timeout(30_000);

  it('reports a cycle between folders that no single file closes, counting type-only imports', async () => {
    const root = repo({
      'config/index.ts': "import { plan } from '../outbound/registry';\nexport const c = plan;\n",
      'config/types.ts': 'export interface Entry { tag: string }\n',
      'outbound/registry.ts': "import type { Entry } from '../config/types';\nexport const plan = (e: Entry) => e.tag;\n",
    });
    try {
      const { problems } = await findCycles(root);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /folders of packages\/p\/src: config\/ ⇄ outbound\//);
      assert.match(problems[0]!, /outbound\/registry\.ts → config\/types\.ts/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports a file cycle once, and none for an acyclic tree or in a private workspace', async () => {
    const root = repo(
      {
        'a.ts': "import { b } from './b';\nexport const a = () => b;\n",
        'b.ts': "import { a } from './a';\nexport const b = () => a;\n",
        'flow/x.ts': "import { y } from '../relay/y';\nexport const x = y;\n",
        'relay/y.ts': 'export const y = 1;\n',
      },
      {
        'packages/private/src/c.ts': "import { d } from './d';\nexport const c = d;\n",
        'packages/private/src/d.ts': "import { c } from './c';\nexport const d = c;\n",
      },
    );
    try {
      const { problems, packages } = await findCycles(root);
      assert.deepEqual(packages, ['@x/p']);
      assert.deepEqual(problems, ['files: packages/p/src/a.ts → packages/p/src/b.ts → packages/p/src/a.ts']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
