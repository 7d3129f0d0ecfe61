import { strict as assert } from 'node:assert';
import type { DatagramPort, Endpoint, FlowContext, FlowMetadata, UdpSessionRelay } from '@sluice/core';
import { createFlowHarness } from '@sluice/core/testing';
import { FakeOutbound, captureLogger, waitUntil } from '../core/fakes';
import { clientHello, QUIC_V1, QUIC_V2, splitInitials } from '../../helpers/quic-initial';

const SRC = { address: '198.18.1.2', port: 40000 };
const DST = { address: '198.19.2.2', port: 443 };
const DCID = Buffer.from('1122334455667788', 'hex');

function port(inbound: string): DatagramPort {
  return { inbound, sendReply: () => true };
}

function harness(opts: { timeoutMs?: number; overrideDestination?: boolean; hook?: (f: FlowMetadata) => string | undefined } = {}) {
  const { logger, lines } = captureLogger();
  const out = new FakeOutbound('direct');
  const blocked = new FakeOutbound('blocked');
  const sniff = new Map([['sniffing', { timeoutMs: opts.timeoutMs ?? 60_000, overrideDestination: opts.overrideDestination ?? false }]]);
  const h = createFlowHarness({ outbounds: [out, blocked], logger, udpSniff: sniff, hook: opts.hook });
  return { h, out, blocked, lines };
}

const sentTo = (d: { dst: Endpoint & { host?: string } }): string => `${d.dst.address}:${d.dst.port}${d.dst.host === undefined ? '' : ` host=${d.dst.host}`}`;

