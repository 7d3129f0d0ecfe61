import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import { PassThrough } from 'node:stream';
import { relayTcp, spliceAvailable, spliceRelayEnds, type TcpRelay } from '@sluice/core';
import { native, type NativeBinding, type SpliceRelayOptions, type SpliceRelayResult } from '@sluice/native';
import { waitFor } from '../../helpers/wait';
import { delay, makeFlow, openFds, sink, source, type Flow } from '../native/splice-fixtures';

const MiB = 1024 * 1024;

/** A flow as Sluice holds it: the client accepted with pauseOnConnect, the upstream dialled and paused. */
const dialledFlow = (): Promise<Flow> => makeFlow({ dialled: true });

function mustRelay(flow: Flow, idleMs = 0): TcpRelay {
  const relay = spliceRelayEnds(flow.inbound, flow.outbound, { idleMs }, native());
  assert.ok(relay, 'spliceRelayEnds declined eligible sockets');
  return relay;
}

/** Makes Node read what has arrived on `s` into its own buffer (without consuming it) until it holds `n` bytes. */
async function bufferInNode(s: net.Socket, n: number): Promise<void> {
  s.read(0); // starts the handle reading; the stream is paused, so the bytes stay buffered
  await waitFor(`${n} bytes buffered in Node`, () => s.readableLength >= n);
}

/** A binding whose SpliceRelay is scripted, for what the kernel will not do on demand. */
function fakeBinding(start: (onDone: (r: SpliceRelayResult) => void) => void): NativeBinding {
  class FakeSpliceRelay {
    constructor(_fdA: number, _fdB: number, _options: SpliceRelayOptions, onDone: (r: SpliceRelayResult) => void) {
      start(onDone);
    }
    abort(): boolean {
      return true;
    }
    stats() {
      return { up: 0, down: 0, bufferedUp: 0, bufferedDown: 0, pipeSizeUp: 0, pipeSizeDown: 0, pipes: 0, open: true };
    }
  }
  return { ...native(), SpliceRelay: FakeSpliceRelay, spliceSupported: () => true } as unknown as NativeBinding;
}

