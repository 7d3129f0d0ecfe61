import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { builtinOutboundDefinitions, configDocTables, configJsonSchema, fillDocTables } from '@sluice/core';

const REPO = path.resolve(__dirname, '../../../..');
const SCHEMA_FILE = require.resolve('@sluice/core/schema/sluice.schema.json');
const DOC_FILE = path.join(REPO, 'docs/config.md');
const REGENERATE = 'run `npm run -s build && npm run gen:config-docs` and commit the result';

describe('config: generated schema and docs tables', () => {
  it('the shipped sluice.schema.json is the one generated from the descriptors and the built-in outbound types', () => {
    const generated = `${JSON.stringify(configJsonSchema(builtinOutboundDefinitions()), null, 2)}\n`;
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), generated, `packages/core/schema/sluice.schema.json is stale: ${REGENERATE}`);
  });

  it("docs/config.md's key tables are the generated ones", () => {
    const committed = readFileSync(DOC_FILE, 'utf8');
    assert.equal(committed, fillDocTables(committed, configDocTables(builtinOutboundDefinitions())), `docs/config.md's key tables are stale: ${REGENERATE}`);
  });

  it('npm run gen:config-docs -- --check finds nothing to regenerate', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/gen-config-docs.js'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('every table has its marker in docs/config.md, once', () => {
    const doc = readFileSync(DOC_FILE, 'utf8');
    for (const name of configDocTables(builtinOutboundDefinitions()).keys()) {
      const count = doc.split(`<!-- generated: config-keys ${name} -->\n`).length - 1;
      assert.equal(count, 1, `marker for table "${name}" appears ${count} times`);
    }
  });

  it('a hand edit inside a generated table is replaced by the generated table', () => {
    const tables = configDocTables(builtinOutboundDefinitions());
    const edited = `intro\n<!-- generated: config-keys log -->\n| key | default |\n| \`level\` | \`debug\` |\n<!-- end generated -->\noutro\n`;
    const filled = fillDocTables(edited, tables);
    assert.equal(filled, `intro\n<!-- generated: config-keys log -->\n${tables.get('log')}\n<!-- end generated -->\noutro\n`);
    assert.notEqual(filled, edited);
  });

  it('a marker naming no table is an error, not a silently stale table', () => {
    assert.throws(() => fillDocTables('<!-- generated: config-keys nope -->\n<!-- end generated -->', configDocTables(builtinOutboundDefinitions())), /docs marker "config-keys nope" names no table/);
  });
});
