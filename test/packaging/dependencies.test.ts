import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runtimeImports } from './runtime-imports';
import { productWorkspaces } from './workspaces';

// What the pack test proves by installing, checked here in milliseconds and
// naming the file: a package imported at run time but declared only at the
// root works in the repository and fails once installed on its own.
describe('packaging: runtime dependencies are declared', () => {
  for (const w of productWorkspaces()) {
    it(`${w.manifest.name}: every package its sources load at run time is in its dependencies or peerDependencies`, () => {
      const declared = new Set([...Object.keys(w.manifest.dependencies ?? {}), ...Object.keys(w.manifest.peerDependencies ?? {})]);
      const missing = runtimeImports(w.sourceDir).filter((i) => i.pkg !== w.manifest.name && !declared.has(i.pkg));
      assert.deepEqual(missing, [], `${w.manifest.name} loads packages its package.json does not declare`);
    });
  }

  it('the scan counts value imports, re-exports and require(), and skips type-only imports and built-ins', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-imports-'));
    try {
      writeFileSync(
        path.join(dir, 'a.ts'),
        [
          "import 'side-effect';",
          "import value from 'value-pkg';",
          "import type { T } from 'type-pkg';",
          "import { type U } from 'type-pkg-2';",
          "export { x } from '@scope/reexported/sub';",
          "export type { Y } from 'type-reexport';",
          "import * as fs from 'node:fs';",
          "import * as os from 'os';",
          "import { local } from './local';",
          "const r = require('required-pkg');",
        ].join('\n'),
      );
      const pkgs = runtimeImports(dir).map((i) => i.pkg).sort();
      assert.deepEqual(pkgs, ['@scope/reexported', 'required-pkg', 'side-effect', 'value-pkg']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
