import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import pino from 'pino';
import { isConfigError, isTcpFdDialer, isUdpFdDialer, parseOutboundOptions, type FlowContext, type FlowMetadata } from '@sluice/core';
import { DirectOutbound, UdpSocketChannel, directOutbound, plugin, type DirectOptions } from '@sluice/plugin-direct';
import { native } from '@sluice/native';
import { waitFor } from '../../helpers/wait';

/** A config entry validated as core does (`tag` and `type` are core's, stripped before the schema). */
const parseDirectOptions = (raw: Record<string, unknown>, path: string): DirectOptions => parseOutboundOptions(directOutbound, raw, path);

function ctx(over: Partial<FlowMetadata> = {}): FlowContext & { controller: AbortController } {
  const controller = new AbortController();
  const flow: FlowMetadata = { id: 'x', network: 'tcp', inbound: 'in', src: { address: '127.0.0.1', port: 1 }, dst: { address: '127.0.0.1', port: 2 }, ...over };
  return { flow, logger: pino({ level: 'silent' }), signal: controller.signal, controller };
}

describe('plugin-direct options', () => {
  it('accepts the contract keys, with hex marks', () => {
    const o = parseDirectOptions({ tag: 'direct', type: 'direct', mark: 2, interface: 'eth0', local_address: ['10.0.0.1', '2001:db8::1'] }, 'outbounds[0]');
    assert.equal(o.mark, 2);
    assert.equal(parseDirectOptions({ tag: 'd', type: 'direct', mark: '0xff' }, 'o').mark, 255);
    assert.deepEqual(parseDirectOptions({ tag: 'd', type: 'direct', local_address: '10.0.0.1' }, 'o').local_address, ['10.0.0.1']);
  });

  it('is the plugin\'s one outbound type, and offers both fd fast paths', () => {
    assert.deepEqual(plugin.outbounds, [directOutbound]);
    const o = directOutbound.create(parseDirectOptions({}, 'o'), { tag: 'd', logger: pino({ level: 'silent' }), resolve: () => assert.fail('no via'), service: () => assert.fail('no services') });
    assert.equal(o.tag, 'd');
    assert.ok(isTcpFdDialer(o) && isUdpFdDialer(o));
  });

  for (const [raw, pathRe] of [
    [{ mark: -1 }, /outbounds\[0\]\.mark/],
    [{ mark: 'abc' }, /outbounds\[0\]\.mark: must be a number or a hex string/],
    [{ local_address: 'not-an-ip' }, /"not-an-ip" is not an IP address/],
    [{ interface: 'a-very-long-interface-name' }, /at most 15 characters/],
    [{ connect_timeout_ms: 0 }, /outbounds\[0\]\.connect_timeout_ms: must be 1 or more/],
    [{ bogus: 1 }, /outbounds\[0\]\.bogus: unknown key "bogus"/],
  ] as const) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parseDirectOptions({ tag: 'd', type: 'direct', ...raw }, 'outbounds[0]'), (e: unknown) => isConfigError(e) && pathRe.test(e.message));
    });
  }
});