describe('spliceRelayEnds (socket ends)', function () {
  before(() => {
    // splice() is a requirement on the kernels this project supports: its absence fails here rather than skipping.
    assert.ok(spliceAvailable(native()), 'splice() is not available in this kernel or sandbox');
  });
  afterEach(() => global.gc?.());

  it('relays in the kernel: bytes both ways, half-close passed on, counts as relayTcp', async () => {
    const flow = await dialledFlow();
    const relay = mustRelay(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.write('hello');
    await waitFor('the request at the server', () => atServer.text() === 'hello');
    flow.app.end();
    await atServer.ended;
    flow.server.write('answer after EOF');
    flow.server.end();
    await atApp.ended;
    assert.equal(atApp.text(), 'answer after EOF');
    assert.deepEqual(await relay.result, { up: 5, down: 16 });
  });

  it('hands over without a FIN or RST: the peers notice nothing', async () => {
    const flow = await dialledFlow();
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    let ended = 0;
    for (const s of [flow.app, flow.server]) s.on('end', () => ended++).on('close', () => ended++);
    const relay = mustRelay(flow);
    assert.ok(flow.inbound.destroyed && flow.outbound.destroyed);
    await delay(100); // pacing: a FIN or RST from the hand-over would have arrived by now
    assert.equal(ended, 0);
    assert.deepEqual([...atApp.errors, ...atServer.errors], []);
    flow.app.write('still here');
    await waitFor('bytes after the hand-over', () => atServer.text() === 'still here');
    relay.abort('done');
    await relay.result;
  });

  it('sends what Node had already read before the kernel’s bytes, and counts it', async () => {
    const flow = await dialledFlow();
    flow.app.write('early');
    flow.server.write('EARLY');
    await bufferInNode(flow.inbound, 5);
    await waitFor('the upstream’s bytes buffered in Node', () => flow.outbound.readableLength === 5); // it reads on its own
    flow.app.write('-mid');
    flow.server.write('-MID');
    await delay(50); // pacing: in the kernel's queues at the hand-over
    const relay = mustRelay(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    flow.app.end('-late');
    flow.server.end('-LATE');
    await Promise.all([atServer.ended, atApp.ended]);
    assert.equal(atServer.text(), 'early-mid-late');
    assert.equal(atApp.text(), 'EARLY-MID-LATE');
    assert.deepEqual(await relay.result, { up: 14, down: 14 });
  });

  it('counts bytes a sniffer passed on before the hand-over, as relayTcp would', async () => {
    const flow = await dialledFlow();
    flow.app.write('GET /');
    await bufferInNode(flow.inbound, 5);
    const sniffed = flow.inbound.read() as Buffer; // what a sniffer does, then it forwards the bytes itself
    flow.outbound.write(sniffed);
    await waitFor('the sniffed bytes written', () => flow.outbound.writableLength === 0);
    const relay = mustRelay(flow);
    const atServer = sink(flow.server);
    flow.app.end(' HTTP/1.1');
    await atServer.ended;
    flow.server.end();
    assert.equal(atServer.text(), 'GET / HTTP/1.1');
    assert.deepEqual(await relay.result, { up: 14, down: 0 });
  });

  it('moves 64 MiB each way intact', async () => {
    const flow = await dialledFlow();
    const relay = mustRelay(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    const up = source(flow.app, 64 * MiB, 11);
    const down = source(flow.server, 64 * MiB, 12);
    await Promise.all([atServer.ended, atApp.ended]);
    assert.equal(atServer.digest(), await up.done);
    assert.equal(atApp.digest(), await down.done);
    assert.deepEqual(await relay.result, { up: 64 * MiB, down: 64 * MiB });
  });

  it('declines what it cannot take over and leaves those sockets as they were', async () => {
    const flow = await dialledFlow();
    const n = native();
    assert.equal(spliceRelayEnds(new PassThrough(), flow.outbound, { idleMs: 0 }, n), undefined);
    const decoding = await dialledFlow();
    decoding.inbound.setEncoding('latin1');
    assert.equal(spliceRelayEnds(decoding.inbound, decoding.outbound, { idleMs: 0 }, n), undefined, 'a decoding stream');
    for (const s of Object.values(decoding)) s.destroy();
    flow.outbound.cork();
    flow.outbound.write('queued');
    assert.equal(spliceRelayEnds(flow.inbound, flow.outbound, { idleMs: 0 }, n), undefined, 'bytes waiting to be written');
    flow.outbound.uncork();
    flow.inbound.resume();
    assert.equal(spliceRelayEnds(flow.inbound, flow.outbound, { idleMs: 0 }, n), undefined, 'a flowing stream');
    flow.inbound.pause();
    const bare = { ...n } as Partial<NativeBinding>;
    delete bare.SpliceRelay;
    assert.equal(spliceAvailable(bare as NativeBinding), false);
    assert.equal(spliceRelayEnds(flow.inbound, flow.outbound, { idleMs: 0 }, bare as NativeBinding), undefined, 'an addon without SpliceRelay');
    assert.ok(!flow.inbound.destroyed && !flow.outbound.destroyed);
    // Still whole: relayTcp carries the flow.
    const relay = relayTcp(flow.inbound, flow.outbound, { idleMs: 0 });
    const atServer = sink(flow.server);
    flow.app.end('via relayTcp');
    await waitFor('bytes through relayTcp', () => atServer.text() === 'queuedvia relayTcp');
    flow.server.end();
    await relay.result;
  });

  it('puts read bytes back when the native relay refuses the sockets', async () => {
    const flow = await dialledFlow();
    flow.app.write('early');
    await bufferInNode(flow.inbound, 5);
    const refusing = fakeBinding(() => {
      throw Object.assign(new Error('getpeername ENOTCONN'), { code: 'ENOTCONN' });
    });
    assert.equal(spliceRelayEnds(flow.inbound, flow.outbound, { idleMs: 0 }, refusing), undefined);
    assert.equal(flow.inbound.readableLength, 5);
    const relay = relayTcp(flow.inbound, flow.outbound, { idleMs: 0 });
    const atServer = sink(flow.server);
    flow.app.end('+late');
    await atServer.ended;
    assert.equal(atServer.text(), 'early+late');
    flow.server.end();
    assert.deepEqual(await relay.result, { up: 10, down: 0 });
  });

  it('a flow whose sockets refused splice() leaves the splice relay available for the next flow', async () => {
    // The native relay carried the refused flow through recv/send and says so per flow.
    const refused = fakeBinding((onDone) => setImmediate(() => onDone({ up: 0, down: 0, spliceRefused: true })));
    const flow = await dialledFlow();
    const relay = spliceRelayEnds(flow.inbound, flow.outbound, { idleMs: 0 }, refused);
    assert.ok(relay);
    assert.equal((await relay.result).error, undefined);
    assert.equal(spliceAvailable(refused), true);
    const next = await dialledFlow();
    assert.ok(spliceRelayEnds(next.inbound, next.outbound, { idleMs: 0 }, refused), 'the next flow is spliced too');
    for (const s of [flow.app, flow.server, next.app, next.server]) s.destroy();
  });

  it('abort(reason) resets both peers and records the reason as given, like relayTcp', async () => {
    const flow = await dialledFlow();
    const relay = mustRelay(flow);
    const atServer = sink(flow.server);
    const atApp = sink(flow.app);
    relay.abort('shutdown');
    relay.abort('twice');
    assert.deepEqual(await relay.result, { up: 0, down: 0, error: 'shutdown' });
    await Promise.all([atApp.closed, atServer.closed]);
    assert.equal(atApp.errors[0]?.code, 'ECONNRESET');
    assert.equal(atServer.errors[0]?.code, 'ECONNRESET');
  });

  it('passes an upstream reset on to the client', async () => {
    const flow = await dialledFlow();
    const relay = mustRelay(flow);
    const atApp = sink(flow.app);
    flow.server.resetAndDestroy();
    assert.match((await relay.result).error ?? '', /^upstream: ECONNRESET/);
    await atApp.closed;
    assert.equal(atApp.errors[0]?.code, 'ECONNRESET');
  });

  it('closes an idle flow', async () => {
    const flow = await dialledFlow();
    const relay = mustRelay(flow, 100);
    const atApp = sink(flow.app);
    sink(flow.server);
    assert.equal((await relay.result).error, 'idle timeout');
    await atApp.closed;
  });

  it('leaks no fds over 200 flows', async () => {
    native().splicePoolTrim(); // the pool's free pipes are kept on purpose: counted without them
    const before = openFds();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const flow = await dialledFlow();
          const relay = mustRelay(flow, 10_000);
          const atServer = sink(flow.server);
          const atApp = sink(flow.app);
          flow.app.end('ping');
          flow.server.end('pong');
          assert.deepEqual(await relay.result, { up: 4, down: 4 });
          await Promise.all([atServer.ended, atApp.ended]);
          flow.app.destroy();
          flow.server.destroy();
          await Promise.all([atServer.closed, atApp.closed]);
        }),
      );
    }
    assert.equal(native().splicePoolStats().inUse, 0, 'every pipe given back');
    native().splicePoolTrim();
    assert.equal(openFds(), before);
  });
});
