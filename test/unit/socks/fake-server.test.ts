import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import { Duplex } from 'node:stream';
import { ErrorCode, isSluiceError, type Outbound } from '@sluice/core';
import { flowCtx, makeSocks, scriptedServer, testDirect, type Step } from './helpers';

/** A Duplex that is not a net.Socket, as a third-party `via` might return (a TLS or WebSocket tunnel, say). */
class Wrapped extends Duplex {
  constructor(private readonly inner: net.Socket) {
    super();
    inner.on('data', (d: Buffer) => {
      if (!this.push(d)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (e) => this.destroy(e));
  }
  override _read(): void {
    this.inner.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, cb);
  }
  override _final(cb: () => void): void {
    this.inner.end(cb);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}

const OK_V4 = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38]);
const NOAUTH = Buffer.from([5, 0]);
const DST = { address: '192.0.2.10', port: 80 };

/** Dials through a scripted server and returns the error it fails with. */
async function failure(steps: Step[], raw: Record<string, unknown> = {}, dst = DST): Promise<{ message: string; code: string }> {
  const srv = await scriptedServer(steps);
  try {
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port, handshake_timeout_ms: 300, ...raw }).dialTcp(dst, flowCtx(dst));
    s.destroy();
    assert.fail('dial succeeded');
  } catch (err) {
    assert.ok(isSluiceError(err), `not a SluiceError: ${String(err)}`);
    return { message: err.message, code: err.code };
  } finally {
    await srv.close();
  }
}

function readAll(s: Duplex, n: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= n) resolve(got);
    });
  });
}

