import { strict as assert } from 'node:assert';
import { isIP } from 'node:net';
import { isSluiceError } from '@sluice/core';
import {
  checkAuthReply,
  decodeUdpFrame,
  encodeUdpFrame,
  handshake,
  parseMethodChoice,
  parseSocks4Reply,
  parseSocks5Reply,
  type HandshakeRequest,
} from '@sluice/plugin-socks';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';
import { buffered, serverStream } from './fake-stream';
import { expectedFrame } from './udp-frame-oracle';

/*
 * Bytes a SOCKS server (or anyone on the path) sends us: the handshake
 * replies and the UDP relay's frames. Whatever arrives, the parsers return or
 * throw a SluiceError (`socks: ...`), and the stream reader takes exactly the
 * reply's bytes.
 */

/** The only failure a parser may report: a SluiceError of this plugin. */
function assertSocksError(err: unknown): void {
  if (!isSluiceError(err) || !err.message.startsWith('socks: ')) throw err;
}

/** A SOCKS5 reply header and address, mostly well-formed, then anything. */
function socks5Reply(rng: Prng): Buffer {
  const atyp = rng.pick([1, 1, 3, 3, 4, 4, 0, 2, 5, 255, rng.int(256)]);
  const header = [rng.chance(0.9) ? 5 : rng.int(256), rng.chance(0.8) ? 0 : rng.int(256), rng.int(256), atyp];
  const addr = atyp === 1 ? rng.bytes(4) : atyp === 4 ? rng.bytes(16) : atyp === 3 ? Buffer.concat([Buffer.from([rng.size(255)]), rng.bytes(rng.size(255))]) : rng.bytes(rng.size(20));
  return Buffer.concat([Buffer.from(header), addr, rng.bytes(2), rng.bytes(rng.size(8))]);
}

/** `bytes` cut short, a byte changed, or as they are. */
function mutate(rng: Prng, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  if (out.length > 0 && rng.chance(0.2)) out[rng.int(out.length)] = rng.int(256);
  return rng.chance(0.2) ? out.subarray(0, rng.int(out.length + 1)) : out;
}

