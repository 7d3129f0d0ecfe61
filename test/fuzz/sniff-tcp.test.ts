import { strict as assert } from 'node:assert';
import { MAX_CLIENT_HELLO_BYTES, sniffHttp, sniffTls, type SniffOutcome } from '@sluice/core';
import { clientHello, inRecords, padding, type TlsExtension } from '../helpers/client-hello';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';

/*
 * The TCP sniffers read hostile bytes. Whatever arrives, in whatever pieces:
 * they never throw, answer only `found` (a clean lower-case name), `none` or
 * `more`, never change an answer once given as more bytes arrive (the flow
 * was routed on it), and, for well-formed input, find exactly the name that
 * was sent at the end and nothing before it.
 */

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';
const CLEAN_HOST = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

function name(rng: Prng): string {
  const labels = Array.from({ length: rng.range(1, 4) }, () => Array.from({ length: rng.range(1, 12) }, () => NAME_CHARS[rng.int(NAME_CHARS.length - 1)]).join(''));
  return labels.join('.');
}

/** What a clean sniffer must make of `sent`, or undefined when it is not a clean name. */
function expectedHost(sent: string): string | undefined {
  const h = sent.toLowerCase().replace(/\.$/, '');
  return h.length > 0 && h.length <= 253 && CLEAN_HOST.test(h) ? h : undefined;
}

/** Increasing cut points in [0, n], ending with n. */
function cuts(rng: Prng, n: number): number[] {
  if (rng.chance(0.002) && n < 2000) return Array.from({ length: n + 1 }, (_, i) => i);
  const set = new Set<number>([n]);
  for (let k = rng.size(10); k > 0; k--) set.add(rng.int(n + 1));
  return [...set].sort((a, b) => a - b);
}

function mutate(rng: Prng, bytes: Buffer): Buffer {
  let b = Buffer.from(bytes);
  for (let k = rng.range(1, 4); k > 0; k--) {
    const r = rng.int(4);
    if (r === 0 && b.length > 0) b[rng.int(b.length)] = rng.int(256);
    else if (r === 1) b = b.subarray(0, rng.int(b.length + 1));
    else if (r === 2) {
      const at = rng.int(b.length + 1);
      b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.size(8)), b.subarray(at)]);
    } else if (b.length > 0) b[rng.int(b.length)] ^= 1 << rng.int(8);
  }
  return b;
}

/** Runs `sniff` on every cut prefix: checks the invariants and returns the outcome at each cut. */
function sniffCuts(sniff: (b: Uint8Array) => SniffOutcome, bytes: Buffer, at: readonly number[]): SniffOutcome[] {
  const outcomes: SniffOutcome[] = [];
  let answer: SniffOutcome | undefined;
  for (const n of at) {
    const o = sniff(bytes.subarray(0, n));
    assert.ok(o.kind === 'found' || o.kind === 'none' || o.kind === 'more', `unknown outcome ${JSON.stringify(o)}`);
    if (o.kind === 'found') {
      assert.ok(o.host.length <= 253 && (CLEAN_HOST.test(o.host) || o.host.includes(':')), `unclean host ${JSON.stringify(o.host)}`);
    }
    if (answer !== undefined) assert.deepEqual(o, answer, `answer changed at ${n} bytes`);
    else if (o.kind !== 'more') answer = o;
    outcomes.push(o);
  }
  return outcomes;
}

function extension(rng: Prng): TlsExtension {
  if (rng.chance(0.01)) return padding(rng.pick([rng.int(3000), rng.range(15_000, 17_000), rng.range(MAX_CLIENT_HELLO_BYTES - 200, MAX_CLIENT_HELLO_BYTES + 200)]));
  // Any type but server_name (0): a random one before the real one is a malformed SNI, rightly `none`.
  return { type: rng.pick([10, 13, 16, 43, 45, 51, 0x0a0a, 0xfe0d, 1 + rng.int(0xffff)]), data: rng.bytes(rng.size(64)) };
}

