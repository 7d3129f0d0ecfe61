'use strict';
// `npm run prebuild -w @sluice/native` (and `prepack`): the prebuilt binaries
// a packed tarball ships, with prebuildify into prebuilds/<platform>-<arch>/:
// linux-arm64 with Debian's cross compiler, then linux-x64 with the host's.
// Node-API (--napi) keeps one binary per architecture valid for every Node
// version; --tag-libc names them glibc so musl (Alpine) compiles from source.
//
// prebuildify compiles in build/, so the host architecture goes last and
// build/Release is left with a binary this machine can load. A prebuild
// newer than src/, binding.gyp and package.json is kept (`--force` rebuilds).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const CROSS = { arm64: 'aarch64-linux-gnu' };
const HOST = process.arch;
const TARGETS = ['arm64', 'x64'].sort((a, b) => (a === HOST) - (b === HOST));

/** The newest change to what the addon is compiled from. */
function sourcesChanged() {
  const files = ['binding.gyp', 'package.json', ...fs.readdirSync(path.join(root, 'src')).map((f) => path.join('src', f))];
  return Math.max(...files.map((f) => fs.statSync(path.join(root, f)).mtimeMs));
}

/** A prebuild newer than every source needs no second compile (`--force` compiles anyway). */
function upToDate(arch) {
  if (process.argv.includes('--force')) return false;
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  try {
    return fs.readdirSync(dir).some((f) => f.endsWith('.node') && fs.statSync(path.join(dir, f)).mtimeMs > sourcesChanged());
  } catch {
    return false;
  }
}

const prebuildify = require.resolve('prebuildify/bin.js');
for (const arch of TARGETS) {
  if (upToDate(arch)) {
    console.log(`@sluice/native prebuild: linux-${arch} is up to date`);
    continue;
  }
  // node-gyp compiles with this many make jobs.
  const env = { ...process.env, JOBS: process.env.JOBS ?? 'max' };
  if (arch !== HOST) {
    const prefix = CROSS[arch];
    if (!prefix) throw new Error(`no cross compiler known for ${arch}`);
    const probe = spawnSync(`${prefix}-g++`, ['--version'], { stdio: 'ignore' });
    if (probe.error || probe.status !== 0) {
      console.error(`@sluice/native prebuild: ${prefix}-g++ is missing; install it with: apt-get install g++-${prefix}`);
      process.exit(1);
    }
    Object.assign(env, { CC: `${prefix}-gcc`, CXX: `${prefix}-g++`, LINK: `${prefix}-g++`, AR: `${prefix}-ar`, PREBUILD_STRIP_BIN: `${prefix}-strip` });
  }
  console.log(`@sluice/native prebuild: linux-${arch}`);
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', arch], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// prebuildify moves the binary out of build/Release; a checkout then still loads its own build from there.
// Replaced by rename, never rewritten in place: a running process (the test run that packs) has it mapped.
const host = path.join(root, 'prebuilds', `linux-${HOST}`);
const built = fs.existsSync(host) ? fs.readdirSync(host).find((f) => f.endsWith('.node')) : undefined;
const release = path.join(root, 'build', 'Release');
if (built && fs.existsSync(release)) {
  const source = fs.readFileSync(path.join(host, built));
  const target = path.join(release, 'sluice_native.node');
  if (!fs.existsSync(target) || !fs.readFileSync(target).equals(source)) {
    const tmp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, source, { mode: 0o755 });
    fs.renameSync(tmp, target);
  }
}
