import * as assert from 'node:assert/strict';
import { captureLogger, lineLevel, LogForwarder, LogTap, PoolLogSource, type LogBatch, type PoolLogPort } from '@sluice/core/testing';

/** Resolves after the timers due now have run (the forwarder's flush is one). */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** A send the test settles by hand: one batch in flight until `release()`. */
function heldSend(): { batches: LogBatch[]; send: (b: LogBatch) => Promise<void>; release: () => void } {
  const batches: LogBatch[] = [];
  let resolve: (() => void) | undefined;
  return {
    batches,
    send: (b) => {
      batches.push(b);
      return new Promise<void>((r) => (resolve = r));
    },
    release: () => resolve?.(),
  };
}

describe('control: log lines of pool workers (LogTap levels, LogForwarder bounds, PoolLogSource)', function () {
  it('lineLevel reads pino level numbers and names from the line prefix', function () {
    assert.equal(lineLevel('{"level":50,"msg":"x"}'), 50);
    assert.equal(lineLevel('{"level":"warn","time":1}'), 40);
    assert.equal(lineLevel('{"msg":"x","level":"debug"}'), 20);
    assert.equal(lineLevel('not json'), 30);
  });

  it('LogTap.subscribe with a level hands on only lines at or above it', function () {
    const { logger } = captureLogger('debug');
    const tap = new LogTap(logger);
    const warnings: string[] = [];
    const all: string[] = [];
    tap.subscribe((l) => warnings.push(l), 40);
    tap.subscribe((l) => all.push(l));
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    tap.close();
    assert.deepEqual(
      warnings.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['w', 'e'],
    );
    assert.equal(all.length, 4);
  });

  it('forwards lines at its level in batches', async function () {
    const { logger } = captureLogger('debug');
    const tap = new LogTap(logger);
    const batches: LogBatch[] = [];
    const forwarder = new LogForwarder(tap, (b) => void batches.push(b), { flushMs: 0 });
    forwarder.setLevel(30);
    logger.debug('not wanted');
    logger.info('one');
    logger.info('two');
    await tick();
    assert.equal(batches.length, 1);
    assert.deepEqual(
      batches[0]!.lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['one', 'two'],
    );
    assert.equal(batches[0]!.dropped, 0);
    forwarder.close();
    logger.info('after close');
    await tick();
    assert.equal(batches.length, 1, 'nothing is forwarded after close');
    tap.close();
  });

  it('keeps at most maxLines waiting while a batch is in flight, and counts the rest as dropped in the next batch', async function () {
    const { logger } = captureLogger('info');
    const tap = new LogTap(logger);
    const held = heldSend();
    const forwarder = new LogForwarder(tap, held.send, { flushMs: 0, maxLines: 100 });
    forwarder.setLevel(30);
    logger.info('first');
    await tick();
    assert.equal(held.batches.length, 1, 'the first batch is in flight');
    // The pool does not take the next batch: 10 000 lines arrive meanwhile.
    for (let i = 0; i < 10_000; i++) logger.info({ i }, 'flood');
    await tick();
    assert.equal(held.batches.length, 1, 'one batch in flight at a time');
    assert.deepEqual(forwarder.pending, { lines: 100, bytes: forwarder.pending.bytes, dropped: 9_900 });
    held.release();
    await tick();
    assert.equal(held.batches.length, 2);
    assert.equal(held.batches[1]!.lines.length, 100);
    assert.equal(held.batches[1]!.dropped, 9_900);
    assert.equal((JSON.parse(held.batches[1]!.lines[0]!) as { i: number }).i, 0, 'the oldest lines are kept, the newest dropped');
    forwarder.close();
    tap.close();
  });

  it('keeps at most maxBytes of lines waiting', async function () {
    const { logger } = captureLogger('info');
    const tap = new LogTap(logger);
    const held = heldSend();
    const forwarder = new LogForwarder(tap, held.send, { flushMs: 0, maxBytes: 10_000 });
    forwarder.setLevel(30);
    logger.info('first');
    await tick();
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 100; i++) logger.info({ big }, 'big');
    const { lines, bytes, dropped } = forwarder.pending;
    assert.ok(bytes <= 10_000, `waiting bytes ${bytes} within the bound`);
    assert.ok(lines > 0 && lines < 10, `lines waiting: ${lines}`);
    assert.equal(lines + dropped, 100);
    forwarder.close();
    tap.close();
  });

  it('PoolLogSource asks workers for the lowest level anyone wants, delivers per subscriber level, and says what was dropped', function () {
    const levels: (number | undefined)[] = [];
    let deliver: ((worker: number, b: LogBatch) => void) | undefined;
    const port: PoolLogPort = {
      forwardLogs: (l) => void levels.push(l),
      onLogLines: (f) => {
        deliver = f;
        return () => (deliver = undefined);
      },
    };
    const { logger } = captureLogger('debug');
    const tap = new LogTap(logger);
    const source = new PoolLogSource(tap, port);
    const errors: string[] = [];
    const infos: string[] = [];
    const offErrors = source.subscribe((l) => errors.push(l), 50);
    const offInfos = source.subscribe((l) => infos.push(l), 30);
    assert.deepEqual(levels, [50, 30]);
    deliver!(1, { lines: ['{"level":"info","msg":"worker info"}', '{"level":"error","msg":"worker error"}'], dropped: 3 });
    logger.info('pool info');
    assert.deepEqual(
      errors.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['worker error'],
    );
    const infoMsgs = infos.map((l) => JSON.parse(l) as { msg: string; worker?: number; dropped?: number });
    assert.deepEqual(
      infoMsgs.map((l) => l.msg),
      ['worker info', 'worker error', 'log lines dropped: the /logs reader fell behind', 'pool info'],
    );
    assert.equal(infoMsgs[2]!.worker, 1);
    assert.equal(infoMsgs[2]!.dropped, 3);
    offInfos();
    assert.deepEqual(levels, [50, 30, 50]);
    offErrors();
    assert.deepEqual(levels, [50, 30, 50, undefined], 'workers stop forwarding when nobody listens');
    assert.equal(deliver, undefined);
    tap.close();
  });
});
