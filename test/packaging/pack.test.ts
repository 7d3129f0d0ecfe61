import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runCommand, type CommandResult, type RunOptions } from '@sluice/testbed';
import { NATIVE_PACK_TIMEOUT_MS, packNative } from './native-tarball';
import { productWorkspaces, REPO_ROOT } from './workspaces';

/**
 * The environment for a nested npm: without the `npm_*` variables of the
 * `npm test` that runs us, which npm would read as its own configuration
 * (workspace, prefix, omit…) and so install somewhere other than the empty folder.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

const run = (cmd: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> =>
  runCommand(cmd, args, { env: cleanEnv(), ...opts });

/**
 * Run with `node -e` in the install folder: starts a Sluice from the installed
 * @sluice/core with `control.ui` on loopback (inbound on the mock binding), and
 * prints `{ file: { status, body } }` for GET /ui/<file> of each dashboard file.
 */
const SERVE_UI_SCRIPT = `
const net = require('node:net');
const { createSluice, parseConfig } = require('@sluice/core');
const { createMockBinding, captureLogger } = require('@sluice/core/testing');
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
(async () => {
  const [inbound, api] = [await freePort(), await freePort()];
  const config = parseConfig(JSON.stringify({
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: inbound, network: ['tcp'] }],
    outbounds: [{ tag: 'out', type: 'direct' }],
    route: { final: 'out' },
    control: { listen: '127.0.0.1:' + api, ui: true },
  }), { baseDir: process.cwd() });
  const sluice = createSluice(config, { logger: captureLogger('info').logger, native: createMockBinding() });
  await sluice.start();
  const served = {};
  try {
    for (const file of ['index.html', 'app.js', 'app.css']) {
      const res = await fetch('http://127.0.0.1:' + api + '/ui/' + file);
      served[file] = { status: res.status, body: await res.text() };
    }
  } finally {
    await sluice.stop();
  }
  process.stdout.write(JSON.stringify(served));
})().catch((err) => { console.error(err); process.exit(1); });
`;

// The repository's workspaces link each other and hoist every dependency to the root, which hides a
// dependency a package uses but does not declare. This installs the packed tarballs the way a user
// gets them from a registry: alone, in an empty folder, without dev dependencies. Needs the npm
// registry (for the third-party dependencies); the addon comes prebuilt (see prebuilt.test.ts).
describe('packaging: the packed workspaces, installed with --omit=dev in an empty folder', function () {
  this.timeout(15 * 60_000 + NATIVE_PACK_TIMEOUT_MS);
  let tmp: string;
  let app: string;

  before(async function () {
    tmp = mkdtempSync(path.join(tmpdir(), 'sluice-pack-'));
    const tarballDir = path.join(tmp, 'tarballs');
    mkdirSync(tarballDir);
    const tarballs: string[] = [];
    for (const w of productWorkspaces()) {
      if (w.manifest.name === '@sluice/native') {
        tarballs.push(await packNative(tarballDir));
        continue;
      }
      const packed = await run('npm', ['pack', '--json', '--pack-destination', tarballDir], { cwd: w.dir, timeoutMs: 120_000 });
      const [info] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
      tarballs.push(path.join(tarballDir, info!.filename));
    }
    app = path.join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'sluice-pack-test', private: true })}\n`);
    await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', ...tarballs], { cwd: app, timeoutMs: 12 * 60_000 });
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('`sluice check -c examples/gateway.yaml` accepts the example config', async function () {
    const r = await run(path.join(app, 'node_modules/.bin/sluice'), ['check', '-c', path.join(REPO_ROOT, 'examples/gateway.yaml')], {
      cwd: app,
      allowFailure: true,
    });
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout, /config OK/);
  });

  it("`require('@sluice/core')` loads", async function () {
    const r = await run(process.execPath, ['-e', "require('@sluice/core')"], { cwd: app, allowFailure: true });
    assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
  });

  it('ships the config schema as @sluice/core/schema/sluice.schema.json, the one in the repository', async function () {
    const read = "process.stdout.write(require('fs').readFileSync(require.resolve('@sluice/core/schema/sluice.schema.json'), 'utf8'))";
    const r = await run(process.execPath, ['-e', read], { cwd: app, allowFailure: true });
    assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, readFileSync(path.join(REPO_ROOT, 'packages/core/schema/sluice.schema.json'), 'utf8'));
  });

  it('the installed @sluice/core carries the built dashboard (ui-dist/), which control.ui serves', async function () {
    for (const file of ['index.html', 'app.js', 'app.css']) assert.ok(existsSync(path.join(app, 'node_modules/@sluice/core/ui-dist', file)), `ui-dist/${file}`);
    // The files being in the tarball is not enough: the control server finds them relative to its own
    // compiled module, so serve them from the installed package (on the mock binding: no TPROXY needed).
    const r = await run(process.execPath, ['-e', SERVE_UI_SCRIPT], { cwd: app, allowFailure: true, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const served = JSON.parse(r.stdout) as Record<string, { status: number; body: string }>;
    for (const file of ['index.html', 'app.js', 'app.css']) {
      assert.equal(served[file]?.status, 200, `GET /ui/${file}`);
      assert.equal(served[file]?.body, readFileSync(path.join(REPO_ROOT, 'packages/core/ui-dist', file), 'utf8'), `GET /ui/${file}`);
    }
  });

  it('the native addon loads', async function () {
    const r = await run(process.execPath, ['-e', "process.stdout.write(typeof require('@sluice/native').native().closeFd)"], {
      cwd: app,
      allowFailure: true,
    });
    assert.equal(r.code, 0, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.equal(r.stdout, 'function');
  });

  it('`sluice demo` exits 1 saying that it runs from a clone of the repository (the test bed is not published)', async function () {
    const r = await run(path.join(app, 'node_modules/.bin/sluice'), ['demo'], { cwd: app, allowFailure: true });
    assert.equal(r.code, 1, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /sluice demo runs from a clone of the Sluice repository/);
    assert.doesNotMatch(r.stderr, /Cannot find module|\n\s+at /, 'a clear sentence, not a stack trace');
  });
});