describe('fuzz: TCP sniffers', () => {
  it('TLS: never throws, answers only once, and finds exactly the name of a well-formed ClientHello', async function () {
    this.timeout(fuzzTimeoutMs());
    await runFuzz({
      name: 'sniff tls',
      generate: (rng) => {
        if (rng.chance(0.1)) {
          const garbage = rng.bytes(rng.size(600));
          if (garbage.length > 0 && rng.chance(0.7)) garbage[0] = 0x16;
          if (garbage.length > 1 && rng.chance(0.7)) garbage[1] = 3;
          return { bytes: garbage, at: cuts(rng, garbage.length), sni: undefined, mutated: true };
        }
        const sni = rng.chance(0.1) ? null : rng.chance(0.1) ? rng.bytes(rng.size(40)).toString('latin1') : name(rng);
        const message = clientHello({
          sni,
          before: Array.from({ length: rng.size(6) }, () => extension(rng)),
          after: Array.from({ length: rng.size(3) }, () => extension(rng)),
        });
        const sizes = rng.chance(0.5) ? [16_384] : Array.from({ length: rng.range(1, 4) }, () => rng.range(1, rng.pick([8, 300, 16_384])));
        let bytes = inRecords(message, sizes);
        const mutated = rng.chance(0.3);
        if (mutated) bytes = mutate(rng, bytes);
        else if (rng.chance(0.2)) bytes = Buffer.concat([bytes, rng.bytes(rng.size(100))]);
        const oversize = message.length - 4 > MAX_CLIENT_HELLO_BYTES;
        return { bytes, at: cuts(rng, bytes.length), sni: oversize ? undefined : sni, mutated };
      },
      check: ({ bytes, at, sni, mutated }) => {
        const outcomes = sniffCuts(sniffTls, bytes, at);
        if (mutated || sni === undefined) return;
        const last = outcomes[outcomes.length - 1]!;
        const want = sni === null ? undefined : expectedHost(sni);
        assert.deepEqual(last, want === undefined ? { kind: 'none' } : { kind: 'found', protocol: 'tls', host: want });
      },
      show: (input) => JSON.stringify({ ...input, bytes: input.bytes.toString('hex').slice(0, 1500) }),
    });
  });

  it('HTTP: never throws, answers only once, and finds exactly the Host of a well-formed request head', async function () {
    this.timeout(fuzzTimeoutMs());
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
    await runFuzz({
      name: 'sniff http',
      generate: (rng) => {
        const host = name(rng);
        const value = rng.pick([host, `${host}:${rng.int(65536)}`, `[2001:db8::${rng.int(0xffff).toString(16)}]`, `[::1]:${rng.int(99999)}`]);
        const hostKey = rng.pick(['Host', 'host', 'HOST', 'hOST']);
        const eol = rng.chance(0.9) ? '\r\n' : '\n';
        const headers = Array.from({ length: rng.size(8) }, () => `X-${rng.int(100)}: ${rng.bytes(rng.size(30)).toString('base64')}`);
        const hasHost = rng.chance(0.9);
        if (hasHost) headers.splice(rng.int(headers.length + 1), 0, `${hostKey}:${' '.repeat(rng.int(3))}${value}`);
        if (rng.chance(0.01)) headers.unshift(`X-Big: ${'b'.repeat(rng.range(15_000, 17_000))}`);
        const head = `${rng.pick(methods)} ${rng.pick(['/', '*', '/a?b=c', 'http://x.example/'])} HTTP/1.${rng.int(2)}${eol}${headers.join(eol)}${eol}${eol}`;
        let bytes = Buffer.from(head, 'latin1');
        const mutated = rng.chance(0.3) || head.length > 16 * 1024;
        if (mutated) bytes = mutate(rng, bytes);
        if (rng.chance(0.05)) bytes = rng.bytes(rng.size(200));
        const want = value.startsWith('[') ? value.slice(1, value.indexOf(']')) : expectedHost(host);
        return { bytes, at: cuts(rng, bytes.length), want: hasHost ? want : undefined, hasHost, mutated: mutated || bytes.toString('latin1') !== head, absolute: head.includes('http://x.example/') };
      },
      check: ({ bytes, at, want, hasHost, mutated, absolute }) => {
        const outcomes = sniffCuts(sniffHttp, bytes, at);
        if (mutated) return;
        const last = outcomes[outcomes.length - 1]!;
        const host = hasHost ? want : absolute ? 'x.example' : undefined;
        assert.deepEqual(last, host === undefined ? { kind: 'none' } : { kind: 'found', protocol: 'http', host });
      },
      show: (input) => JSON.stringify({ ...input, bytes: input.bytes.toString('latin1').slice(0, 1500) }),
    });
  });
});
