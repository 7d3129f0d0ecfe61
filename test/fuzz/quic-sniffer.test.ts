import { strict as assert } from 'node:assert';
import { QuicSniffer } from '@sluice/core';
import { clientHello, cryptoFrame, protectInitial, QUIC_DRAFT29, QUIC_V1, QUIC_V2, splitInitials, varint } from '../helpers/quic-initial';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';

/*
 * Datagrams a client (or anyone able to send UDP through a sniffing inbound)
 * sends: valid encrypted Initials cut, corrupted and reordered; Initials
 * whose encryption is valid but whose frames and ClientHello are hostile;
 * and plain noise dressed as long headers. Whatever arrives, the sniffer
 * answers without throwing, never changes a datagram, and a name it finds is
 * a plausible DNS name.
 */

const VERSIONS = [QUIC_V1, QUIC_V2, QUIC_DRAFT29];
const HOST = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const DCID = Buffer.from('0102030405060708', 'hex');

/** Valid first flights, built once: the mutations start from these. */
const FLIGHTS = VERSIONS.flatMap((v) => [
  splitInitials(v, DCID, clientHello('fuzz.example'), 1),
  splitInitials(v, DCID, clientHello('split.fuzz.example', 2200), 3),
  splitInitials(v, DCID, clientHello('ooo.fuzz.example', 2200), 2, [1, 0]),
]);

function mutate(rng: Prng, d: Buffer): Buffer {
  const out = Buffer.from(d);
  switch (rng.int(5)) {
    case 0:
      return out.subarray(0, rng.int(out.length + 1));
    case 1: {
      // Header fields (lengths, CIDs, token, Length) are where a parser goes wrong.
      for (let i = rng.range(1, 4); i > 0; i--) out[rng.int(Math.min(out.length, 40))] = rng.int(256);
      return out;
    }
    case 2: {
      for (let i = rng.range(1, 8); i > 0; i--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
      return out;
    }
    case 3:
      return Buffer.concat([out, rng.bytes(rng.size(64))]);
    default:
      return out;
  }
}

/** A ClientHello cut, patched or lying about its lengths, sometimes huge. */
function hostileHello(rng: Prng): Buffer {
  const name = rng.chance(0.3) ? rng.bytes(rng.size(300)).toString('latin1') : rng.pick(['a.example', 'A.B.', '', 'x'.repeat(300), 'bad name', '..', 'ok-1.example']);
  const hello = clientHello(name, rng.chance(0.2) ? rng.size(3000) : 0);
  for (let i = rng.int(4); i > 0; i--) hello[rng.int(hello.length)] = rng.int(256);
  return rng.chance(0.2) ? hello.subarray(0, rng.int(hello.length + 1)) : hello;
}

/** Frames an Initial may or may not carry, with lengths that may lie. */
function hostileFrames(rng: Prng): Buffer {
  const parts: Buffer[] = [];
  const hello = hostileHello(rng);
  for (let i = rng.range(1, 6); i > 0; i--) {
    switch (rng.int(7)) {
      case 0:
        parts.push(Buffer.alloc(rng.size(20)));
        break;
      case 1: {
        const at = rng.int(hello.length + 1);
        parts.push(cryptoFrame(rng.chance(0.9) ? at : rng.int(1 << 30), hello.subarray(at, at + rng.size(hello.length))));
        break;
      }
      case 2:
        parts.push(Buffer.concat([Buffer.of(rng.pick([2, 3])), ...Array.from({ length: rng.size(12) }, () => varint(rng.int(1 << 20)))]));
        break;
      case 3:
        parts.push(Buffer.concat([Buffer.of(rng.pick([0x1c, 0x1d])), varint(rng.int(100)), varint(rng.int(100)), varint(rng.size(40)), rng.bytes(rng.size(40))]));
        break;
      case 4:
        parts.push(Buffer.concat([Buffer.of(0x06), varint(rng.int(1 << 30)), varint(rng.int(1 << 30))]));
        break;
      case 5:
        parts.push(rng.bytes(rng.size(30)));
        break;
      default:
        parts.push(cryptoFrame(0, hello));
    }
  }
  return Buffer.concat(parts);
}

/** Noise that passes the first checks: a long header of a known version, then anything. */
function noise(rng: Prng): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0x80 | rng.int(128);
  head.writeUInt32BE(rng.chance(0.8) ? rng.pick(VERSIONS) : rng.next(), 1);
  return Buffer.concat([head, rng.bytes(rng.size(1300))]);
}

function datagrams(rng: Prng): Buffer[] {
  switch (rng.int(4)) {
    case 0: {
      const flight = rng.pick(FLIGHTS);
      const ds = flight.map((d) => (rng.chance(0.5) ? mutate(rng, d) : d));
      return rng.chance(0.3) ? ds.reverse() : ds;
    }
    case 1:
      return Array.from({ length: rng.range(1, 3) }, (_, pn) =>
        protectInitial({ version: rng.pick(VERSIONS), dcid: DCID, pn, pnLen: rng.pick([1, 2, 4] as const), frames: hostileFrames(rng), payloadLen: rng.chance(0.5) ? 1162 : 0 }),
      );
    case 2:
      return Array.from({ length: rng.range(1, 3) }, () => noise(rng));
    default:
      return [rng.bytes(rng.size(1500))];
  }
}

describe('fuzz: QUIC sniffer', () => {
  it('answers every datagram sequence without throwing, without changing a datagram, and finds only plausible names', async function () {
    this.timeout(fuzzTimeoutMs());
    await runFuzz({
      name: 'quic sniffer',
      generate: datagrams,
      check: (ds) => {
        const sniffer = new QuicSniffer();
        for (const d of ds) {
          const copy = Buffer.from(d);
          const outcome = sniffer.push(d);
          assert.ok(d.equals(copy), 'the datagram was changed');
          assert.ok(['found', 'none', 'more'].includes(outcome.kind), `outcome ${outcome.kind}`);
          if (outcome.kind === 'found') {
            assert.equal(outcome.protocol, 'quic');
            assert.match(outcome.host, HOST);
            assert.ok(outcome.host.length <= 253);
          }
        }
      },
    });
  });

  it('finds the name in every unmutated first flight (the mutations start from sequences that work)', () => {
    for (const flight of FLIGHTS) {
      const sniffer = new QuicSniffer();
      const kinds = flight.map((d) => sniffer.push(d).kind);
      assert.equal(kinds.at(-1), 'found');
    }
  });
});
