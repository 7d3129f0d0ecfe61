import { strict as assert } from 'node:assert';
import { SocketAddress } from 'node:net';
import { SocksClient } from 'socks';
import { decodeUdpFrame, encodeUdpFrame } from '@sluice/plugin-socks';
import { bytesToIp, ipToBytes } from '@sluice/plugin-socks';
import { Prng, fuzzSeed } from '../../fuzz/prng';
import { expectedFrame } from '../../fuzz/udp-frame-oracle';

const payload = Buffer.from('hello datagram');

describe('socks udp frames', () => {
  it('round-trips IPv4', () => {
    const frame = encodeUdpFrame({ address: '192.0.2.7', port: 53 }, payload);
    assert.deepEqual(frame.subarray(0, 10), Buffer.from([0, 0, 0, 1, 192, 0, 2, 7, 0, 53]));
    assert.deepEqual(decodeUdpFrame(frame), { ok: true, from: { address: '192.0.2.7', port: 53 }, data: payload });
  });

  it('round-trips IPv6 and gives the canonical address back', () => {
    const frame = encodeUdpFrame({ address: '2001:db8::1', port: 443 }, payload);
    assert.equal(frame[3], 4);
    assert.equal(frame.length, 22 + payload.length);
    const d = decodeUdpFrame(frame);
    assert.ok(d.ok);
    assert.deepEqual(d.from, { address: '2001:db8::1', port: 443 });
  });

  it('un-maps IPv4-mapped IPv6 sources', () => {
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 4]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]), Buffer.from([0, 80]), payload]);
    const d = decodeUdpFrame(frame);
    assert.ok(d.ok);
    assert.deepEqual(d.from, { address: '10.1.2.3', port: 80 });
  });

  it('round-trips a host name', () => {
    const frame = encodeUdpFrame({ address: 'relay.example', port: 1000 }, payload);
    assert.equal(frame[3], 3);
    assert.equal(frame[4], 'relay.example'.length);
    const d = decodeUdpFrame(frame);
    assert.ok(d.ok);
    assert.deepEqual(d.from, { address: 'relay.example', port: 1000 });
    assert.deepEqual(d.data, payload);
  });

  it('round-trips an empty payload and a 64 KiB one', () => {
    for (const data of [Buffer.alloc(0), Buffer.alloc(65_000, 7)]) {
      const d = decodeUdpFrame(encodeUdpFrame({ address: '127.0.0.1', port: 9 }, data));
      assert.ok(d.ok);
      assert.equal(d.data.length, data.length);
    }
  });

  it('refuses to encode a name over 255 bytes', () => {
    assert.throws(() => encodeUdpFrame({ address: 'a'.repeat(256), port: 1 }, payload), RangeError);
  });

  const bad: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), 'truncated'],
    ['3 bytes', Buffer.from([0, 0, 0]), 'truncated'],
    ['IPv4 cut short', Buffer.from([0, 0, 0, 1, 1, 2, 3]), 'truncated'],
    ['IPv6 cut short', Buffer.from([0, 0, 0, 4, ...Array(17).fill(0)]), 'truncated'],
    ['name without length', Buffer.from([0, 0, 0, 3]), 'truncated'],
    ['name longer than frame', Buffer.from([0, 0, 0, 3, 200, 97, 98]), 'truncated'],
    ['fragment', Buffer.from([0, 0, 1, 1, 1, 2, 3, 4, 0, 53, 9]), 'fragmented'],
    ['unknown ATYP', Buffer.from([0, 0, 0, 9, 1, 2, 3, 4, 0, 53, 9]), 'address-type'],
  ];
  for (const [name, frame, reason] of bad) {
    it(`drops ${name}`, () => assert.deepEqual(decodeUdpFrame(frame), { ok: false, reason }));
  }

  it('agrees with the socks package both ways', () => {
    for (const address of ['192.0.2.7', '0.0.0.0', '255.255.255.255', '2001:db8::1', '::', 'fe80::1:2:3', 'name.example']) {
      const data = new Prng(fuzzSeed()).bytes(50);
      const ours = encodeUdpFrame({ address, port: 4242 }, data);
      const theirs = SocksClient.createUDPFrame({ remoteHost: { host: address, port: 4242 }, data });
      assert.deepEqual(ours, theirs, address);
      const parsed = SocksClient.parseUDPFrame(ours);
      const d = decodeUdpFrame(theirs);
      assert.ok(d.ok);
      assert.equal(d.from.port, parsed.remoteHost.port);
      assert.deepEqual(d.data, parsed.data);
      assert.equal(d.from.address, address.includes(':') ? new SocketAddress({ address: parsed.remoteHost.host, family: 'ipv6' }).address : parsed.remoteHost.host);
    }
  });

  it('renders IPv6 exactly as Node does (20,000 seeded random addresses)', () => {
    const seed = fuzzSeed();
    const rng = new Prng(seed);
    for (let k = 0; k < 20_000; k++) {
      const b = rng.bytes(16);
      // Zero runs of every length, so "::" placement is exercised.
      for (let i = 0; i < 16; i += 2) if (rng.chance(0.6)) b.writeUInt16BE(0, i);
      const text = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
      const node = new SocketAddress({ address: text, family: 'ipv6' }).address;
      // Only the IPv4-mapped form (::ffff:a.b.c.d) is unmapped; ::ffff:0:… is an ordinary IPv6 address.
      const expected = /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(node) ? node.slice(7) : node;
      assert.equal(bytesToIp(b), expected, `seed ${seed}: ${text}`);
      assert.deepEqual(ipToBytes(node), b, `seed ${seed}: ${node}`);
    }
    assert.deepEqual(ipToBytes('fe80::1%eth0'), ipToBytes('fe80::1'));
    assert.equal(ipToBytes('not-an-ip'), undefined);
    assert.equal(bytesToIp(Buffer.from([10, 0, 0, 255])), '10.0.0.255');
  });

  it('decodes 5,000 seeded random frames as RFC 1928 §7 says (the seed is in every failure; SLUICE_FUZZ_SEED replays)', () => {
    const seed = fuzzSeed();
    const rng = new Prng(seed);
    const seen = { ok: 0, truncated: 0, fragmented: 0, 'address-type': 0 };
    for (let i = 0; i < 5000; i++) {
      const frame = rng.bytes(rng.int(40));
      if (rng.chance(0.5) && frame.length > 3) frame[3] = rng.pick([1, 3, 4]);
      if (frame.length > 4 && frame[3] === 3) frame[4] = rng.int(frame.length);
      if (frame.length > 2 && rng.chance(0.9)) frame[2] = 0;
      const got = decodeUdpFrame(frame);
      const want = expectedFrame(frame);
      const where = `seed ${seed}, frame #${i} ${frame.toString('hex')}`;
      if (want.ok) {
        assert.ok(got.ok, where);
        assert.equal(got.from.port, frame.readUInt16BE(want.portAt), where);
        assert.deepEqual(got.data, frame.subarray(want.portAt + 2), where);
        seen.ok++;
      } else {
        assert.deepEqual(got, want, where);
        seen[want.reason]++;
      }
    }
    // Every outcome was reached, so the assertions above were all exercised.
    for (const [outcome, n] of Object.entries(seen)) assert.ok(n > 0, `seed ${seed}: no frame was ${outcome}`);
  });
});
