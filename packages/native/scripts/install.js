'use strict';
// npm's install step for @sluice/native: use a prebuilt binary when one fits
// this machine (packed tarballs ship linux-x64 and linux-arm64, glibc), else
// compile from source with node-gyp (g++, make, python3).
//
// A build/ directory means someone compiled here before (a git checkout):
// then `npm rebuild @sluice/native` must recompile, never settle for what is
// already there, or a changed src/ would go on loading the old addon.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** The prebuild that fits and loads here, or undefined. */
function fittingPrebuild() {
  if (process.env.npm_config_build_from_source === 'true') return undefined;
  if (existsSync(path.join(root, 'build'))) return undefined;
  try {
    const file = require('node-gyp-build').path(root);
    // dlopen it: a binary for another glibc fails here, not at the first start.
    require(file);
    return file;
  } catch {
    return undefined;
  }
}

const prebuild = fittingPrebuild();
if (prebuild !== undefined) {
  console.log(`@sluice/native: using the prebuilt ${path.relative(root, prebuild)}`);
  process.exit(0);
}
// npm hands its bundled node-gyp to install scripts; a bare `node-gyp` on PATH is the fallback.
const gyp = process.env.npm_config_node_gyp;
const argv = gyp ? [process.execPath, gyp, 'rebuild'] : ['node-gyp', 'rebuild'];
const r = spawnSync(argv[0], argv.slice(1), { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(
    `@sluice/native: no prebuilt binary fits ${process.platform}-${process.arch}, and compiling it failed; ` +
      'install a compiler and retry (Debian/Ubuntu: apt-get install g++ make python3; Alpine: apk add g++ make python3 linux-headers)',
  );
  process.exit(r.status ?? 1);
}
