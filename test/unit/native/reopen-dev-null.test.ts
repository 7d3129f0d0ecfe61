import { strict as assert } from 'node:assert';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isNativeError, native } from '@sluice/native';

describe('native reopenDevNull', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sluice-devnull-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('points an open fd at /dev/null, keeping its number; writes then go nowhere', () => {
    const file = path.join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, 'before ');
      native().reopenDevNull(fd);
      assert.equal(readlinkSync(`/proc/self/fd/${fd}`), '/dev/null');
      assert.equal(fstatSync(fd).rdev, statSync('/dev/null').rdev);
      assert.equal(writeSync(fd, 'after'), 5);
      assert.equal(readFileSync(file, 'utf8'), 'before ');
    } finally {
      closeSync(fd);
    }
  });

  it('throws a NativeError (EBADF, dup2) for an fd number it cannot take', () => {
    let caught: unknown;
    try {
      native().reopenDevNull(1 << 30);
    } catch (err) {
      caught = err;
    }
    assert.ok(isNativeError(caught), String(caught));
    assert.equal(caught.code, 'EBADF');
    assert.equal(caught.syscall, 'dup2');
    assert.match(caught.message, /fd 1073741824/);
  });
});