describe('DirectOutbound', () => {
  let server: net.Server;
  let port: number;
  before(async () => {
    server = net.createServer((s) => s.end('hello from server'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => server.close());

  async function readAll(s: NodeJS.ReadableStream): Promise<string> {
    let out = '';
    for await (const c of s) out += String(c);
    return out;
  }

  it('dials TCP with plain Node sockets when no socket option is needed', async () => {
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct' }, 'o'), native);
    const s = await o.dialTcp({ address: '127.0.0.1', port }, ctx());
    assert.equal(await readAll(s), 'hello from server');
  });

  it('dials TCP through a native socket carrying SO_MARK', async () => {
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', mark: 0x2 }, 'o'), native);
    const s = await o.dialTcp({ address: '127.0.0.1', port }, ctx());
    assert.equal(await readAll(s), 'hello from server');
  });

  it('rejects with ECONNREFUSED for a closed port, and with the abort reason when aborted', async () => {
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', mark: 2 }, 'o'), native);
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as net.AddressInfo).port;
    closed.close();
    await assert.rejects(o.dialTcp({ address: '127.0.0.1', port: deadPort }, ctx()), {
      code: 'SLUICE_ERR_DIAL',
      message: `direct: connect to 127.0.0.1:${deadPort} failed (ECONNREFUSED)`,
    });
    const c = ctx();
    c.controller.abort(new Error('gone'));
    await assert.rejects(o.dialTcp({ address: '127.0.0.1', port }, c), /gone/);
  });

  it('gives up after its own connect_timeout_ms on both dial paths', async () => {
    // A listener nobody accepts from, with a full backlog: further SYNs are dropped, so a connect hangs.
    const n = native();
    const lfd = n.openTransparentListener({ address: '127.0.0.1', port: 0, backlog: 1 });
    const lport = n.localAddress(lfd).port;
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 4; i++) fillers.push(net.connect({ port: lport, host: '127.0.0.1' }).on('error', () => {}));
    await new Promise((r) => setTimeout(r, 100));
    try {
      const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', mark: 2, connect_timeout_ms: 200 }, 'o'), native);
      for (const dial of [() => o.dialTcp({ address: '127.0.0.1', port: lport }, ctx()), () => o.dialTcpFd({ address: '127.0.0.1', port: lport }, ctx())]) {
        // The message names the outbound's own 200 ms, so its timer (not the test's 60 s, not core's) fired.
        await assert.rejects(dial(), { code: 'SLUICE_ERR_DIAL_TIMEOUT', message: `direct: connect to 127.0.0.1:${lport} timed out after 200 ms` });
      }
    } finally {
      fillers.forEach((f) => f.destroy());
      n.closeFd(lfd);
    }
  });

  it('resolves a host name given as the address (a named server in a chain)', async () => {
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', mark: 2 }, 'o'), native);
    const s = await o.dialTcp({ address: 'localhost', host: 'localhost', port }, ctx());
    assert.equal(await readAll(s), 'hello from server');
    await assert.rejects(o.dialTcp({ address: 'no-such-host.invalid', port }, ctx()), /direct: cannot resolve "no-such-host.invalid"/);
  });

  it('keeps a UDP session connected to its destination, and disconnects when asked to send elsewhere', async () => {
    const echoes = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const e = dgram.createSocket('udp4');
        e.on('message', (m, r) => e.send(Buffer.from(`${name}:${m.toString()}`), r.port, r.address));
        await new Promise<void>((r) => e.bind(0, '127.0.0.1', r));
        return e;
      }),
    );
    const [a, b] = echoes.map((e) => ({ address: '127.0.0.1', port: e.address().port }));
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct' }, 'o'), native);
    const ch = await o.dialUdp(ctx({ network: 'udp', dst: a }));
    const got: string[] = [];
    ch.setReceiver({ onPacket: (d) => got.push(d.toString()), onClose: () => {} });
    ch.send(Buffer.from('1'), a);
    await new Promise((r) => setTimeout(r, 50));
    ch.send(Buffer.from('2'), b);
    ch.send(Buffer.from('3'), a);
    const deadline = Date.now() + 2000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got.sort(), ['a:1', 'a:3', 'b:2']);
    ch.close();
    echoes.forEach((e) => e.close());
  });

  for (const mark of [undefined, 2]) {
    it(`carries UDP both ways${mark ? ' with a mark' : ''}`, async () => {
      const echo = dgram.createSocket('udp4');
      echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
      await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
      const ePort = echo.address().port;
      const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', ...(mark ? { mark } : {}) }, 'o'), native);
      const ch = await o.dialUdp(ctx({ network: 'udp', dst: { address: '127.0.0.1', port: ePort } }));
      const got = new Promise<{ data: string; from: string }>((resolve) =>
        ch.setReceiver({ onPacket: (d, from) => resolve({ data: d.toString(), from: `${from.address}:${from.port}` }), onClose: () => {} }),
      );
      ch.send(Buffer.from('ping'), { address: '127.0.0.1', port: ePort });
      assert.deepEqual(await got, { data: 're:ping', from: `127.0.0.1:${ePort}` });
      ch.close();
      ch.close();
      echo.close();
    });
  }

  for (const mark of [undefined, 2]) {
    it(`dialUdp: a connect error rejects with SLUICE_ERR_DIAL and its errno, and closes the socket${mark ? ' (native socket)' : ''}`, async () => {
      const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', ...(mark ? { mark } : {}) }, 'o'), native);
      const fdsBefore = openFds();
      // connect() to the broadcast address without SO_BROADCAST fails with EACCES, on any host, without root.
      await assert.rejects(o.dialUdp(ctx({ network: 'udp', dst: { address: '255.255.255.255', port: 9 } })), {
        code: 'SLUICE_ERR_DIAL',
        message: 'direct: connect to 255.255.255.255:9 failed (EACCES)',
      });
      await assert.rejects(o.dialUdp(ctx({ network: 'udp', dst: { address: '127.0.0.1', port: 0 } })), {
        code: 'SLUICE_ERR_DIAL',
        message: 'direct: connect to 127.0.0.1:0 failed (ERR_SOCKET_BAD_PORT)',
      });
      await waitFor('the fds back to the baseline', () => openFds() === fdsBefore);
    });
  }

  it('UdpSocketChannel.send never throws: a datagram that cannot be sent is dropped and counted', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const dst = { address: '127.0.0.1', port: echo.address().port };
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct' }, 'o'), native);
    const ch = (await o.dialUdp(ctx({ network: 'udp', dst }))) as UdpSocketChannel;
    const got: string[] = [];
    ch.setReceiver({ onPacket: (d) => got.push(d.toString()), onClose: () => {} });
    try {
      ch.send(Buffer.from('bad port'), { address: '127.0.0.1', port: 0 }); // Node throws ERR_SOCKET_BAD_PORT at once
      ch.send(Buffer.from('bad address'), { address: 'not an address', port: 9 }); // a failed lookup, reported later
      ch.send(Buffer.alloc(70_000), dst); // EMSGSIZE, reported later
      ch.send(Buffer.from('still works'), dst);
      await waitFor('the datagram after three drops', () => got.includes('still works') && ch.stats.dropped === 3);
      assert.deepEqual(ch.stats, { sent: 1, dropped: 3 });
    } finally {
      ch.close();
      echo.close();
    }
    ch.send(Buffer.from('after close'), dst); // a closed channel drops quietly too
    assert.deepEqual(ch.stats, { sent: 1, dropped: 3 });
  });

  for (const host of ['127.0.0.1', '::1']) {
    it(`UdpSocketChannel: ICMP port unreachable from the remote (${host}) closes the channel and reports SLUICE_ERR_UPSTREAM through onClose, once`, async () => {
      // A port that was free a moment ago: the kernel answers datagrams to it with ICMP port unreachable.
      const probe = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((r) => probe.bind(0, host, r));
      const dst = { address: host, port: probe.address().port };
      await new Promise<void>((r) => probe.close(() => r()));
      const fdsBefore = openFds();
      const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct' }, 'o'), native);
      const ch = (await o.dialUdp(ctx({ network: 'udp', dst }))) as UdpSocketChannel;
      const closes: (Error | undefined)[] = [];
      ch.setReceiver({ onPacket: () => assert.fail('no reply can come from a closed port'), onClose: (err) => closes.push(err) });
      ch.send(Buffer.from('first'), dst);
      // The refusal of the first datagram is reported on a later receive or send; keep sending until it is.
      await waitFor('the channel to report the refusal', () => {
        ch.send(Buffer.from('again'), dst);
        return closes.length > 0;
      });
      ch.send(Buffer.from('after the refusal'), dst); // a closed channel drops quietly
      await new Promise<void>((r) => setImmediate(r));
      assert.equal(closes.length, 1, 'onClose is called once');
      assert.equal((closes[0] as { code?: string }).code, 'SLUICE_ERR_UPSTREAM');
      assert.equal(closes[0]!.message, 'upstream: ECONNREFUSED (port unreachable)');
      ch.close(); // idempotent after closing itself
      await waitFor('the channel\'s socket closed', () => openFds() === fdsBefore);
    });
  }

  it('dialUdpFd: a socket connected to the session\'s destination, from local_address, errors as SLUICE_ERR_DIAL', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const ePort = echo.address().port;
    const o = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', mark: 2, local_address: ['127.0.0.5'] }, 'o'), native);
    const fd = await o.dialUdpFd(ctx({ network: 'udp', dst: { address: '127.0.0.1', port: ePort } }));
    try {
      const from = new Promise<dgram.RemoteInfo>((resolve) => echo.once('message', (_m, r) => resolve(r)));
      // write() on a connected UDP socket sends one datagram to its peer.
      fs.writeSync(fd, 'ping');
      const r = await from;
      assert.equal(r.address, '127.0.0.5');
      assert.equal(r.port, native().localAddress(fd).port);
      // readSync throws EAGAIN until the reply is there: waitFor polls on.
      await waitFor('the 7-byte reply', () => fs.readSync(fd, Buffer.alloc(64)) === 7);
    } finally {
      native().closeFd(fd);
      echo.close();
    }
    const badIf = new DirectOutbound('d', parseDirectOptions({ tag: 'd', type: 'direct', interface: 'nosuchif0' }, 'o'), native);
    await assert.rejects(badIf.dialUdpFd(ctx({ network: 'udp', dst: { address: '127.0.0.1', port: ePort } })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SLUICE_ERR_DIAL');
      assert.match(err.message, /direct: connect to 127\.0\.0\.1:\d+ failed \(ENODEV\)/);
      return true;
    });
  });
});

/** This process's open file descriptors. */
function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
