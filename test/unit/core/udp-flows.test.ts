import { strict as assert } from 'node:assert';
import type { DatagramPort, Endpoint, PacketChannel } from '@sluice/core';
import { createFlowHarness } from '@sluice/core/testing';
import { FakeChannel, FakeOutbound, captureLogger, waitUntil } from './fakes';

/** A DatagramPort that records replies and offers no session relay. */
function fakePort(inbound = 'in4'): DatagramPort & { replies: { data: Buffer; from: Endpoint; to: Endpoint }[] } {
  const replies: { data: Buffer; from: Endpoint; to: Endpoint }[] = [];
  return { inbound, replies, sendReply: (data, from, to) => (replies.push({ data, from, to }), true) };
}

const SRC = { address: '198.18.1.2', port: 40000 };
const DST = { address: '198.19.2.2', port: 53 };

describe('UDP sessions', () => {
  it('a session whose route fails writes one access line, not one per datagram, and one rate-limited warning for the flood', async () => {
    const { logger, lines } = captureLogger();
    const tcpOnly = new FakeOutbound('tcp-only');
    tcpOnly.networks = ['tcp'];
    (tcpOnly as { dialUdp?: unknown }).dialUdp = undefined;
    const h = createFlowHarness({ outbounds: [tcpOnly], logger });
    const port = fakePort();
    for (let i = 0; i < 200; i++) h.sink.onDatagram(Buffer.from('x'), SRC, DST, port);
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'the access line');
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.filter((l) => l.msg === 'flow closed').length, 1);
    assert.match(String(lines.find((l) => l.msg === 'flow closed')!.error), /does not carry udp/);
    assert.equal(lines.filter((l) => l.msg === 'dropping datagrams of a session whose route failed').length, 1);
    h.closeAll();
  });

  it('datagrams to a listener are dropped as loops, whatever form the listener address was written in, with one warning', () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    for (const [listen, dst] of [
      ['0:0:0:0:0:0:0:1', '::1'],
      ['::ffff:127.0.0.1', '127.0.0.1'],
      ['::0', '127.0.0.1'],
    ] as const) {
      const h = createFlowHarness({ outbounds: [out], logger, listeners: [{ address: listen, port: 15001 }] });
      for (let i = 0; i < 20; i++) h.sink.onDatagram(Buffer.from('x'), { ...SRC, port: 40000 + i }, { address: dst, port: 15001 }, fakePort());
      assert.equal(h.routed.length, 0, `listener ${listen}: a datagram to ${dst} was routed`);
      h.closeAll();
    }
    assert.equal(out.channels.length, 0);
    // One line per harness (each has its own limiter), not one per datagram.
    assert.equal(lines.filter((l) => l.msg === 'dropped a datagram to sluice itself (loop)').length, 3);
  });

  it('bounds what is queued while dialling in bytes, and counts in `up` only what was sent', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('slow');
    let release!: (c: PacketChannel) => void;
    const channel = new FakeChannel();
    out.onDialUdp = () => new Promise<PacketChannel>((r) => (release = r));
    const h = createFlowHarness({ outbounds: [out], logger, maxPendingBytes: 10_000 });
    const port = fakePort();
    for (let i = 0; i < 20; i++) h.sink.onDatagram(Buffer.alloc(1500, i), SRC, DST, port);
    await waitUntil(() => release !== undefined, 'the dial');
    release(channel);
    await waitUntil(() => channel.sent.length > 0, 'the queue sent');
    // 6 × 1500 = 9000 fit in 10,000 bytes; the 7th would not.
    assert.equal(channel.sent.length, 6);
    h.closeAll();
    const line = lines.find((l) => l.msg === 'flow closed')!;
    assert.equal(line.up, 9000);
  });

  it('bounds the bytes queued by all dialling sessions together', async () => {
    const { logger } = captureLogger();
    const out = new FakeOutbound('slow');
    const releases: ((c: PacketChannel) => void)[] = [];
    out.onDialUdp = () => new Promise<PacketChannel>((r) => releases.push(r));
    const h = createFlowHarness({ outbounds: [out], logger, maxPendingTotal: 5000 });
    const port = fakePort();
    for (let i = 0; i < 10; i++) h.sink.onDatagram(Buffer.alloc(1000), { ...SRC, port: 41000 + i }, DST, port);
    await waitUntil(() => releases.length === 10, 'ten dials');
    const channels = releases.map((r) => {
      const c = new FakeChannel();
      r(c);
      return c;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(channels.reduce((n, c) => n + c.sent.length, 0), 5);
    h.closeAll();
  });
});
