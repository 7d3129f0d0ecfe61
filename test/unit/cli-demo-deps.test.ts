import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureDemoDependencies, SLUICE_BIN } from '@sluice/testbed';

/** Writes an executable shell script. */
function script(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

/**
 * A fake `apt-get` that appends its arguments (and DEBIAN_FRONTEND) to
 * `calls.log` beside it and, on `install`, puts a fake `nft` and `ip` in its
 * own directory, as the real packages would in /usr/sbin. It runs with only
 * its own directory on the PATH, hence /bin/chmod.
 */
function fakeAptGet(bin: string, opts: { failInstall?: boolean; installNothing?: boolean } = {}): void {
  script(
    path.join(bin, 'apt-get'),
    [
      `echo "$* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> ${bin}/calls.log`,
      opts.failInstall ? 'if [ "$1" = install ]; then echo "E: Unable to locate package nftables" >&2; exit 100; fi' : '',
      opts.installNothing ? '' : `if [ "$1" = install ]; then printf '#!/bin/sh\\n' > ${bin}/nft; printf '#!/bin/sh\\n' > ${bin}/ip; /bin/chmod +x ${bin}/nft ${bin}/ip; fi`,
      'exit 0',
    ].join('\n'),
  );
}

describe('demo: dependency step (nft and ip)', () => {
  let bin: string;
  let said: string;
  let complained: string;
  const io = { say: (t: string) => void (said += t), complain: (t: string) => void (complained += t) };
  const calls = (): string[] => (existsSync(path.join(bin, 'calls.log')) ? readFileSync(path.join(bin, 'calls.log'), 'utf8').trim().split('\n') : []);

  beforeEach(() => {
    bin = mkdtempSync(path.join(tmpdir(), 'sluice-demo-deps-'));
    said = '';
    complained = '';
  });
  afterEach(() => rmSync(bin, { recursive: true, force: true }));

  it('installs nftables and iproute2 with apt-get when nft and ip are missing, saying so in one line', async () => {
    fakeAptGet(bin);
    const code = await ensureDemoDependencies({ path: bin, isRoot: true, ...io });
    assert.equal(code, 0, complained);
    assert.equal(said, 'sluice demo: installing nftables iproute2 with apt-get…\n');
    assert.deepEqual(calls(), ['update DEBIAN_FRONTEND=noninteractive', 'install -y --no-install-recommends nftables iproute2 DEBIAN_FRONTEND=noninteractive']);
    assert.ok(existsSync(path.join(bin, 'nft')));
  });

  it('installs only the package whose command is missing', async () => {
    fakeAptGet(bin);
    script(path.join(bin, 'ip'), 'exit 0');
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: true, ...io }), 0, complained);
    assert.equal(said, 'sluice demo: installing nftables with apt-get…\n');
    assert.deepEqual(calls().at(-1), 'install -y --no-install-recommends nftables DEBIAN_FRONTEND=noninteractive');
  });

  it('does nothing when nft and ip are on the PATH', async () => {
    fakeAptGet(bin);
    script(path.join(bin, 'nft'), 'exit 0');
    script(path.join(bin, 'ip'), 'exit 0');
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: true, ...io }), 0);
    assert.equal(said + complained, '');
    assert.deepEqual(calls(), []);
  });

  it('without apt-get, stops with the command to run', async () => {
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: true, ...io }), 1);
    assert.match(complained, /install nftables and iproute2 with your package manager \(apt-get install -y nftables iproute2\)\n$/);
    assert.equal(said, '');
  });

  it('without root, stops with "run as root" and does not call apt-get', async () => {
    fakeAptGet(bin);
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: false, ...io }), 1);
    assert.match(complained, /run as root: sudo npx sluice demo\n$/);
    assert.deepEqual(calls(), []);
  });

  it('when apt-get fails, stops with its error and the command to run', async () => {
    fakeAptGet(bin, { failInstall: true });
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: true, ...io }), 1);
    assert.match(complained, /apt-get install -y --no-install-recommends nftables iproute2 failed \(exit 100\):\nE: Unable to locate package nftables\n/);
    assert.match(complained, /Install them yourself: apt-get install -y nftables iproute2\n$/);
  });

  it('when the commands are still not on the PATH after the install, says so', async () => {
    fakeAptGet(bin, { installNothing: true });
    assert.equal(await ensureDemoDependencies({ path: bin, isRoot: true, ...io }), 1);
    assert.match(complained, /nft and ip are still not on the PATH/);
  });

  it('`sluice demo` with a PATH that has neither nft nor apt-get exits 1 with the command to run', () => {
    const empty = path.join(bin, 'empty');
    mkdirSync(empty);
    const r = spawnSync(process.execPath, [SLUICE_BIN, 'demo'], { env: { ...process.env, PATH: empty }, encoding: 'utf8' });
    assert.equal(r.status, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /install nftables and iproute2 with your package manager \(apt-get install -y nftables iproute2\)/);
  });
});
