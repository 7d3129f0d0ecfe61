import { strict as assert } from 'node:assert';
import ipaddr from 'ipaddr.js';
import { CidrSet } from '@sluice/core';

/** Deterministic PRNG so a failure can be reproduced from the printed seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const v4String = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

describe('router: CidrSet', () => {
  it('matches IPv4 and IPv6 prefixes and bare addresses, including the edges', () => {
    const set = CidrSet.from(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1']);
    for (const a of ['10.0.0.0', '10.255.255.255', '10.1.2.3', '192.0.2.1', '2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '::1']) {
      assert.equal(set.has(a), true, a);
    }
    for (const a of ['9.255.255.255', '11.0.0.0', '192.0.2.0', '192.0.2.2', '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::', '::2', '::']) {
      assert.equal(set.has(a), false, a);
    }
  });

  it('matches IPv4-mapped IPv6 lookups against the IPv4 prefixes, and mapped prefixes as IPv4', () => {
    const set = CidrSet.from(['203.0.113.0/24', '::ffff:198.51.100.0/120']);
    assert.equal(set.has('::ffff:203.0.113.7'), true);
    assert.equal(set.has('::ffff:cb00:7107'), true, 'hex form of ::ffff:203.0.113.7');
    assert.equal(set.has('::ffff:203.0.114.7'), false);
    assert.equal(set.has('198.51.100.200'), true);
    assert.equal(set.rangeCount.v6, 0);
  });

  it('parses every IPv6 notation the same way', () => {
    const set = CidrSet.from(['2001:db8:0:0:1::/80', '::102:304/128', '64:ff9b::/96']);
    for (const a of ['2001:DB8::1:0:0:5', '2001:db8:0:0:1:0:0:5', '2001:db8:0:0:1::0.0.0.5', '2001:db8::1:0:0:5%eth0', '64:ff9b::192.0.2.33']) {
      assert.equal(set.has(a), true, a);
    }
    // `::1.2.3.4` is the old IPv4-compatible form, not IPv4-mapped (ipaddr.js confuses the two).
    assert.equal(set.has('::1.2.3.4'), true);
    assert.equal(set.has('1.2.3.4'), false);
  });

  it('clears host bits and merges overlapping and adjacent prefixes', () => {
    const set = CidrSet.from(['10.0.0.1/24', '10.0.1.0/24', '10.0.0.128/25', '10.0.3.0/24', '2001:db8::/33', '2001:db8:8000::/33']);
    assert.deepEqual(set.rangeCount, { v4: 2, v6: 1 });
    assert.equal(set.has('10.0.0.0'), true);
    assert.equal(set.has('10.0.1.255'), true);
    assert.equal(set.has('10.0.2.0'), false);
    assert.equal(set.has('10.0.3.9'), true);
  });

  it('handles the whole address space and an empty set', () => {
    const all = CidrSet.from(['0.0.0.0/0', '::/0']);
    assert.equal(all.has('0.0.0.0'), true);
    assert.equal(all.has('255.255.255.255'), true);
    assert.equal(all.has('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), true);
    const none = CidrSet.from([]);
    assert.equal(none.has('1.2.3.4'), false);
    assert.equal(none.has('::1'), false);
  });

  it('answers false for unparsable lookups and throws on bad entries', () => {
    const set = CidrSet.from(['0.0.0.0/0', '::/0']);
    const bad = ['', 'example.com', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', ':1::', '1:', '::1.2.3', '1.2.3.4::'];
    for (const b of bad) assert.equal(set.has(b), false, b);
    assert.throws(() => CidrSet.from(['10.0.0.0/33']), /invalid CIDR "10.0.0.0\/33"/);
  });

  it('agrees with a naive matcher on a 100k-entry set', function () {
    this.timeout(120_000);
    const seed = Date.now() >>> 0;
    const rnd = mulberry32(seed);
    const u32 = (): number => Math.floor(rnd() * 2 ** 32);
    const v4: { net: number; mask: number; prefix: number }[] = [];
    const v6: { addr: ipaddr.IPv6; prefix: number }[] = [];
    const texts: string[] = [];
    for (let i = 0; i < 80_000; i++) {
      const prefix = 16 + Math.floor(rnd() * 17);
      const mask = maskOf(prefix);
      const net = (u32() & mask) >>> 0;
      v4.push({ net, mask, prefix });
      // Host bits left set on purpose: the set must clear them like the naive matcher does.
      texts.push(`${v4String((net | (u32() & ~mask)) >>> 0)}/${prefix}`);
    }
    for (let i = 0; i < 20_000; i++) {
      // Concentrated under 2001:db8::/32 so that prefixes overlap and lookups hit.
      const parts = [0x2001, 0x0db8, ...Array.from({ length: 6 }, () => Math.floor(rnd() * 65536))];
      if (rnd() < 0.5) parts[2] &= 0x00ff;
      const prefix = 48 + Math.floor(rnd() * 81);
      const addr = new ipaddr.IPv6(parts);
      v6.push({ addr, prefix });
      texts.push(`${addr.toString()}/${prefix}`);
    }
    const set = CidrSet.from(texts);

    const probes4: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const e = v4[Math.floor(rnd() * v4.length)];
      const last = (e.net | ~e.mask) >>> 0;
      probes4.push(u32(), (e.net + Math.floor(rnd() * (last - e.net + 1))) >>> 0, (e.net - 1) >>> 0, (last + 1) >>> 0);
    }
    let hits = 0;
    for (const p of probes4) {
      const expected = v4.some((e) => ((p & e.mask) >>> 0) === e.net);
      const addr = v4String(p);
      assert.equal(set.has(addr), expected, `${addr} (seed ${seed})`);
      assert.equal(set.has(`::ffff:${addr}`), expected, `::ffff:${addr} (seed ${seed})`);
      if (expected) hits++;
    }
    assert.ok(hits > 500 && hits < probes4.length - 500, `probes must both hit and miss (hits ${hits})`);

    hits = 0;
    for (let i = 0; i < 300; i++) {
      const base = v6[Math.floor(rnd() * v6.length)].addr.parts.slice();
      base[7] = (base[7] + Math.floor(rnd() * 3) - 1) & 0xffff;
      if (rnd() < 0.3) base[3] = Math.floor(rnd() * 65536);
      const probe = new ipaddr.IPv6(base);
      const expected = v6.some((e) => probe.match(e.addr, e.prefix));
      assert.equal(set.has(probe.toString()), expected, `${probe.toString()} (seed ${seed})`);
      if (expected) hits++;
    }
    assert.ok(hits > 0 && hits < 300, `IPv6 probes must both hit and miss (hits ${hits})`);
  });
});