describe('UDP sessions with sniff: true (QUIC)', () => {
  it('holds a session until the ClientHello split over three datagrams is whole, routes it by name, then sends the held datagrams unchanged and in order', async () => {
    const { h, out, lines } = harness();
    const ds = splitInitials(QUIC_V2, DCID, clientHello('video.example', 2500), 3, [1, 0, 2]);
    const copies = ds.map((d) => Buffer.from(d));
    h.sink.onDatagram(ds[0]!, SRC, DST, port('sniffing'));
    h.sink.onDatagram(ds[1]!, SRC, DST, port('sniffing'));
    assert.equal(h.routed.length, 0, 'routed before the ClientHello was whole');
    h.sink.onDatagram(ds[2]!, SRC, DST, port('sniffing'));
    // The `flow` event goes out one microtask after the route (so it can carry a group's chain).
    await Promise.resolve();
    assert.equal(h.routed.length, 1);
    assert.equal(h.routed[0]!.host, 'video.example');
    await waitUntil(() => out.channels[0]?.sent.length === 3, 'the held datagrams sent');
    const late = Buffer.from('a later datagram');
    h.sink.onDatagram(late, SRC, DST, port('sniffing'));
    const sent = out.channels[0]!.sent;
    assert.deepEqual(
      sent.map((s) => s.data),
      [...copies, late],
    );
    // override_destination is off: the datagrams go to the original address, without the name.
    assert.deepEqual(new Set(sent.map(sentTo)), new Set(['198.19.2.2:443']));
    h.closeAll();
    const line = lines.find((l) => l.msg === 'flow closed')!;
    assert.equal(line.host, 'video.example');
    assert.equal(line.up, copies.reduce((n, d) => n + d.length, 0) + late.length);
  });

  it('with override_destination the datagrams carry the sniffed name', async () => {
    const { h, out } = harness({ overrideDestination: true });
    h.sink.onDatagram(splitInitials(QUIC_V1, DCID, clientHello('named.example'), 1)[0]!, SRC, DST, port('sniffing'));
    await waitUntil(() => out.channels[0]?.sent.length === 1, 'the datagram sent');
    h.sink.onDatagram(Buffer.from('next'), SRC, DST, port('sniffing'));
    assert.deepEqual(out.channels[0]!.sent.map(sentTo), ['198.19.2.2:443 host=named.example', '198.19.2.2:443 host=named.example']);
    h.closeAll();
  });

  it('the routing hook sees the sniffed name and protocol, and can route on them', async () => {
    const seen: FlowMetadata[] = [];
    const { h, blocked } = harness({ hook: (f) => (seen.push(f), f.dst.host === 'blocked.example' ? 'blocked' : undefined) });
    h.sink.onDatagram(splitInitials(QUIC_V1, DCID, clientHello('blocked.example'), 1)[0]!, SRC, DST, port('sniffing'));
    await waitUntil(() => h.routed.length === 1, 'routed');
    assert.equal(seen[0]!.sniffed, 'quic');
    assert.equal(seen[0]!.dst.host, 'blocked.example');
    assert.equal(h.routed[0]!.outbound, 'blocked');
    await waitUntil(() => blocked.channels.length === 1, 'dialled through the chosen outbound');
    h.closeAll();
  });

  it('routes a datagram that is not QUIC at once, without waiting for the timeout', async () => {
    const { h } = harness({ timeoutMs: 60_000 });
    h.sink.onDatagram(Buffer.from('12340100000100000000000003777777076578616d706c6503636f6d0000010001', 'hex'), SRC, { ...DST, port: 53 }, port('sniffing'));
    // Synchronously: no timer, no wait.
    // The `flow` event goes out one microtask after the route (so it can carry a group's chain).
    await Promise.resolve();
    assert.equal(h.routed.length, 1);
    assert.equal(h.routed[0]!.host, undefined);
    h.closeAll();
  });

  it('routes an incomplete ClientHello on the address when sniff_timeout_ms passes, and sends what it held', async () => {
    const { h, out } = harness({ timeoutMs: 30 });
    const [first] = splitInitials(QUIC_V1, DCID, clientHello('never.example', 2500), 3);
    h.sink.onDatagram(first!, SRC, DST, port('sniffing'));
    assert.equal(h.routed.length, 0);
    await waitUntil(() => h.routed.length === 1, 'routed after the timeout');
    assert.equal(h.routed[0]!.host, undefined);
    await waitUntil(() => out.channels[0]?.sent.length === 1, 'the held datagram sent');
    assert.ok(out.channels[0]!.sent[0]!.data.equals(first!));
    h.closeAll();
  });

  it('an inbound without sniff routes a QUIC session at once, without a name', async () => {
    const { h } = harness();
    h.sink.onDatagram(splitInitials(QUIC_V1, DCID, clientHello('plain.example', 2500), 3)[0]!, SRC, DST, port('not-sniffing'));
    // The `flow` event goes out one microtask after the route (so it can carry a group's chain).
    await Promise.resolve();
    assert.equal(h.routed.length, 1);
    assert.equal(h.routed[0]!.host, undefined);
    h.closeAll();
  });

  it("hands a sniffed session to the inbound's session relay (dialUdpFd), the held datagrams first and unchanged", async () => {
    const { logger } = captureLogger();
    const out = new FakeOutbound('direct');
    Object.assign(out, { dialUdpFd: async (_ctx: FlowContext) => 100 });
    const attached: { dst: Endpoint; queued: readonly Buffer[] }[] = [];
    const relay: UdpSessionRelay = {
      attach: (_id, _src, dst, _fd, queued) => (attached.push({ dst, queued }), []),
      detach: () => undefined,
      discard: () => undefined,
    };
    const h = createFlowHarness({ outbounds: [out], logger, udpSniff: new Map([['sniffing', { timeoutMs: 60_000, overrideDestination: false }]]) });
    const ds = splitInitials(QUIC_V1, DCID, clientHello('relayed.example', 2500), 3, [2, 0, 1]);
    const copies = ds.map((d) => Buffer.from(d));
    for (const d of ds) h.sink.onDatagram(d, SRC, DST, { inbound: 'sniffing', sendReply: () => true, sessionRelay: relay });
    await waitUntil(() => attached.length === 1, 'attached');
    assert.deepEqual(attached[0]!.queued, copies);
    assert.equal(h.routed[0]!.host, 'relayed.example');
    assert.equal(out.channels.length, 0);
    h.closeAll();
  });

  it('a session closed while it is held (shutdown) writes its line and routes nothing later', async () => {
    const { h, lines } = harness({ timeoutMs: 20 });
    h.sink.onDatagram(splitInitials(QUIC_V1, DCID, clientHello('held.example', 2500), 3)[0]!, SRC, DST, port('sniffing'));
    h.closeAll();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(h.routed.length, 0);
    assert.equal(lines.filter((l) => l.msg === 'flow closed').length, 1);
  });
});
