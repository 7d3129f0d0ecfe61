#!/usr/bin/env node
'use strict';
// `npm run gen:config-docs`: writes packages/core/schema/sluice.schema.json and the key tables of docs/config.md
// (between `<!-- generated: config-keys NAME -->` and `<!-- end generated -->`) from the descriptors the config
// readers use (packages/core/src/config-keys/) and the built-in outbound types' option schemas.
// `--check` writes nothing and exits 1 when a committed file differs from what would be generated.
// Runs against the built packages: `npm run -s build` first.
const fs = require('node:fs');
const path = require('node:path');
require('reflect-metadata');
const core = require('@sluice/core');

const root = path.join(__dirname, '..');
const schemaFile = path.join(root, 'packages/core/schema/sluice.schema.json');
const docFile = path.join(root, 'docs/config.md');

/** The files as they should be: path → text. */
function generated() {
  const definitions = core.builtinOutboundDefinitions();
  const schema = `${JSON.stringify(core.configJsonSchema(definitions), null, 2)}\n`;
  const doc = core.fillDocTables(fs.readFileSync(docFile, 'utf8'), core.configDocTables(definitions));
  return new Map([
    [schemaFile, schema],
    [docFile, doc],
  ]);
}

function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of generated()) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    const rel = path.relative(root, file);
    if (check) {
      stale++;
      console.error(`${rel} differs from the generated one: run npm run gen:config-docs and commit it`);
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale > 0) process.exit(1);
}

main();
