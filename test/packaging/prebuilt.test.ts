import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NATIVE_PACK_TIMEOUT_MS, packNative } from './native-tarball';
import { runClean } from './npm-env';

/** npm's own entry point, run with `node`: the compiler-less PATH has no npm on it. */
function npmCli(): string {
  const bin = realpathSync(path.join(path.dirname(process.execPath), 'npm'));
  return path.join(path.dirname(bin), 'npm-cli.js');
}

/** `readelf -h`'s Machine line of a binary. */
async function machineOf(file: string): Promise<string> {
  const r = await runClean('readelf', ['-h', file], { timeoutMs: 30_000 });
  return /^\s*Machine:\s*(.+)$/m.exec(r.stdout)?.[1]?.trim() ?? `(no Machine line in: ${r.stdout})`;
}

// The packed @sluice/native carries prebuilt binaries (prepack: prebuildify for linux-x64 and, with Debian's
// cross compiler, linux-arm64), so installing it needs no compiler. Installed here with a PATH that holds
// node and sh and nothing else: no gcc, g++, cc, make or python3.
describe('packaging: @sluice/native installs prebuilt, without a compiler', function () {
  this.timeout(10 * 60_000 + NATIVE_PACK_TIMEOUT_MS);
  let tmp: string;
  let tarball: string;
  let unpacked: string;
  let app: string;
  let bare: NodeJS.ProcessEnv;

  before(async function () {
    tmp = mkdtempSync(path.join(tmpdir(), 'sluice-prebuilt-'));
    tarball = await packNative(tmp);
    unpacked = path.join(tmp, 'unpacked');
    mkdirSync(unpacked);
    await runClean('tar', ['-xzf', tarball, '-C', unpacked], { timeoutMs: 60_000 });

    const bin = path.join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, path.join(bin, 'node'));
    // npm runs install scripts with `sh`; the shell finds nothing else on this PATH.
    symlinkSync('/bin/sh', path.join(bin, 'sh'));
    bare = { PATH: bin };
    app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'sluice-prebuilt-test', private: true })}\n`);
    await runClean(process.execPath, [npmCli(), 'install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: app,
      env: bare,
      timeoutMs: 10 * 60_000,
    });
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the install PATH really has no compiler or build tool', async function () {
    for (const tool of ['gcc', 'g++', 'cc', 'make', 'python3']) {
      const r = await runClean('/bin/sh', ['-c', `command -v ${tool}`], { env: bare, allowFailure: true });
      assert.notEqual(r.code, 0, `${tool} is reachable: ${r.stdout}`);
    }
  });

  it('the tarball ships linux-x64 and linux-arm64 glibc binaries, and nothing compiled from source', function () {
    const prebuilds = path.join(unpacked, 'package', 'prebuilds');
    assert.deepEqual(readdirSync(prebuilds).sort(), ['linux-arm64', 'linux-x64']);
    for (const arch of ['linux-arm64', 'linux-x64']) assert.deepEqual(readdirSync(path.join(prebuilds, arch)), ['@sluice+native.glibc.node']);
    assert.equal(existsSync(path.join(unpacked, 'package', 'build')), false, 'build/ must not be packed: it would be loaded first');
  });

  it('readelf: the arm64 binary is AArch64 and the x64 one is x86-64', async function () {
    const prebuilds = path.join(unpacked, 'package', 'prebuilds');
    assert.equal(await machineOf(path.join(prebuilds, 'linux-arm64', '@sluice+native.glibc.node')), 'AArch64');
    assert.equal(await machineOf(path.join(prebuilds, 'linux-x64', '@sluice+native.glibc.node')), 'Advanced Micro Devices X86-64');
  });

  it('installed without compiling (no build/), the binding loads and answers', async function () {
    const installed = path.join(app, 'node_modules', '@sluice', 'native');
    assert.equal(existsSync(path.join(installed, 'build')), false, 'the install compiled the addon instead of using the prebuild');
    const r = await runClean(process.execPath, ['-e', "const n = require('@sluice/native').native(); process.stdout.write(typeof n.closeFd + ' ' + typeof n.spliceSupported())"], {
      cwd: app,
      env: bare,
      allowFailure: true,
    });
    assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, 'function boolean');
  });

  it('installed with its install script skipped (--ignore-scripts, as npm does to a script allowScripts does not approve), the prebuild still loads', async function () {
    const skipped = path.join(tmp, 'app-ignore-scripts');
    mkdirSync(skipped);
    writeFileSync(path.join(skipped, 'package.json'), `${JSON.stringify({ name: 'sluice-prebuilt-ignore-scripts-test', private: true })}\n`);
    await runClean(process.execPath, [npmCli(), 'install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], {
      cwd: skipped,
      env: bare,
      timeoutMs: 10 * 60_000,
    });
    const r = await runClean(process.execPath, ['-e', "process.stdout.write(typeof require('@sluice/native').native().closeFd)"], {
      cwd: skipped,
      env: bare,
      allowFailure: true,
    });
    assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, 'function');
  });
});
