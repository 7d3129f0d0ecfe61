import * as assert from 'node:assert/strict';
import { runScenario, runScenarioRaw } from './helpers/scenario-client';

// These run in a child process (no namespace needed): an uncaught exception
// or a worker teardown must be observed from outside, not inside mocha.
describe('native: UdpTransparentSocket lifecycle (child processes)', () => {
  it('an exception thrown by onBatch reaches process "uncaughtException", once per batch, and the socket keeps working', async () => {
    const r = await runScenario<any>([], 'onBatchThrows', { handler: true });
    assert.equal(r.calls, 3);
    assert.deepEqual(r.caught, ['boom-from-onBatch 1', 'boom-from-onBatch 2', 'boom-from-onBatch 3']);
    assert.equal(r.stats.received, 3);
    assert.equal(r.stats.batches, 3);
  });

  it('without a handler, an exception thrown by onBatch ends the process like any uncaught exception (not silently, not in a loop)', async () => {
    const r = await runScenarioRaw([], 'onBatchThrows', { handler: false });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error: boom-from-onBatch 1/);
    assert.equal(r.stdout, 'CALLED 1\n');
  });

  it('an open socket without JS references keeps receiving after GC; a closed one is collected', async () => {
    const r = await runScenario<any>([], 'gcLifetime');
    assert.equal(r.received, 1);
    assert.equal(r.collected, true);
  });

  it('a worker thread receives on its own loop, and terminating it closes the socket', async () => {
    const r = await runScenario<any>([], 'workerTeardown', { mode: 'terminate' });
    assert.deepEqual(r.batch, ['hello worker']);
    assert.equal(r.boundBefore, true);
    assert.equal(r.boundAfter, false, 'the env cleanup hook must close the socket');
    assert.equal(r.exitCode, 1); // terminate()
  });

  it('terminating a worker while onBatch runs neither crashes nor leaks the socket', async () => {
    const r = await runScenario<any>([], 'workerTeardown', { mode: 'terminateInCallback' });
    assert.deepEqual(r.batch, ['hello worker']);
    assert.equal(r.boundAfter, false);
    assert.equal(r.exitCode, 1);
  });

  it('a worker that closes its socket exits by itself (the poll no longer holds its loop)', async () => {
    const r = await runScenario<any>([], 'workerTeardown', { mode: 'close' });
    assert.deepEqual(r.batch, ['hello worker']);
    assert.equal(r.boundAfter, false);
    assert.equal(r.exitCode, 0);
  });
});
