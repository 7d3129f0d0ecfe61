import { strict as assert } from 'node:assert';
import { clientInitialKeys, QUIC_VERSIONS, QuicSniffer } from '@sluice/core';
import { clientHello, cryptoFrame, protectInitial, QUIC_DRAFT29, QUIC_V1, QUIC_V2, splitInitials, varint } from '../../helpers/quic-initial';
import {
  CLIENT_PAYLOAD,
  RFC_DCID,
  V1_CLIENT_HEADER,
  V1_CLIENT_KEYS,
  V1_CLIENT_PROTECTED,
  V2_CLIENT_HEADER,
  V2_CLIENT_KEYS,
  V2_CLIENT_PROTECTED,
} from '../../helpers/quic-rfc-vectors';

const DCID = Buffer.from('0123456789abcdef', 'hex');
const hex = (k: { key: Buffer; iv: Buffer; hp: Buffer }) => ({ key: k.key.toString('hex'), iv: k.iv.toString('hex'), hp: k.hp.toString('hex') });

describe('QUIC sniffer', () => {
  describe('RFC test vectors', () => {
    it('derives the client Initial keys of RFC 9001 A.1 (v1) and RFC 9369 A.1 (v2)', () => {
      assert.deepEqual(hex(clientInitialKeys(QUIC_VERSIONS.get(QUIC_V1)!, RFC_DCID)), V1_CLIENT_KEYS);
      assert.deepEqual(hex(clientInitialKeys(QUIC_VERSIONS.get(QUIC_V2)!, RFC_DCID)), V2_CLIENT_KEYS);
    });

    it("the tests' packet builder protects the sample client Initial exactly as RFC 9001 A.2 and RFC 9369 A.2 do", () => {
      for (const [version, header, expected] of [
        [QUIC_V1, V1_CLIENT_HEADER, V1_CLIENT_PROTECTED],
        [QUIC_V2, V2_CLIENT_HEADER, V2_CLIENT_PROTECTED],
      ] as const) {
        const built = protectInitial({ version, dcid: RFC_DCID, pn: 2, frames: CLIENT_PAYLOAD });
        // Bytes 1-17 (version, CIDs, token, Length) are not protected: the builder writes the vector's header.
        assert.equal(built.subarray(1, 18).toString('hex'), header.subarray(1, 18).toString('hex'));
        assert.equal(built.toString('hex'), expected.toString('hex'));
      }
    });

    it('reads example.com from the RFC sample client Initials (header protection removed, payload decrypted)', () => {
      for (const packet of [V1_CLIENT_PROTECTED, V2_CLIENT_PROTECTED]) {
        const copy = Buffer.from(packet);
        assert.deepEqual(new QuicSniffer().push(copy), { kind: 'found', protocol: 'quic', host: 'example.com' });
        assert.ok(copy.equals(packet), 'the datagram is not modified');
      }
    });
  });

  for (const [name, version] of [
    ['v1', QUIC_V1],
    ['v2', QUIC_V2],
    ['draft-29', QUIC_DRAFT29],
  ] as const) {
    describe(`version ${name}`, () => {
      it('finds the SNI in one Initial packet', () => {
        const [d] = splitInitials(version, DCID, clientHello('www.Example.org.'), 1);
        assert.deepEqual(new QuicSniffer().push(d!), { kind: 'found', protocol: 'quic', host: 'www.example.org' });
      });

      it('reassembles a ClientHello split over three Initial packets, in order', () => {
        const sniffer = new QuicSniffer();
        const ds = splitInitials(version, DCID, clientHello('split.example', 2500), 3);
        assert.deepEqual(ds.map((d) => sniffer.push(d).kind), ['more', 'more', 'found']);
        assert.deepEqual(sniffer.push(ds[0]!), { kind: 'found', protocol: 'quic', host: 'split.example' });
      });

      it('reassembles CRYPTO frames sent out of order (the SNI in the last piece to arrive)', () => {
        const sniffer = new QuicSniffer();
        const ds = splitInitials(version, DCID, clientHello('ooo.example', 2500), 3, [2, 1, 0]);
        assert.deepEqual(ds.map((d) => sniffer.push(d).kind), ['more', 'more', 'found']);
      });

      it('answers none for a ClientHello without SNI', () => {
        const [d] = splitInitials(version, DCID, clientHello(undefined), 1);
        assert.equal(new QuicSniffer().push(d!).kind, 'none');
      });
    });
  }

  it('reads CRYPTO frames among PADDING, PING, ACK (with ECN), CONNECTION_CLOSE and overlapping retransmissions', () => {
    const hello = clientHello('mixed.example', 1500);
    const ack = Buffer.concat([Buffer.of(0x03), varint(5), varint(0), varint(1), varint(0), varint(1), varint(1), varint(0), varint(0), varint(0)]);
    const close = Buffer.concat([Buffer.of(0x1c), varint(0), varint(0x06), varint(3), Buffer.from('bye')]);
    const first = Buffer.concat([Buffer.of(0x01), ack, Buffer.of(0, 0), cryptoFrame(0, hello.subarray(0, 900)), close]);
    // A retransmission overlapping the first piece, then the rest.
    const second = Buffer.concat([cryptoFrame(600, hello.subarray(600, 1000)), cryptoFrame(1000, hello.subarray(1000))]);
    const sniffer = new QuicSniffer();
    assert.equal(sniffer.push(protectInitial({ version: QUIC_V1, dcid: DCID, pn: 0, frames: first, payloadLen: 1100 })).kind, 'more');
    assert.deepEqual(sniffer.push(protectInitial({ version: QUIC_V1, dcid: DCID, pn: 1, pnLen: 1, frames: second })), { kind: 'found', protocol: 'quic', host: 'mixed.example' });
  });

  it("reads Chromium's shuffled CRYPTO frames: many small frames out of order inside each packet, PING and PADDING between them", () => {
    const hello = clientHello('chaos.example', 1800);
    const frames = Array.from({ length: 12 }, (_, i) => {
      const size = Math.ceil(hello.length / 12);
      return cryptoFrame(i * size, hello.subarray(i * size, (i + 1) * size));
    });
    // Packet 1 carries pieces 11, 3, 7, 0, 9, 5; packet 2 the rest, also shuffled.
    const packet = (order: number[], pn: number) =>
      protectInitial({ version: QUIC_V1, dcid: DCID, pn, frames: Buffer.concat(order.flatMap((i) => [frames[i]!, Buffer.of(0x01, 0x00, 0x00)])), payloadLen: 1200 });
    const sniffer = new QuicSniffer();
    assert.equal(sniffer.push(packet([11, 3, 7, 0, 9, 5], 1)).kind, 'more');
    assert.deepEqual(sniffer.push(packet([6, 1, 10, 4, 8, 2], 2)), { kind: 'found', protocol: 'quic', host: 'chaos.example' });
  });

  it('reads coalesced packets: an Initial followed by another packet in the same datagram', () => {
    const hello = clientHello('coalesced.example', 1500);
    const a = protectInitial({ version: QUIC_V1, dcid: DCID, pn: 0, frames: cryptoFrame(0, hello.subarray(0, 800)) });
    const b = protectInitial({ version: QUIC_V1, dcid: DCID, pn: 1, frames: cryptoFrame(800, hello.subarray(800)) });
    assert.deepEqual(new QuicSniffer().push(Buffer.concat([a, b])), { kind: 'found', protocol: 'quic', host: 'coalesced.example' });
  });

  it('ignores Initial packets of another connection ID once the connection is known', () => {
    const hello = clientHello('one.example', 1500);
    const sniffer = new QuicSniffer();
    const [p0, p1] = splitInitials(QUIC_V1, DCID, hello, 2);
    const [, other] = splitInitials(QUIC_V1, Buffer.from('ffffffffffffffff', 'hex'), clientHello('two.example', 1500), 2);
    assert.equal(sniffer.push(p0!).kind, 'more');
    assert.equal(sniffer.push(other!).kind, 'more');
    assert.deepEqual(sniffer.push(p1!), { kind: 'found', protocol: 'quic', host: 'one.example' });
  });

  it('answers none at once for a first datagram that is not a QUIC Initial', () => {
    const initial = splitInitials(QUIC_V1, DCID, clientHello('x.example'), 1)[0]!;
    const unknownVersion = Buffer.from(initial);
    unknownVersion.writeUInt32BE(0x0a0a0a0a, 1);
    const corrupted = Buffer.from(initial);
    corrupted[corrupted.length - 1]! ^= 1;
    const cases = {
      dns: Buffer.from('12340100000100000000000003777777076578616d706c6503636f6d0000010001', 'hex'),
      shortHeader: Buffer.concat([Buffer.of(0x40), DCID, Buffer.alloc(40, 7)]),
      versionNegotiation: Buffer.concat([Buffer.of(0x80, 0, 0, 0, 0, 8), DCID, Buffer.of(0), Buffer.from('00000001', 'hex')]),
      unknownVersion,
      corrupted,
      empty: Buffer.alloc(0),
      truncated: initial.subarray(0, 100),
    };
    for (const [name, d] of Object.entries(cases)) assert.equal(new QuicSniffer().push(d).kind, 'none', name);
  });

  it('answers none for a CRYPTO stream that is not a ClientHello, or larger than the cap', () => {
    const notHello = protectInitial({ version: QUIC_V1, dcid: DCID, pn: 0, frames: cryptoFrame(0, Buffer.from('02000004aabbccdd', 'hex')) });
    assert.equal(new QuicSniffer().push(notHello).kind, 'none');
    const far = protectInitial({ version: QUIC_V1, dcid: DCID, pn: 0, frames: cryptoFrame(40_000, Buffer.alloc(10)) });
    assert.equal(new QuicSniffer().push(far).kind, 'none');
    const huge = Buffer.concat([Buffer.of(1), Buffer.from('ffffff', 'hex')]);
    assert.equal(new QuicSniffer().push(protectInitial({ version: QUIC_V1, dcid: DCID, pn: 0, frames: cryptoFrame(0, huge) })).kind, 'none');
  });

  it('gives up (none) after its datagram budget while the ClientHello stays incomplete', () => {
    const sniffer = new QuicSniffer({ maxDatagrams: 4 });
    const [first] = splitInitials(QUIC_V1, DCID, clientHello('never.example', 2500), 3);
    const kinds = Array.from({ length: 5 }, () => sniffer.push(first!).kind);
    assert.deepEqual(kinds, ['more', 'more', 'more', 'more', 'none']);
  });
});