describe('socks handshake against a scripted server', () => {
  it('sends IPv4 CONNECT without auth and hands over the stream', async () => {
    const srv = await scriptedServer([NOAUTH, Buffer.concat([OK_V4, Buffer.from('banner')])]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port }).dialTcp(DST, flowCtx());
    // Attach late: bytes that came with the reply must still be there.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await readAll(s, 6), 'banner');
    assert.deepEqual(srv.received[0], Buffer.from([5, 1, 0]));
    assert.deepEqual(srv.received[1], Buffer.from([5, 1, 0, 1, 192, 0, 2, 10, 0, 80]));
    s.destroy();
    await srv.close();
  });

  it('runs over any Duplex a via returns, not only net.Socket', async () => {
    const srv = await scriptedServer([NOAUTH, Buffer.concat([OK_V4, Buffer.from('over-wrapped')])]);
    const direct = testDirect();
    const wrapping: Outbound = { ...direct, tag: 'wrap', dialTcp: async (d, ctx) => new Wrapped((await direct.dialTcp(d, ctx)) as net.Socket) };
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port, via: 'wrap' }, { wrap: wrapping }).dialTcp(DST, flowCtx());
    assert.ok(s instanceof Wrapped);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await readAll(s, 12), 'over-wrapped');
    s.destroy();
    await srv.close();
  });

  it('sends the host name when the flow has one', async () => {
    const srv = await scriptedServer([NOAUTH, OK_V4]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port }).dialTcp({ ...DST, host: 'example.org' }, flowCtx());
    assert.deepEqual(srv.received[1], Buffer.concat([Buffer.from([5, 1, 0, 3, 11]), Buffer.from('example.org'), Buffer.from([0, 80])]));
    s.destroy();
    await srv.close();
  });

  it('sends IPv6 destinations as ATYP 4 and accepts an IPv6 or name reply', async () => {
    const v6reply = Buffer.from([5, 0, 0, 4, ...Array(15).fill(0), 1, 0, 1]);
    const srv = await scriptedServer([NOAUTH, v6reply]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port }).dialTcp({ address: '2001:db8::2', port: 443 }, flowCtx());
    assert.deepEqual(srv.received[1], Buffer.from([5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2, 1, 0xbb]));
    s.destroy();
    await srv.close();
    const nameReply = Buffer.from([5, 0, 0, 3, 4, 104, 111, 115, 116, 0, 1]);
    const srv2 = await scriptedServer([NOAUTH, Buffer.concat([nameReply, Buffer.from('x')])]);
    const s2 = await makeSocks({ server: '127.0.0.1', port: srv2.port }).dialTcp(DST, flowCtx());
    assert.equal(await readAll(s2, 1), 'x');
    s2.destroy();
    await srv2.close();
  });

  it('authenticates with RFC 1929', async () => {
    const srv = await scriptedServer([Buffer.from([5, 2]), Buffer.from([1, 0]), OK_V4]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port, username: 'alice', password: 's3cret' }).dialTcp(DST, flowCtx());
    assert.deepEqual(srv.received[0], Buffer.from([5, 2, 0, 2]));
    assert.deepEqual(srv.received[1], Buffer.concat([Buffer.from([1, 5]), Buffer.from('alice'), Buffer.from([6]), Buffer.from('s3cret')]));
    s.destroy();
    await srv.close();
  });

  it('maps a rejected password to "socks: auth rejected" without leaking it', async () => {
    const f = await failure([Buffer.from([5, 2]), Buffer.from([1, 1])], { username: 'alice', password: 'hunter2' });
    assert.equal(f.message, 'socks: auth rejected');
    assert.equal(f.code, ErrorCode.UPSTREAM);
    assert.ok(!f.message.includes('hunter2') && !f.message.includes('alice'));
  });

  it('maps "no acceptable methods" to auth rejected', async () => {
    assert.equal((await failure([Buffer.from([5, 0xff])])).message, 'socks: auth rejected');
  });

  it('maps reply 4 and 5', async () => {
    const reply = (rep: number): Buffer => Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]);
    const f4 = await failure([NOAUTH, reply(4)]);
    assert.equal(f4.message, 'socks: host unreachable (reply 4)');
    assert.equal(f4.code, ErrorCode.DIAL);
    assert.equal((await failure([NOAUTH, reply(5)])).message, 'socks: connection refused (reply 5)');
    assert.equal((await failure([NOAUTH, reply(2)])).message, 'socks: connection not allowed by ruleset (reply 2)');
    assert.equal((await failure([NOAUTH, reply(77)])).message, 'socks: unknown failure (reply 77)');
  });

  const malformed: [string, Step[], Record<string, unknown>?][] = [
    ['a wrong version in the method reply', [Buffer.from([4, 0])]],
    ['a wrong version in the final reply', [NOAUTH, Buffer.from([4, 0, 0, 1, 0, 0, 0, 0, 0, 0])]],
    ['an unknown address type', [NOAUTH, Buffer.from([5, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8])]],
    ['a method that was not offered', [Buffer.from([5, 2])]],
    ['an HTTP answer', [Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')]],
    ['a garbage auth reply', [Buffer.from([5, 2]), Buffer.from([9, 0])], { username: 'u', password: 'p' }],
  ];
  for (const [name, steps, raw] of malformed) {
    it(`reports ${name} as a malformed reply`, async () => {
      const f = await failure(steps, raw);
      assert.equal(f.message, 'socks: malformed reply');
      assert.equal(f.code, ErrorCode.UPSTREAM);
    });
  }

  it('reports a truncated reply followed by FIN as closed during handshake', async () => {
    assert.equal((await failure([NOAUTH, { end: Buffer.from([5, 0, 0, 1, 127]) }])).message, 'socks: upstream closed during handshake');
    assert.equal((await failure([NOAUTH, 'end'])).message, 'socks: upstream closed during handshake');
    assert.equal((await failure(['end'])).message, 'socks: upstream closed during handshake');
  });

  it('times out a silent server, and one that stops mid-reply', async () => {
    const silent = await failure(['hang']);
    assert.equal(silent.message, 'socks: handshake timeout');
    assert.equal(silent.code, ErrorCode.DIAL_TIMEOUT);
    const partial = await failure([NOAUTH, Buffer.from([5, 0, 0, 1, 127])]);
    assert.equal(partial.message, 'socks: handshake timeout');
  });

  it('stops when the flow is aborted', async () => {
    const srv = await scriptedServer(['hang']);
    const ctx = flowCtx();
    const dial = makeSocks({ server: '127.0.0.1', port: srv.port }).dialTcp(DST, ctx);
    setTimeout(() => ctx.ac.abort(), 50);
    // The abort's own message, not the handshake timeout's: the abort ended it.
    await assert.rejects(dial, { message: 'socks: dial aborted' });
    await srv.close();
  });

  it('speaks SOCKS4 with a USERID', async () => {
    const srv = await scriptedServer([Buffer.from([0, 90, 0, 0, 0, 0, 0, 0, 0x41])]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port, version: 4, username: 'bob' }).dialTcp({ ...DST, host: 'ignored.example' }, flowCtx());
    assert.deepEqual(srv.received[0], Buffer.from([4, 1, 0, 80, 192, 0, 2, 10, 98, 111, 98, 0]));
    assert.equal(await readAll(s, 1), 'A');
    s.destroy();
    await srv.close();
  });

  it('speaks SOCKS4a with a host name', async () => {
    const srv = await scriptedServer([Buffer.from([0, 90, 0, 0, 0, 0, 0, 0])]);
    const s = await makeSocks({ server: '127.0.0.1', port: srv.port, version: '4a' }).dialTcp({ ...DST, host: 'a.example' }, flowCtx());
    assert.deepEqual(srv.received[0], Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 1, 0]), Buffer.from('a.example'), Buffer.from([0])]));
    s.destroy();
    await srv.close();
  });

  it('maps SOCKS4 rejections and refuses IPv6 over SOCKS4', async () => {
    assert.equal((await failure([Buffer.from([0, 91, 0, 0, 0, 0, 0, 0])], { version: 4 })).message, 'socks: request rejected or failed (socks4 reply 91)');
    assert.equal((await failure([Buffer.from([7, 90, 0, 0, 0, 0, 0, 0])], { version: 4 })).message, 'socks: malformed reply');
    const v6 = { address: '2001:db8::1', port: 80 };
    assert.equal((await failure([], { version: 4 }, v6)).message, 'socks: SOCKS4 cannot reach IPv6 addresses');
    assert.equal((await failure([], { version: 4 }, { ...DST, address: 'name.example' })).message, 'socks: SOCKS4 cannot reach host names');
  });

  it('reports a closed port as a connect failure', async () => {
    const srv = await scriptedServer([]);
    const port = srv.port;
    await srv.close();
    await assert.rejects(makeSocks({ server: '127.0.0.1', port }).dialTcp(DST, flowCtx()), {
      message: 'socks: connect to server failed (ECONNREFUSED)',
      code: ErrorCode.DIAL,
    });
    // The same through a via that rejects with a plain errno error.
    await assert.rejects(makeSocks({ server: '127.0.0.1', port, via: 'direct' }, { direct: testDirect() }).dialTcp(DST, flowCtx()), {
      message: 'socks: connect to server failed (ECONNREFUSED)',
    });
  });

  it('bounds a via that never answers by connect_timeout_ms', async () => {
    const stuck: Outbound = {
      type: 'stuck',
      tag: 'stuck',
      networks: ['tcp'],
      dialTcp: () => new Promise(() => undefined), // ignores its signal on purpose
      close: async () => undefined,
    };
    // The outbound's own timeout ends it, although its `via` never settles.
    await assert.rejects(makeSocks({ server: '127.0.0.1', port: 1, via: 'stuck', connect_timeout_ms: 200 }, { stuck }).dialTcp(DST, flowCtx()), {
      message: 'socks: connect timeout',
      code: ErrorCode.DIAL_TIMEOUT,
    });
  });
});
