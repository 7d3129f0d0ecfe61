import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { native, isNativeError, type SpliceRelay, type SpliceRelayOptions, type SpliceRelayResult } from '@sluice/native';
import { onceWithin, waitFor } from '../../helpers/wait';
import { delay, fdOf, fdsBackTo, fdTargets, makeFlow, openFds, sink, source, tcpPair, tcpPairs, type Flow } from './splice-fixtures';

const MiB = 1024 * 1024;

/** Starts a native relay on `flow` the way core does: relay first, then the Node sockets go. */
function relayFlow(flow: Flow, options: SpliceRelayOptions = {}): { relay: SpliceRelay; done: Promise<SpliceRelayResult>; calls: () => number } {
  let calls = 0;
  let resolve!: (r: SpliceRelayResult) => void;
  const done = new Promise<SpliceRelayResult>((r) => (resolve = r));
  const relay = new (native().SpliceRelay)(fdOf(flow.inbound), fdOf(flow.outbound), options, (r) => {
    calls++;
    resolve(r);
  });
  flow.inbound.destroy();
  flow.outbound.destroy();
  return { relay, done, calls: () => calls };
}

/** The error a peer socket saw, once it closed. */
async function closedWith(s: ReturnType<typeof sink>): Promise<string | undefined> {
  await s.closed;
  return s.errors[0]?.code;
}