describe('fuzz: socks', () => {
  it('SOCKS5 reply parser: returns, asks for more (and only more), or throws a socks error; at most 3 steps', async function () {
    this.timeout(fuzzTimeoutMs());
    await runFuzz({
      name: 'socks5 reply',
      generate: (rng) => (rng.chance(0.1) ? rng.bytes(rng.size(40)) : mutate(rng, socks5Reply(rng))),
      check: (bytes) => {
        // As handshake reads it: the header, then what each step says the reply needs.
        let view = bytes.subarray(0, Math.min(4, bytes.length));
        for (let step = 1; ; step++) {
          assert.ok(step <= 3, 'more than 3 reads for one reply');
          let progress;
          try {
            progress = parseSocks5Reply(view);
          } catch (err) {
            return assertSocksError(err);
          }
          if ('bound' in progress) {
            const { address, port } = progress.bound;
            assert.ok(Number.isInteger(port) && port >= 0 && port <= 0xffff);
            if (bytes[3] !== 3) assert.notEqual(isIP(address), 0, address);
            // Bytes past the reply change nothing.
            assert.deepEqual(parseSocks5Reply(bytes), progress);
            return;
          }
          assert.ok(progress.need > view.length, `asked for ${progress.need} bytes with ${view.length} in hand`);
          if (progress.need > bytes.length) return; // truncated: handshake would wait for the rest
          view = bytes.subarray(0, progress.need);
        }
      },
    });
  });

  it('method choice, auth reply and SOCKS4 reply: return or throw a socks error', async function () {
    this.timeout(fuzzTimeoutMs());
    const parsers = [
      (b: Buffer) => void parseMethodChoice(b, false),
      (b: Buffer) => void parseMethodChoice(b, true),
      (b: Buffer) => checkAuthReply(b),
      (b: Buffer) => assert.notEqual(isIP(parseSocks4Reply(b).address), 0),
    ];
    await runFuzz({
      name: 'socks method/auth/socks4 replies',
      generate: (rng) => ({
        parser: rng.int(parsers.length),
        bytes: rng.chance(0.5) ? Buffer.from([rng.pick([0, 1, 4, 5, rng.int(256)]), rng.pick([0, 2, 90, 91, 255, rng.int(256)]), ...rng.bytes(rng.size(10))]) : rng.bytes(rng.size(12)),
      }),
      check: ({ parser, bytes }) => {
        try {
          parsers[parser](bytes);
        } catch (err) {
          assertSocksError(err);
        }
      },
    });
  });

  it('handshake over a stream: settles with the bound address or a socks error, and leaves exactly the bytes after the reply', async function () {
    this.timeout(fuzzTimeoutMs());
    const versions: HandshakeRequest['version'][] = [5, 5, 5, 4, '4a'];
    // Shared by every input: handshake only adds and removes its listener.
    const live = new AbortController().signal;
    const gone = AbortSignal.abort(new Error('gone'));
    await runFuzz({
      name: 'socks handshake',
      generate: (rng) => {
        const version = rng.pick(versions);
        const auth = version === 5 && rng.chance(0.3);
        const parts: Buffer[] = [];
        if (version === 5) {
          parts.push(Buffer.from([rng.chance(0.95) ? 5 : rng.int(256), auth ? rng.pick([2, 2, 0, 255]) : rng.pick([0, 0, 0, 2, 255])]));
          if (auth) parts.push(Buffer.from([rng.pick([1, 1, 5, rng.int(256)]), rng.chance(0.9) ? 0 : rng.int(256)]));
          parts.push(socks5Reply(rng));
        } else {
          parts.push(Buffer.from([rng.pick([0, 0, 4, rng.int(256)]), rng.chance(0.8) ? 90 : rng.int(256)]), rng.bytes(6), rng.bytes(rng.size(8)));
        }
        const bytes = mutate(rng, Buffer.concat(parts));
        const cuts = Array.from({ length: rng.size(6) }, () => rng.int(bytes.length + 1));
        return { version, auth, bytes, cuts, aborted: rng.chance(0.02) };
      },
      check: async ({ version, auth, bytes, cuts, aborted }) => {
        const stream = serverStream(bytes, cuts, true);
        const req: HandshakeRequest = {
          version,
          command: 'connect',
          host: version === 4 ? '192.0.2.1' : 'example.test',
          port: 443,
          ...(auth ? { username: 'u', password: 'p' } : {}),
        };
        let bound;
        try {
          bound = await handshake(stream, req, { timeoutMs: 60_000, signal: aborted ? gone : live });
        } catch (err) {
          return assertSocksError(err);
        }
        assert.ok(!aborted, 'an aborted handshake succeeded');
        // What the parsers say the reply took; the rest must still be in the stream, in order.
        let used: number;
        if (version === 5) {
          used = 2 + (parseMethodChoice(bytes, auth) === 'password' ? 2 : 0);
          const progress = parseSocks5Reply(bytes.subarray(used));
          assert.ok('bound' in progress);
          assert.deepEqual(bound, progress.bound);
          used += bytes[used + 3] === 1 ? 10 : bytes[used + 3] === 4 ? 22 : 7 + bytes[used + 4];
        } else {
          assert.deepEqual(bound, parseSocks4Reply(bytes));
          used = 8;
        }
        assert.deepEqual(buffered(stream), bytes.subarray(used));
      },
    });
  });

  it('UDP frame decoder: never throws, agrees with RFC 1928 §7, data is a view of the frame, and IP frames re-encode to themselves', async function () {
    this.timeout(fuzzTimeoutMs());
    await runFuzz({
      name: 'socks udp frame',
      generate: (rng) => {
        if (rng.chance(0.1)) return rng.bytes(rng.size(64));
        const atyp = rng.pick([1, 3, 4, rng.int(256)]);
        const addr = atyp === 1 ? rng.bytes(4) : atyp === 4 ? rng.bytes(16) : atyp === 3 ? Buffer.concat([Buffer.from([rng.size(255)]), rng.bytes(rng.size(255))]) : rng.bytes(rng.size(20));
        const frame = Buffer.concat([Buffer.from([0, 0, rng.chance(0.9) ? 0 : rng.int(256), atyp]), addr, rng.bytes(2), rng.bytes(rng.size(100))]);
        return mutate(rng, frame);
      },
      check: (frame) => {
        const got = decodeUdpFrame(frame);
        const want = expectedFrame(frame);
        if (!want.ok) return assert.deepEqual(got, want);
        assert.ok(got.ok, `dropped a good frame: ${got.ok ? '' : got.reason}`);
        assert.equal(got.from.port, frame.readUInt16BE(want.portAt));
        assert.equal(got.data.buffer, frame.buffer, 'data is a view, not a copy');
        assert.equal(got.data.byteOffset, frame.byteOffset + want.portAt + 2);
        assert.equal(got.data.length, frame.length - want.portAt - 2);
        const mapped = frame[3] === 4 && frame.subarray(4, 16).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]));
        if (frame[3] === 1 || (frame[3] === 4 && !mapped)) {
          // The receiver ignores RSV: compare with it zeroed.
          const same = Buffer.from(frame);
          same[0] = same[1] = 0;
          assert.deepEqual(encodeUdpFrame(got.from, got.data), same);
        }
      },
    });
  });
});
