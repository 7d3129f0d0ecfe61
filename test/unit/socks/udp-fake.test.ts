import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import { ErrorCode, isSluiceError, type Destination, type Endpoint, type FlowMetadata, type Outbound, type PacketChannel } from '@sluice/core';
import { encodeUdpFrame, type SocksUdpChannel } from '@sluice/plugin-socks';
import { TestFlowContext, flowCtx, makeSocks, nextPacket, scriptedServer, testDirect } from './helpers';

/** A fake UDP relay: records what arrives and can answer from itself or from a stranger. */
async function fakeRelay(): Promise<{ sock: dgram.Socket; port: number; got: { frame: Buffer; from: Endpoint }[]; next(): Promise<Endpoint> }> {
  const sock = dgram.createSocket('udp4');
  const got: { frame: Buffer; from: Endpoint }[] = [];
  let wake: (() => void) | undefined;
  sock.on('message', (frame, r) => {
    got.push({ frame, from: { address: r.address, port: r.port } });
    wake?.();
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    sock,
    port: sock.address().port,
    got,
    next: () =>
      new Promise((resolve) => {
        const n = got.length;
        wake = () => got.length > n && resolve(got[n].from);
      }),
  };
}

function associateReply(address: number[], port: number): Buffer {
  return Buffer.from([5, 0, 0, 1, ...address, port >> 8, port & 255]);
}

describe('socks UDP against a scripted server', () => {
  it('frames, filters and unwraps datagrams, and closes with the control connection', async () => {
    const relay = await fakeRelay();
    // 0.0.0.0 in the reply: the relay is on the address we reached the server at.
    const srv = await scriptedServer([Buffer.from([5, 0]), associateReply([0, 0, 0, 0], relay.port)]);
    const out = makeSocks({ server: '127.0.0.1', port: srv.port });
    assert.deepEqual(out.networks, ['tcp', 'udp']);
    const channel = (await out.dialUdp!(flowCtx(undefined, 'udp'))) as SocksUdpChannel;
    assert.deepEqual(srv.received[1], Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]), 'ASSOCIATE 0.0.0.0:0');

    const arrived = relay.next();
    channel.send(Buffer.from('ping'), { address: '198.51.100.9', port: 5353 });
    const client = await arrived;
    assert.equal(client.address, '127.0.0.1', 'bound to the control connection’s local address');
    assert.deepEqual(relay.got[0].frame, Buffer.concat([Buffer.from([0, 0, 0, 1, 198, 51, 100, 9, 0x14, 0xe9]), Buffer.from('ping')]));

    const packets: { data: string; from: Endpoint }[] = [];
    let closed: Error | undefined;
    let onClosed!: () => void;
    const closedP = new Promise<void>((r) => (onClosed = r));
    channel.setReceiver({
      onPacket: (data, from) => packets.push({ data: data.toString(), from }),
      onClose: (err) => {
        closed = err;
        onClosed();
      },
    });
    const stranger = dgram.createSocket('udp4');
    const good = encodeUdpFrame({ address: '203.0.113.5', port: 53 }, Buffer.from('pong'));
    const fragment = Buffer.from(good);
    fragment[2] = 1;
    relay.sock.send(fragment, client.port, client.address);
    relay.sock.send(good.subarray(0, 7), client.port, client.address);
    relay.sock.send(Buffer.from([0, 0, 0, 7, 1]), client.port, client.address);
    stranger.send(good, client.port, client.address);
    await new Promise((r) => setTimeout(r, 50));
    relay.sock.send(good, client.port, client.address);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(packets, [{ data: 'pong', from: { address: '203.0.113.5', port: 53 } }]);
    assert.deepEqual(channel.stats, { sent: 1, received: 1, dropped: 4 });

    // The server hangs up the control connection: the channel closes itself and says why.
    await srv.close();
    await closedP;
    assert.ok(isSluiceError(closed));
    assert.equal(closed.message, 'socks: udp control connection closed');
    channel.send(Buffer.from('late'), { address: '198.51.100.9', port: 1 }); // must not throw
    channel.close(); // idempotent
    stranger.close();
    relay.sock.close();
  });

  it('closing the channel closes the control connection and the via channel', async () => {
    const relay = await fakeRelay();
    const srv = await scriptedServer([Buffer.from([5, 0]), associateReply([127, 0, 0, 1], relay.port)]);
    const direct = testDirect();
    const closedVia: PacketChannel[] = [];
    const origDialUdp = direct.dialUdp!.bind(direct);
    direct.dialUdp = async (ctx) => {
      const c = await origDialUdp(ctx);
      const close = c.close.bind(c);
      c.close = () => {
        closedVia.push(c);
        close();
      };
      return c;
    };
    const out = makeSocks({ server: '127.0.0.1', port: srv.port, via: 'direct' }, { direct });
    const channel = await out.dialUdp!(flowCtx(undefined, 'udp'));
    assert.equal(direct.tcpDials.length, 1);
    assert.deepEqual(direct.tcpDials[0], { address: '127.0.0.1', port: srv.port });
    assert.equal(direct.udpDials, 1);
    const arrived = relay.next();
    channel.send(Buffer.from('x'), { address: '127.0.0.1', port: 7 });
    await arrived;
    channel.close();
    assert.equal(closedVia.length, 1);
    await srv.clientClosed; // the control connection went with the channel
    await srv.close();
    relay.sock.close();
  });

  /** The ATYP and address of a frame the relay got: `[3, name]` for a name, `[1, ip]` for IPv4. */
  function framedAddress(frame: Buffer): [number, string] {
    if (frame[3] === 0x03) return [3, frame.subarray(5, 5 + frame[4]).toString()];
    assert.equal(frame[3], 0x01, 'IPv4 or a name');
    return [1, [...frame.subarray(4, 8)].join('.')];
  }

  /** What the relay got for one datagram to `to`, sent through a channel dialled for `flow`. */
  async function frameFor(flow: FlowMetadata, to: Destination, via?: 'direct'): Promise<[number, string]> {
    const relay = await fakeRelay();
    const srv = await scriptedServer([Buffer.from([5, 0]), associateReply([127, 0, 0, 1], relay.port)]);
    const others: Record<string, Outbound> = via ? { direct: testDirect() } : {};
    const channel = await makeSocks({ server: '127.0.0.1', port: srv.port, ...(via ? { via } : {}) }, others).dialUdp!(new TestFlowContext(flow));
    try {
      const arrived = relay.next();
      channel.send(Buffer.from('q'), to);
      await arrived;
      return framedAddress(relay.got[0].frame);
    } finally {
      channel.close();
      relay.sock.close();
      await srv.close();
    }
  }

  describe('the destination a datagram is framed with', () => {
    const src = { address: '192.0.2.10', port: 6000 };
    const named = { address: '203.0.113.80', port: 9000, host: 'game.test' };
    // A fake-IP flow as core hands it over: dialled at a real address, with the name and the fake address the client sent to.
    const fakeIpFlow: FlowMetadata = { id: 'f', network: 'udp', inbound: 'in', src, dst: named, hostSource: 'dns', addressedTo: { address: '100.64.0.1', port: 9000 } };

    it('a flow the client addressed to a fake IP: the name (ATYP domain), so the relay resolves it', async () => {
      assert.deepEqual(await frameFor(fakeIpFlow, named), [3, 'game.test']);
    });

    it('the same through a via outbound (the chain composes the same channel)', async () => {
      assert.deepEqual(await frameFor(fakeIpFlow, named, 'direct'), [3, 'game.test']);
    });

    it('the via\'s channel is dialled towards the relay, not the flow\'s destination (which only the server may reach)', async () => {
      const relay = await fakeRelay();
      const srv = await scriptedServer([Buffer.from([5, 0]), associateReply([127, 0, 0, 1], relay.port)]);
      const direct = testDirect();
      const seen: FlowMetadata[] = [];
      const dialUdp = direct.dialUdp!.bind(direct);
      direct.dialUdp = (ctx) => {
        seen.push(ctx.flow);
        return dialUdp(ctx);
      };
      const channel = await makeSocks({ server: '127.0.0.1', port: srv.port, via: 'direct' }, { direct }).dialUdp!(new TestFlowContext(fakeIpFlow));
      channel.close();
      relay.sock.close();
      await srv.close();
      assert.equal(seen.length, 1);
      assert.deepEqual(seen[0].dst, { address: '127.0.0.1', port: relay.port });
      assert.equal(seen[0].addressedTo, undefined, 'the via talks to the relay, which is what it was sent to');
      assert.equal(seen[0].id, fakeIpFlow.id, 'the same flow otherwise');
    });

    it('a fake-IP flow\'s datagram to a destination with no name (a via hop\'s, to the next relay): the IP', async () => {
      assert.deepEqual(await frameFor(fakeIpFlow, { address: '198.51.100.9', port: 1080 }), [1, '198.51.100.9']);
    });

    it('a name from the DNS mapping (mode: mapping) or a sniffer: the IP the client sent to, which replies must come from', async () => {
      const mapped: FlowMetadata = { id: 'm', network: 'udp', inbound: 'in', src, dst: named, hostSource: 'dns' };
      assert.deepEqual(await frameFor(mapped, named), [1, '203.0.113.80']);
      const sniffed: FlowMetadata = { id: 's', network: 'udp', inbound: 'in', src, dst: named, sniffed: 'quic' };
      assert.deepEqual(await frameFor(sniffed, named), [1, '203.0.113.80']);
    });
  });

  it('uses a relay given by a concrete address', async () => {
    const relay = await fakeRelay();
    const srv = await scriptedServer([Buffer.from([5, 0]), associateReply([127, 0, 0, 1], relay.port)]);
    const channel = await makeSocks({ server: '127.0.0.1', port: srv.port }).dialUdp!(flowCtx(undefined, 'udp'));
    const arrived = relay.next();
    channel.send(Buffer.from('q'), { address: '192.0.2.1', port: 9 });
    const client = await arrived;
    const p = nextPacket(channel);
    relay.sock.send(encodeUdpFrame({ address: '192.0.2.1', port: 9 }, Buffer.from('a')), client.port, client.address);
    const got = await p;
    assert.equal(got.data.toString(), 'a');
    channel.close();
    await srv.close();
    relay.sock.close();
  });

  /**
   * A socket on another loopback address with the relay's own port: what an
   * off-path sender who knows the port can do. Its datagrams must be dropped.
   */
  async function impostor(port: number): Promise<dgram.Socket> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(port, '127.0.0.2', r));
    return sock;
  }

  /** Sends a frame from the impostor, then the same from the relay, and returns what the channel delivered. */
  async function impostorThenRelay(channel: PacketChannel, relay: dgram.Socket, fake: dgram.Socket, client: Endpoint): Promise<string[]> {
    const delivered: string[] = [];
    const relayed = new Promise<void>((resolve) =>
      channel.setReceiver({
        onPacket: (data) => {
          delivered.push(data.toString());
          if (data.toString() === 'from relay') resolve();
        },
        onClose: () => undefined,
      }),
    );
    const frame = (text: string): Buffer => encodeUdpFrame({ address: '203.0.113.5', port: 53 }, Buffer.from(text));
    await new Promise((r) => fake.send(frame('from impostor'), client.port, client.address, r));
    // Loopback delivers in send order: once the relay's datagram is in, the impostor's was seen first.
    await new Promise((r) => relay.send(frame('from relay'), client.port, client.address, r));
    await relayed;
    return delivered;
  }

  for (const [name, reply] of [
    ['a wildcard (0.0.0.0): only from the server\'s own address', (port: number) => associateReply([0, 0, 0, 0], port)],
    ['a host name: resolved once at ASSOCIATE, then only from that address', (port: number) => Buffer.from([5, 0, 0, 3, 9, ...Buffer.from('localhost'), port >> 8, port & 255])],
    ['a concrete address: only from that address', (port: number) => associateReply([127, 0, 0, 1], port)],
  ] as const) {
    it(`accepts datagrams from the relay the server named, by address and port, for ${name}`, async () => {
      const relay = await fakeRelay();
      const fake = await impostor(relay.port);
      const srv = await scriptedServer([Buffer.from([5, 0]), reply(relay.port)]);
      const channel = (await makeSocks({ server: '127.0.0.1', port: srv.port }).dialUdp!(flowCtx(undefined, 'udp'))) as SocksUdpChannel;
      try {
        assert.deepEqual(channel.relay, { address: '127.0.0.1', port: relay.port }, 'an IP, fixed for the session');
        const arrived = relay.next();
        channel.send(Buffer.from('q'), { address: '203.0.113.5', port: 53 });
        const client = await arrived;
        assert.deepEqual(await impostorThenRelay(channel, relay.sock, fake, client), ['from relay']);
        assert.equal(channel.stats.dropped, 1);
      } finally {
        channel.close();
        fake.close();
        relay.sock.close();
        await srv.close();
      }
    });
  }

  it('fails the dial when the relay\'s name does not resolve', async () => {
    const srv = await scriptedServer([Buffer.from([5, 0]), Buffer.from([5, 0, 0, 3, 20, ...Buffer.from('no-such-host.invalid'), 0, 99])]);
    await assert.rejects(makeSocks({ server: '127.0.0.1', port: srv.port }).dialUdp!(flowCtx(undefined, 'udp')), (err: Error & { code?: string }) => {
      assert.equal(err.code, ErrorCode.DIAL);
      assert.match(err.message, /^socks: cannot resolve UDP relay "no-such-host\.invalid" \(E[A-Z_]+\)$/);
      return true;
    });
    await srv.clientClosed; // the control connection is not left open
    await srv.close();
  });

  it('a control connection that closes right after the reply still reaches the receiver', async () => {
    const relay = await fakeRelay();
    const srv = await scriptedServer([Buffer.from([5, 0]), { end: associateReply([127, 0, 0, 1], relay.port) }]);
    const channel = await makeSocks({ server: '127.0.0.1', port: srv.port }).dialUdp!(flowCtx(undefined, 'udp'));
    await new Promise((r) => setTimeout(r, 50)); // the FIN has been seen before anyone listens
    await assert.rejects(nextPacket(channel, 1000), { message: 'socks: udp control connection closed' });
    await srv.close();
    relay.sock.close();
  });

  it('fails ASSOCIATE errors like CONNECT errors, and refuses UDP when disabled', async () => {
    const srv = await scriptedServer([Buffer.from([5, 0]), Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0])]);
    await assert.rejects(makeSocks({ server: '127.0.0.1', port: srv.port }).dialUdp!(flowCtx()), {
      message: 'socks: command not supported (reply 7)',
      code: ErrorCode.DIAL,
    });
    await srv.close();
    const off = makeSocks({ server: '127.0.0.1', port: 1, udp: false });
    assert.deepEqual(off.networks, ['tcp']);
    assert.equal(off.dialUdp, undefined);
    const tcpOnly = { ...testDirect('t'), networks: ['tcp'] as const, dialUdp: undefined };
    assert.deepEqual(makeSocks({ server: '127.0.0.1', port: 1, via: 't' }, { t: tcpOnly }).networks, ['tcp']);
  });
});