describe('native: SpliceRelay', function () {
  before(() => {
    // Every Linux this project supports has splice(); a sandbox without it must fail here, not pass silently.
    assert.ok(native().spliceSupported(), 'splice() is not available in this kernel or sandbox');
  });
  afterEach(() => global.gc?.());

  it('carries bytes both ways with exact counts and passes a half-close on', async () => {
    const flow = await makeFlow();
    const { done, calls } = relayFlow(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.write('hello');
    await waitFor('the request at the server', () => atServer.text() === 'hello');
    flow.app.end(); // done sending, still wants the answer
    await atServer.ended;
    flow.server.write('answer after EOF');
    flow.server.end();
    await atApp.ended;
    assert.equal(atApp.text(), 'answer after EOF');
    assert.deepEqual(await done, { up: 5, down: 16 });
    await delay(20);
    assert.equal(calls(), 1);
  });

  it('moves 64 MiB each way at once intact', async () => {
    const flow = await makeFlow();
    const { done } = relayFlow(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    const up = source(flow.app, 64 * MiB, 1);
    const down = source(flow.server, 64 * MiB, 2);
    await Promise.all([atServer.ended, atApp.ended]);
    assert.equal(atServer.digest(), await up.done);
    assert.equal(atApp.digest(), await down.done);
    assert.deepEqual(await done, { up: 64 * MiB, down: 64 * MiB });
  });

  it('applies backpressure: a paused reader holds the sender back and the relay buffers at most a pipe', async () => {
    const flow = await makeFlow();
    const { relay, done } = relayFlow(flow, { pipeSize: 1024 * 1024 });
    const total = 256 * MiB;
    const sender = source(flow.app, total, 3);
    // The server does not read: the sender must come to a stop.
    let last = -1;
    let still = 0;
    await waitFor('the sender to be held back', () => {
      const now = sender.written();
      still = now === last && now > 0 ? still + 1 : 0;
      last = now;
      return still >= 10;
    }, { timeoutMs: 20_000 });
    const stats = relay.stats();
    assert.ok(sender.written() < total / 2, `the sender got ${sender.written()} bytes into the kernel`);
    // What the relay holds is its pipe, counted by the relay itself (memory is the reliability suites' to measure).
    assert.ok(stats.bufferedUp <= stats.pipeSizeUp, `relay buffers ${stats.bufferedUp} bytes in a ${stats.pipeSizeUp}-byte pipe`);
    const atServer = sink(flow.server);
    flow.server.end();
    await atServer.ended;
    assert.equal(atServer.bytes(), total);
    assert.equal(atServer.digest(), await sender.done);
    assert.deepEqual(await done, { up: total, down: 0 });
  });

  it('sends the pending bytes before anything read later, both ways', async () => {
    const flow = await makeFlow();
    flow.app.write('second');
    flow.server.write('SECOND');
    await delay(50); // pacing: both are in the kernel's receive queues when the relay starts
    const { done } = relayFlow(flow, { pendingA: Buffer.from('first-'), pendingB: Buffer.from('FIRST-') });
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.end();
    flow.server.end();
    await Promise.all([atServer.ended, atApp.ended]);
    assert.equal(atServer.text(), 'first-second');
    assert.equal(atApp.text(), 'FIRST-SECOND');
    assert.deepEqual(await done, { up: 12, down: 12 });
  });

  it('ends an idle flow after idleMs and resets both peers', async () => {
    const flow = await makeFlow();
    const { done } = relayFlow(flow, { idleMs: 150 });
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.write('x');
    const r = await done;
    assert.deepEqual(r, { up: 1, down: 0, error: 'idle timeout' });
    assert.equal(await closedWith(atApp), 'ECONNRESET');
    assert.equal(await closedWith(atServer), 'ECONNRESET');
  });

  it('passes an upstream reset on to the client as a reset', async () => {
    const flow = await makeFlow();
    const { done } = relayFlow(flow);
    const atApp = sink(flow.app);
    flow.app.write('request');
    flow.server.resetAndDestroy();
    const r = await done;
    assert.equal(r.error, 'upstream: ECONNRESET');
    assert.equal(await closedWith(atApp), 'ECONNRESET');
  });

  it('readBytes() reports the bytes delivered so far while the relay runs, and keeps them after', async () => {
    const flow = await makeFlow();
    const { relay, done } = relayFlow(flow);
    const out = new Float64Array(4);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.write(Buffer.alloc(3000));
    await waitFor('the request to arrive', () => atServer.bytes() === 3000);
    flow.server.write(Buffer.alloc(700));
    await waitFor('the answer to arrive', () => atApp.bytes() === 700);
    relay.readBytes(out, 2);
    assert.deepEqual([...out], [0, 0, 3000, 700]);
    assert.throws(() => relay.readBytes(out, 3), RangeError);
    assert.throws(() => relay.readBytes([0, 0] as unknown as Float64Array), TypeError);
    flow.app.end();
    flow.server.end();
    assert.deepEqual(await done, { up: 3000, down: 700 });
    relay.readBytes(out);
    assert.deepEqual([...out.subarray(0, 2)], [3000, 700]);
  });

  it('abort() resets both sides and reports the reason once, from the event loop', async () => {
    const flow = await makeFlow();
    const { relay, done, calls } = relayFlow(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    assert.equal(relay.abort('test'), true);
    assert.equal(calls(), 0, 'onDone must not run inside abort()');
    assert.equal(relay.abort('again'), false);
    assert.deepEqual(await done, { up: 0, down: 0, error: 'aborted: test' });
    assert.equal(relay.stats().open, false);
    assert.equal(await closedWith(atApp), 'ECONNRESET');
    assert.equal(await closedWith(atServer), 'ECONNRESET');
    assert.equal(calls(), 1);
  });

  it('leaks no fds over 200 relays', async () => {
    native().splicePoolTrim(); // the pool's free pipes are kept on purpose: counted without them
    const before = fdTargets();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const flow = await makeFlow();
          const { done } = relayFlow(flow, { idleMs: 10_000 });
          const atServer = sink(flow.server);
          const atApp = sink(flow.app);
          flow.app.end('ping');
          flow.server.end('pong');
          assert.deepEqual(await done, { up: 4, down: 4 });
          await Promise.all([atServer.ended, atApp.ended]);
          flow.app.destroy();
          flow.server.destroy();
          await Promise.all([atServer.closed, atApp.closed]);
        }),
      );
    }
    assert.equal(native().splicePoolStats().inUse, 0, 'every pipe given back');
    native().splicePoolTrim();
    await fdsBackTo(before);
  });

  it('refuses fds that are not connected TCP sockets and then owns nothing', async () => {
    const before = fdTargets();
    const { a, b } = await tcpPair();
    const listening = net.createServer().listen(0, '127.0.0.1');
    await onceWithin(listening, 'listening');
    const file = fs.openSync('/dev/null', 'r');
    const SpliceRelay = native().SpliceRelay;
    const codeOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        assert.ok(isNativeError(err), String(err));
        return err.code;
      }
      return 'no error';
    };
    const listeningFd = fdOf(listening as unknown as net.Socket);
    assert.equal(codeOf(() => new SpliceRelay(fdOf(a), file, {}, () => {})), 'ENOTSOCK');
    assert.equal(codeOf(() => new SpliceRelay(fdOf(a), listeningFd, {}, () => {})), 'ENOTCONN');
    assert.equal(codeOf(() => new SpliceRelay(fdOf(a), fdOf(a), {}, () => {})), 'EINVAL');
    assert.equal(codeOf(() => new SpliceRelay(fdOf(a), fdOf(b), {}, undefined as never)), 'EINVAL');
    assert.equal(codeOf(() => new SpliceRelay(fdOf(a), fdOf(b), { pendingA: 'text' as never }, () => {})), 'EINVAL');
    fs.closeSync(file);
    listening.close();
    a.destroy();
    b.destroy();
    await Promise.all([onceWithin(a, 'close'), onceWithin(b, 'close')]);
    await fdsBackTo(before);
  });

  // python3 sends the urgent byte (Node cannot). With the FIN right behind it,
  // splice() returns 0 at the mark as if at EOF; without, it returns EAGAIN.
  for (const finFirst of [true, false]) {
    it(`gets past TCP urgent data, which splice() cannot read (${finFirst ? 'FIN right after it' : 'no FIN yet'})`, async () => {
      // python3 is a build requirement of the addon, so it is always there.
      assert.equal(spawnSync('python3', ['-c', 'pass']).status, 0, 'python3 is needed to send TCP urgent data');
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      server.listen(0, '127.0.0.1');
      await onceWithin(server, 'listening');
      const accepted = onceWithin<[net.Socket]>(server, 'connection');
      const script = [
        'import socket, sys',
        `s = socket.create_connection(("127.0.0.1", ${(server.address() as net.AddressInfo).port}))`,
        'sys.stdin.readline()', // the relay is running
        's.sendall(b"before"); s.send(b"!", socket.MSG_OOB); s.sendall(b"after")',
        finFirst ? 's.shutdown(socket.SHUT_WR)' : 'pass',
        'data = b""',
        'while True:',
        '    chunk = s.recv(65536)',
        '    if not chunk: break',
        '    data += chunk',
        'print(data.decode())',
      ].join('\n');
      const py = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      py.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const [inbound] = await accepted;
      server.close();
      const upstream = await tcpPair();
      const { done } = relayFlow({ app: inbound, inbound, outbound: upstream.b, server: upstream.a });
      const atServer = sink(upstream.a);
      py.stdin.write('go\n');
      // Like a recv() loop (and Node's own reads), the relay drops the out-of-band byte.
      await waitFor('"beforeafter" at the server', () => atServer.text() === 'beforeafter');
      upstream.a.end('reply');
      await onceWithin(py, 'exit', 10_000);
      assert.equal(out.trim(), 'reply');
      await atServer.ended; // python's FIN (shutdown, or close at exit), passed on
      assert.deepEqual(await done, { up: 11, down: 5 });
    });
  }

  describe('pipe pool', () => {
    const pool = (): ReturnType<ReturnType<typeof native>['splicePoolStats']> => native().splicePoolStats();

    /** A flow carried through a relay with a request and an answer, then ended; its peers closed. */
    async function exchange(options: SpliceRelayOptions = {}): Promise<SpliceRelay> {
      const flow = await makeFlow();
      const { relay, done } = relayFlow(flow, options);
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      flow.app.end('GET /');
      await atServer.ended;
      flow.server.end('200 OK');
      await atApp.ended;
      assert.deepEqual(await done, { up: 5, down: 6 });
      flow.app.destroy();
      flow.server.destroy();
      await Promise.all([atApp.closed, atServer.closed]);
      return relay;
    }

    /** Waits until `sender` has been held back (no progress for 10 polls). */
    async function heldBack(sender: ReturnType<typeof source>): Promise<void> {
      let last = -1;
      let still = 0;
      await waitFor('the sender to be held back', () => {
        const now = sender.written();
        still = now === last && now > 0 ? still + 1 : 0;
        last = now;
        return still >= 10;
      }, { timeoutMs: 20_000 });
    }

    it('an idle relay holds exactly its 2 socket fds, and after traffic at most the pool’s free pipes more', async () => {
      const n = 500;
      await exchange(); // the pool and whatever Node makes lazily exist before counting
      native().splicePoolTrim();
      const before = openFds();
      const clients = await tcpPairs(n);
      const upstreams = await tcpPairs(n);
      const flows: Flow[] = clients.map((c, i) => ({ app: c.a, inbound: c.b, outbound: upstreams[i]!.b, server: upstreams[i]!.a }));
      assert.equal(openFds() - before, 4 * n, 'the four sockets of each flow');
      const relays = flows.map((f) => relayFlow(f));
      await waitFor('the handed-over Node sockets to close', () => flows.every((f) => f.inbound.closed && f.outbound.closed));
      // Per flow: the relay's 2 dups, plus the 2 peers this test holds (app, server). No pipe.
      assert.equal(openFds() - before, n * 2 + n * 2);
      assert.ok(relays.every((r) => r.relay.stats().pipes === 0));
      assert.equal(pool().inUse, 0);

      // One request and answer on every flow at once, then idle again.
      await Promise.all(
        flows.map(async (f) => {
          f.server.on('data', () => f.server.write('pong'));
          const answered = onceWithin(f.app, 'data', 20_000);
          f.app.write('ping');
          await answered;
        }),
      );
      const stats = pool();
      assert.ok(relays.every((r) => r.relay.stats().pipes === 0 && r.relay.stats().open));
      assert.equal(stats.inUse, 0);
      assert.ok(stats.free <= stats.maxFree, `${stats.free} free pipes, cap ${stats.maxFree}`);
      assert.equal(openFds() - before, n * 2 + n * 2 + 2 * stats.free, 'still 2 fds per flow, plus the free pipes');

      for (const f of flows) {
        f.app.end();
        f.server.end();
      }
      for (const r of await Promise.all(relays.map((r) => r.done))) assert.deepEqual(r, { up: 4, down: 4 });
      for (const f of flows) {
        f.app.destroy();
        f.server.destroy();
      }
      await waitFor('the peers to close', () => flows.every((f) => f.app.closed && f.server.closed));
      native().splicePoolTrim();
      assert.equal(openFds(), before);
    });

    it('reuses pipes: 200 sequential request/response flows open a handful', async () => {
      const s0 = pool();
      for (let i = 0; i < 200; i++) await exchange();
      const s1 = pool();
      const opened = s1.opened - s0.opened;
      const loans = opened + s1.reused - s0.reused;
      assert.ok(loans >= 400, `${loans} loans (at least one per direction and flow)`);
      assert.ok(opened <= 4, `${opened} pipes opened for ${loans} loans`);
      assert.equal(s1.inUse, 0);
    });

    it('a stuck direction keeps its one pipe; abort closes it rather than lend its bytes again', async () => {
      const flow = await makeFlow({ dialled: true }); // `server` then never reads
      const { relay, done } = relayFlow(flow);
      const atApp = sink(flow.app);
      flow.server.on('error', () => {});
      const s0 = pool();
      const sender = source(flow.app, 16 * MiB, 5, false);
      await heldBack(sender);
      const stats = relay.stats();
      assert.equal(stats.pipes, 1, 'the stuck direction holds a pipe, the idle one none');
      assert.ok(stats.bufferedUp > 0 && stats.bufferedUp <= stats.pipeSizeUp, `${stats.bufferedUp} bytes in a ${stats.pipeSizeUp}-byte pipe`);
      assert.equal(stats.bufferedDown, 0);
      assert.equal(pool().inUse, s0.inUse + 1);
      relay.abort('stuck');
      const s1 = pool();
      assert.equal(s1.inUse, s0.inUse);
      assert.equal(s1.closed - s0.closed, 1, 'the pipe with bytes in it is closed');
      assert.ok(s1.free <= s0.free, 'and not returned to the pool');
      assert.equal((await done).error, 'aborted: stuck');
      assert.equal(await closedWith(atApp), 'ECONNRESET');
      flow.server.destroy();
    });

    it('keeps at most maxFree empty pipes once a burst is over', async () => {
      const n = 24;
      const flows = await Promise.all(Array.from({ length: n }, () => makeFlow({ dialled: true })));
      const relays = flows.map((f) => relayFlow(f));
      const s0 = pool();
      const senders = flows.map((f, i) => source(f.app, 8 * MiB, 100 + i));
      await Promise.all(senders.map(heldBack));
      await waitFor('every flow stuck with a full pipe', () => relays.every((r) => r.relay.stats().pipes === 1));
      assert.ok(pool().inUse >= s0.inUse + n);
      const sinks = flows.map((f) => sink(f.server));
      await Promise.all(sinks.map((k) => k.ended));
      for (const [i, k] of sinks.entries()) assert.equal(k.digest(), await senders[i]!.done);
      const s1 = pool();
      assert.equal(s1.inUse, 0);
      assert.ok(s1.free <= s1.maxFree, `${s1.free} free pipes, cap ${s1.maxFree}`);
      assert.ok(s1.closed - s0.closed >= n - s1.maxFree, `${s1.closed - s0.closed} closed`);
      for (const f of flows) f.server.end();
      for (const r of await Promise.all(relays.map((r) => r.done))) assert.deepEqual(r, { up: 8 * MiB, down: 0 });
      for (const f of flows) f.app.destroy();
    });

    it('a bulk direction borrows its grown pipe again; short flows still get default ones', async () => {
      const s0 = pool();
      const flow = await makeFlow();
      const { relay, done } = relayFlow(flow, { pipeSize: MiB });
      const atServer = sink(flow.server);
      const up = source(flow.app, 32 * MiB, 6);
      await atServer.ended;
      assert.equal(atServer.digest(), await up.done);
      flow.server.end();
      assert.deepEqual(await done, { up: 32 * MiB, down: 0 });
      assert.equal(relay.stats().pipeSizeUp, MiB, 'grown once it carried 1 MiB');
      const s1 = pool();
      assert.ok(s1.opened - s0.opened <= 2, `${s1.opened - s0.opened} pipes opened for 32 MiB`);
      assert.ok(s1.freeGrown >= 1, 'the grown pipe is kept');
      // A grown pipe is lent only to a bulk direction: the next short flow's pipes are the default size.
      const short = await exchange({ pipeSize: MiB });
      assert.ok(short.stats().pipeSizeUp > 0 && short.stats().pipeSizeUp < MiB, `short flow pipe ${short.stats().pipeSizeUp}`);
      assert.equal(pool().freeGrown, s1.freeGrown);
      flow.app.destroy();
    });

    it('copies through user space while no pipe can be had (EMFILE), and the flow goes on', async () => {
      const flow = await makeFlow();
      const { done } = relayFlow(flow);
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      native().splicePoolTrim();
      const s0 = pool();
      const fillers: number[] = [];
      let sent: ReturnType<typeof source>;
      try {
        for (;;) fillers.push(fs.openSync('/dev/null', 'r'));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'EMFILE');
      }
      try {
        sent = source(flow.app, 512 * 1024, 7, false);
        await waitFor('the bytes at the server without a pipe', () => atServer.bytes() === 512 * 1024);
      } finally {
        for (const fd of fillers) fs.closeSync(fd);
      }
      assert.ok(pool().failed > s0.failed, 'pipe2() failed');
      flow.app.end();
      await atServer.ended;
      assert.equal(atServer.digest(), await sent.done);
      flow.server.end('spliced again');
      await atApp.ended;
      assert.equal(atApp.text(), 'spliced again');
      assert.deepEqual(await done, { up: 512 * 1024, down: 13 });
      assert.ok(pool().opened > s0.opened, 'a pipe once fds were back');
    });

    it('closes free pipes left unused for 5 s', async function () {
      this.timeout(20_000);
      await exchange();
      assert.ok(pool().free >= 1);
      await delay(5_500);
      assert.equal(pool().free, 0);
      assert.equal(pool().inUse, 0);
    });
  });

  describe('in a worker thread', () => {
    const addon = require.resolve('@sluice/native');
    // Relays the fds it is given (fds are per process) until the flow ends.
    const workerCode = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { native } = require(workerData.addon);
      const relay = new (native().SpliceRelay)(workerData.fdA, workerData.fdB, {}, (r) => parentPort.postMessage({ done: r }));
      parentPort.postMessage({ started: true });
    `;

    async function startInWorker(flow: Flow): Promise<{ worker: Worker; done: Promise<SpliceRelayResult> }> {
      const worker = new Worker(workerCode, { eval: true, workerData: { addon, fdA: fdOf(flow.inbound), fdB: fdOf(flow.outbound) } });
      const done = new Promise<SpliceRelayResult>((resolve, reject) => {
        worker.on('message', (m: { done?: SpliceRelayResult }) => m.done && resolve(m.done));
        worker.on('error', reject);
      });
      const [started] = await onceWithin<[{ started?: boolean }]>(worker, 'message', 10_000);
      assert.ok(started.started);
      flow.inbound.destroy();
      flow.outbound.destroy();
      return { worker, done };
    }

    it('relays on the worker’s own event loop', async () => {
      const flow = await makeFlow();
      const { worker, done } = await startInWorker(flow);
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      const up = source(flow.app, 8 * MiB, 4);
      await atServer.ended;
      flow.server.end('done');
      await atApp.ended;
      assert.equal(atServer.digest(), await up.done);
      assert.deepEqual(await done, { up: 8 * MiB, down: 4 });
      await worker.terminate();
    });

    it('gives each worker its own pipe pool, closed with the worker', async () => {
      const before = openFds();
      const main0 = native().splicePoolStats();
      const flow = await makeFlow();
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const { native } = require(workerData.addon);
        new (native().SpliceRelay)(workerData.fdA, workerData.fdB, {}, () => {});
        parentPort.on('message', () => parentPort.postMessage({ pool: native().splicePoolStats() }));
        parentPort.postMessage({ started: true });
      `;
      const worker = new Worker(code, { eval: true, workerData: { addon, fdA: fdOf(flow.inbound), fdB: fdOf(flow.outbound) } });
      await onceWithin(worker, 'message', 10_000);
      flow.inbound.destroy();
      flow.outbound.destroy();
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      flow.app.write('ping');
      await waitFor('the request through the worker', () => atServer.text() === 'ping');
      flow.server.write('pong');
      await waitFor('the answer through the worker', () => atApp.text() === 'pong');
      const reply = onceWithin<[{ pool: ReturnType<ReturnType<typeof native>['splicePoolStats']> }]>(worker, 'message');
      worker.postMessage('stats');
      const [{ pool }] = await reply;
      assert.ok(pool.opened >= 1 && pool.free >= 1 && pool.inUse === 0, JSON.stringify(pool));
      const main1 = native().splicePoolStats();
      assert.equal(main1.opened + main1.reused, main0.opened + main0.reused, 'nothing borrowed from the main thread’s pool');
      await worker.terminate(); // resets the flow; the worker's pool closes its pipes
      assert.equal(await closedWith(atApp), 'ECONNRESET');
      await waitFor('the worker’s relay and pool fds to close', () => openFds() <= before);
    });

    it('resets the flow and closes its fds when the worker exits mid-flow', async () => {
      const before = openFds();
      const flow = await makeFlow();
      const { worker } = await startInWorker(flow);
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      flow.app.write('x');
      await waitFor('a byte through the worker', () => atServer.bytes() === 1);
      await worker.terminate();
      assert.equal(await closedWith(atApp), 'ECONNRESET');
      assert.equal(await closedWith(atServer), 'ECONNRESET');
      await waitFor('the worker relay’s fds to close', () => openFds() <= before);
    });
  });
});
