import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';

describe('native raiseFileLimit', () => {
  it('lifts a low soft RLIMIT_NOFILE to the hard limit', () => {
    const script = `const n=require('@sluice/native').native(); process.stdout.write(JSON.stringify(n.raiseFileLimit()))`;
    const r = spawnSync('prlimit', ['--nofile=256:4096', process.execPath, '-e', script], { encoding: 'utf8', cwd: process.cwd() });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { soft: 4096, hard: 4096 });
  });
});
