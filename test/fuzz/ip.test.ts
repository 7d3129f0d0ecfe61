import { strict as assert } from 'node:assert';
import { isIP, SocketAddress } from 'node:net';
import { bytesToIp, ipToBytes } from '@sluice/plugin-socks';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';

/*
 * Address text and bytes as the SOCKS code meets them: a relay's or a
 * frame's address bytes rendered, and text (a name from a frame, a reply's
 * address) read back. Neither throws; bytes survive the round trip.
 */

const ALPHABET = '0123456789abcdefABCDEF:.%/[]x -';

function addressText(rng: Prng): string {
  if (rng.chance(0.3)) {
    const b = rng.bytes(rng.pick([4, 16]));
    if (b.length === 16) for (let i = 0; i < 16; i += 2) if (rng.chance(0.5)) b.writeUInt16BE(0, i);
    const text = bytesToIp(b);
    return rng.chance(0.5) ? text : text.slice(0, rng.int(text.length + 1)) + ALPHABET[rng.int(ALPHABET.length)] + text.slice(rng.int(text.length + 1));
  }
  return Array.from({ length: rng.size(45) }, () => ALPHABET[rng.int(ALPHABET.length)]).join('');
}

describe('fuzz: socks address text and bytes', () => {
  it('ipToBytes reads exactly the IP literals Node does; bytesToIp output reads back to the same bytes', async function () {
    this.timeout(fuzzTimeoutMs());
    await runFuzz({
      name: 'ip text',
      generate: (rng) => ({ text: addressText(rng), bytes: rng.bytes(rng.pick([4, 16])) }),
      check: ({ text, bytes }) => {
        const parsed = ipToBytes(text);
        const bare = text.replace(/%.*$/, '');
        assert.equal(parsed !== undefined, isIP(text) !== 0 || isIP(bare) === 6, text);
        if (parsed !== undefined && isIP(bare) === 6) assert.deepEqual(parsed, ipToBytes(new SocketAddress({ address: bare, family: 'ipv6' }).address), text);
        const rendered = bytesToIp(bytes);
        const back = ipToBytes(rendered)!;
        // An IPv4-mapped address renders as plain IPv4, and reads back as its 4 bytes.
        assert.deepEqual(back, back.length === 4 && bytes.length === 16 ? bytes.subarray(12) : bytes, rendered);
      },
    });
  });
});
