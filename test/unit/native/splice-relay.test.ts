import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { native, isNativeError, type SpliceRelay, type SpliceRelayOptions, type SpliceRelayResult } from '@sluice/native';
import { onceWithin, until } from './helpers/wait';
import { delay, fdOf, makeFlow, openFds, sink, source, tcpPair, type Flow } from './splice-fixtures';

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
  before(function () {
    if (!native().spliceSupported()) this.skip(); // a kernel or sandbox without splice(); core falls back
  });
  afterEach(() => global.gc?.());

  it('carries bytes both ways with exact counts and passes a half-close on', async () => {
    const flow = await makeFlow();
    const { done, calls } = relayFlow(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.write('hello');
    await until(() => atServer.text() === 'hello', 'the request at the server');
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
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const total = 256 * MiB;
    const sender = source(flow.app, total, 3);
    // The server does not read: the sender must come to a stop.
    let last = -1;
    let still = 0;
    await until(() => {
      const now = sender.written();
      still = now === last && now > 0 ? still + 1 : 0;
      last = now;
      return still >= 10;
    }, 'the sender to be held back', 20_000);
    const stats = relay.stats();
    assert.ok(sender.written() < total / 2, `the sender got ${sender.written()} bytes into the kernel`);
    assert.ok(stats.bufferedUp <= stats.pipeSizeUp, `relay buffers ${stats.bufferedUp} bytes in a ${stats.pipeSizeUp}-byte pipe`);
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 64 * MiB, `RSS grew by ${grown} bytes while the reader was paused`);
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
    const before = openFds();
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
    assert.equal(openFds(), before);
  });

  it('refuses fds that are not connected TCP sockets and then owns nothing', async () => {
    const before = openFds();
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
    assert.equal(openFds(), before);
  });

  // python3 sends the urgent byte (Node cannot). With the FIN right behind it,
  // splice() returns 0 at the mark as if at EOF; without, it returns EAGAIN.
  for (const finFirst of [true, false]) {
    it(`gets past TCP urgent data, which splice() cannot read (${finFirst ? 'FIN right after it' : 'no FIN yet'})`, async function () {
      if (spawnSync('python3', ['-c', 'pass']).status !== 0) this.skip();
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
      await until(() => atServer.text() === 'beforeafter', '"beforeafter" at the server');
      upstream.a.end('reply');
      await onceWithin(py, 'exit', 10_000);
      assert.equal(out.trim(), 'reply');
      await atServer.ended; // python's FIN (shutdown, or close at exit), passed on
      assert.deepEqual(await done, { up: 11, down: 5 });
    });
  }

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

    it('resets the flow and closes its fds when the worker exits mid-flow', async () => {
      const before = openFds();
      const flow = await makeFlow();
      const { worker } = await startInWorker(flow);
      const atServer = sink(flow.server);
      const atApp = sink(flow.app);
      flow.app.write('x');
      await until(() => atServer.bytes() === 1, 'a byte through the worker');
      await worker.terminate();
      assert.equal(await closedWith(atApp), 'ECONNRESET');
      assert.equal(await closedWith(atServer), 'ECONNRESET');
      await until(() => openFds() <= before, 'the worker relay’s fds to close');
    });
  });
});
