import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { BlockOutbound, type Destination, type FlowContext, type Outbound, type PacketChannel, type PacketReceiver } from '@sluice/core';
import { runTcp, runUdp } from '@sluice/core/testing';
import { DirectOutbound } from '@sluice/plugin-direct';

/** `direct` with no mark, interface or transparent source: plain Node sockets, so no native binding at all. */
function direct(): DirectOutbound {
  return new DirectOutbound('direct', { transparent: false }, () => {
    throw new Error('the native binding must not be needed');
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A tiny in-test outbound: answers TCP itself with the upper-cased request, and UDP with each datagram reversed. */
class ShoutOutbound implements Outbound {
  readonly type = 'shout';
  readonly tag = 'shout';
  readonly networks = ['tcp', 'udp'] as const;
  dialTcp(_dst: Destination, _ctx: FlowContext): Promise<Duplex> {
    const toClient = new PassThrough();
    const fromClient = new PassThrough();
    const chunks: Buffer[] = [];
    fromClient.on('data', (c: Buffer) => chunks.push(c)).on('end', () => toClient.end(Buffer.concat(chunks).toString().toUpperCase()));
    return Promise.resolve(Duplex.from({ readable: toClient, writable: fromClient }));
  }
  dialUdp(): Promise<PacketChannel> {
    let receiver: PacketReceiver | undefined;
    return Promise.resolve({
      send: (data: Buffer, dst: Destination) => setImmediate(() => receiver?.onPacket(Buffer.from([...data].reverse()), dst)),
      setReceiver: (r: PacketReceiver) => void (receiver = r),
      close: () => {},
    });
  }
  async close(): Promise<void> {}
}

/** Never connects; gives up only when the flow's signal says so. */
class HangingOutbound extends ShoutOutbound {
  override dialTcp(_dst: Destination, ctx: FlowContext): Promise<Duplex> {
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
  }
}

describe('@sluice/core/testing: runTcp / runUdp', () => {
  it('runs TCP through direct to a local echo server and returns the reply and the access line', async () => {
    const r = await runTcp(direct(), 'hello');
    assert.equal(r.reply.toString(), 'hello');
    const { flowId, network, inbound, rule, outbound, up, down, error } = r.line;
    assert.deepEqual({ flowId, network, inbound, rule, outbound, up, down, error }, { flowId: r.flow.id, network: 'tcp', inbound: 'test', rule: 'test', outbound: 'direct', up: 5, down: 5, error: undefined });
    assert.equal(r.line.dst, `127.0.0.1:${r.flow.dst.port}`);
    assert.equal(typeof r.line.durationMs, 'number');
  });

  it('runs UDP through direct and collects the echoed datagrams', async () => {
    const r = await runUdp(direct(), ['one', 'three'], { replies: 2 });
    assert.deepEqual(r.replies.map((x) => x.data.toString()).sort(), ['one', 'three']);
    assert.deepEqual(r.replies[0]!.from, r.flow.dst);
    assert.deepEqual([r.line.network, r.line.up, r.line.down, r.line.error], ['udp', 8, 8, undefined]);
  });

  it('a refused destination gives the access line with the dial error and an empty reply', async () => {
    const r = await runTcp(direct(), 'hello', { dst: { address: '127.0.0.1', port: await closedPort() } });
    assert.equal(r.reply.length, 0);
    assert.match(r.line.error ?? '', /^direct: connect to 127\.0\.0\.1:\d+ failed \(ECONNREFUSED\)$/);
  });

  it('block: TCP is refused with "blocked", UDP is swallowed without error', async () => {
    const block = new BlockOutbound('deny');
    const tcp = await runTcp(block, 'x');
    assert.deepEqual([tcp.line.outbound, tcp.line.error, tcp.reply.length], ['deny', 'blocked', 0]);
    const udp = await runUdp(block, ['x'], { settleMs: 50 });
    assert.deepEqual([udp.replies.length, udp.line.up, udp.line.down, udp.line.error], [0, 1, 0, undefined]);
  });

  it('an in-test outbound that is not a socket: its stream and channel are relayed the same way', async () => {
    const tcp = await runTcp(new ShoutOutbound(), 'quiet please');
    assert.deepEqual([tcp.reply.toString(), tcp.line.up, tcp.line.down], ['QUIET PLEASE', 12, 12]);
    const udp = await runUdp(new ShoutOutbound(), ['abc'], { replies: 1 });
    assert.equal(udp.replies[0]!.data.toString(), 'cba');
  });

  it("a dial past connectTimeoutMs is aborted through the flow's signal, with core's error text", async () => {
    const r = await runTcp(new HangingOutbound(), 'x', { connectTimeoutMs: 100 });
    assert.equal(r.line.error, 'connect timeout after 100 ms');
  });
});
