import { strict as assert } from 'node:assert';
import { isSluiceError } from '@sluice/core';
import { MAX_RESPONSE_HEAD, exchange } from 'sluice-plugin-http-connect';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';
import { buffered, serverStream } from './fake-stream';

/*
 * The HTTP CONNECT proxy's response head, as the example plugin reads it:
 * whatever the proxy sends, `exchange` resolves (2xx) or rejects with an
 * `http-connect: ...` SluiceError, and on success leaves exactly the bytes
 * after the head in the stream.
 */

const STATUS_LINES = [
  'HTTP/1.1 200 Connection established',
  'HTTP/1.0 200 OK',
  'HTTP/1.1 200',
  'HTTP/1.1 204 No Content',
  'HTTP/1.1 299 Odd',
  'HTTP/1.1 407 Proxy Authentication Required',
  'HTTP/1.1 403 Forbidden',
  'HTTP/1.1 101 Switching Protocols',
  'HTTP/1.1 502 Bad Gateway',
  'HTTP/2 200',
  'HTTP/1.1 2000 x',
  'http/1.1 200 ok',
  'HTTP/1.1  200',
  'SSH-2.0-OpenSSH_9.2',
  '',
];

function header(rng: Prng): string {
  if (rng.chance(0.01)) return `X-Big: ${'a'.repeat(rng.range(MAX_RESPONSE_HEAD - 100, MAX_RESPONSE_HEAD + 100))}`;
  return rng.pick(['Content-Length: 0', 'Proxy-Agent: fuzz', 'Via: 1.1 x', `X-${rng.int(1000)}: ${rng.bytes(rng.size(20)).toString('latin1')}`]);
}

/** Where `exchange` should stop reading: just after the first CRLFCRLF, when the head is within the limit. */
function expected(bytes: Buffer): { ok: boolean; rest: Buffer } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1 || end + 4 > MAX_RESPONSE_HEAD) return undefined;
  const line = bytes.toString('latin1', 0, bytes.indexOf('\r\n'));
  const m = /^HTTP\/1\.[01] ([1-5]\d\d)(?: |$)/.exec(line);
  return { ok: m !== null && m[1].startsWith('2'), rest: bytes.subarray(end + 4) };
}

describe('fuzz: http-connect response head', () => {
  it('resolves on 2xx leaving exactly the bytes after the head, or rejects with an http-connect error', async function () {
    this.timeout(fuzzTimeoutMs());
    const live = new AbortController().signal;
    const gone = AbortSignal.abort(new Error('gone'));
    await runFuzz({
      name: 'http-connect response',
      generate: (rng) => {
        let bytes: Buffer;
        if (rng.chance(0.1)) bytes = rng.bytes(rng.size(200));
        else {
          const eol = rng.chance(0.9) ? '\r\n' : rng.pick(['\n', '\r', '\r\r\n']);
          const lines = [rng.pick(STATUS_LINES), ...Array.from({ length: rng.size(8) }, () => header(rng))];
          const end = rng.chance(0.9) ? '\r\n\r\n' : rng.pick(['\n\n', '\r\n', '']);
          bytes = Buffer.concat([Buffer.from(lines.join(eol) + end, 'latin1'), rng.bytes(rng.size(64))]);
          if (rng.chance(0.2) && bytes.length > 0) bytes[rng.int(bytes.length)] = rng.int(256);
          if (rng.chance(0.1)) bytes = bytes.subarray(0, rng.int(bytes.length + 1));
        }
        // Now and then byte by byte: a slow proxy must not make the reader quadratic.
        const cuts = rng.chance(0.01) ? Array.from({ length: bytes.length }, (_, i) => i) : Array.from({ length: rng.size(8) }, () => rng.int(bytes.length + 1));
        return { bytes, cuts, aborted: rng.chance(0.02) };
      },
      check: async ({ bytes, cuts, aborted }) => {
        const stream = serverStream(bytes, cuts, true);
        const want = aborted ? undefined : expected(bytes);
        try {
          await exchange(stream, 'CONNECT example.test:443 HTTP/1.1\r\n\r\n', aborted ? gone : live);
        } catch (err) {
          if (aborted) return assert.equal(err, gone.reason);
          if (!isSluiceError(err) || !err.message.startsWith('http-connect: ')) throw err;
          assert.ok(!want?.ok, `rejected a good head: ${err.message}`);
          return;
        }
        assert.ok(want?.ok, 'accepted a head that is not a 2xx');
        assert.deepEqual(buffered(stream), want.rest);
      },
    });
  });
});
