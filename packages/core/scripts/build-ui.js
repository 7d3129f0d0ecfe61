#!/usr/bin/env node
'use strict';
/**
 * `npm run build:ui` (part of the root `npm run build`): type-checks the
 * built-in dashboard (ui/tsconfig.json) and bundles it with esbuild into
 * ui-dist/ (index.html, app.js, app.css), which the control server serves at
 * `/ui/` when `control.ui: true`. Prints the bundle's size, as served and
 * gzipped (the figures docs/control.md quotes).
 *
 * esbuild's JS API is used, not its CLI, so the build works even when npm did
 * not run esbuild's postinstall (the API finds the platform binary itself).
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const esbuild = require('esbuild');

const PKG = path.resolve(__dirname, '..');
const SRC = path.join(PKG, 'ui');
const OUT = path.join(PKG, 'ui-dist');

async function main() {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(SRC, 'tsconfig.json')], { stdio: 'inherit' });
  fs.rmSync(OUT, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: { app: path.join(SRC, 'src', 'main.ts') },
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    outdir: OUT,
    logLevel: 'warning',
  });
  await esbuild.build({ entryPoints: { app: path.join(SRC, 'app.css') }, bundle: true, minify: true, outdir: OUT, logLevel: 'warning' });
  fs.copyFileSync(path.join(SRC, 'index.html'), path.join(OUT, 'index.html'));
  const names = fs.readdirSync(OUT);
  const files = names.map((f) => fs.readFileSync(path.join(OUT, f)));
  const sizes = names.map((f, i) => [f, files[i].length]);
  const total = sizes.reduce((a, [, n]) => a + n, 0);
  // Each file gzipped on its own, as a server compressing responses would send it.
  const gzipped = files.reduce((a, b) => a + zlib.gzipSync(b).length, 0);
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  process.stdout.write(`build:ui: ${sizes.map(([f, n]) => `${f} ${kib(n)}`).join(', ')}; total ${kib(total)}, ${kib(gzipped)} gzipped\n`);
}

main().catch((err) => {
  process.stderr.write(`build:ui: ${err.message}\n`);
  process.exit(1);
});
