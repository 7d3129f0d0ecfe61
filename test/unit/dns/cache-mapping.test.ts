import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { DnsCache, FakeIp, FakeIpRange, FakeIpStore, IpNameMap, filterMatcher } from '@sluice/core';
import { answerBytes, decode, query } from './stub-dns';

const CACHE = { size: 3, min_ttl: 0, max_ttl: 86400, negative_ttl: 30 };

function response(answer: Partial<dnsPacket.Packet>, name = 'a.test'): Buffer {
  return answerBytes(query(name), () => answer)!;
}

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('dns cache', () => {
  it('keeps an answer for its TTL, ages the TTLs it hands out, and drops it after', () => {
    const c = clock();
    const cache = new DnsCache(CACHE, c.now);
    cache.put('k', response({ answers: [{ type: 'A', name: 'a.test', ttl: 10, data: '192.0.2.1' } as dnsPacket.Answer] }));
    c.advance(4000);
    const hit = decode(cache.get('k', 99)!);
    assert.equal(hit.id, 99);
    assert.equal(hit.answers[0].ttl, 6);
    c.advance(6000);
    assert.equal(cache.get('k', 1), undefined);
    assert.equal(cache.size, 0);
  });

  it('clamps TTLs to min_ttl and max_ttl', () => {
    const c = clock();
    const cache = new DnsCache({ ...CACHE, min_ttl: 60, max_ttl: 120 }, c.now);
    cache.put('short', response({ answers: [{ type: 'A', name: 'a.test', ttl: 1, data: '192.0.2.1' } as dnsPacket.Answer] }));
    cache.put('long', response({ answers: [{ type: 'A', name: 'a.test', ttl: 9999, data: '192.0.2.1' } as dnsPacket.Answer] }));
    c.advance(59_000);
    assert.ok(cache.get('short', 1), 'raised to min_ttl');
    c.advance(62_000);
    assert.equal(cache.get('long', 1), undefined, 'lowered to max_ttl');
  });

  it('caches NXDOMAIN and empty answers for the SOA minimum, else negative_ttl; never SERVFAIL', () => {
    const c = clock();
    const cache = new DnsCache(CACHE, c.now);
    const soa = { type: 'SOA', name: 'test', ttl: 3600, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 5 } } as dnsPacket.Answer;
    cache.put('nx', response({ flags: 3, authorities: [soa] }));
    cache.put('empty', response({}));
    cache.put('fail', response({ flags: 2 }));
    assert.equal(cache.get('fail', 1), undefined);
    c.advance(4000);
    assert.equal(decode(cache.get('nx', 1)!).rcode, 'NXDOMAIN');
    c.advance(2000);
    assert.equal(cache.get('nx', 1), undefined, 'the SOA minimum (5 s) ran out');
    assert.ok(cache.get('empty', 1), 'negative_ttl (30 s) has not');
    c.advance(25_000);
    assert.equal(cache.get('empty', 1), undefined);
  });

  it('drops the least recently used entry past its size', () => {
    const cache = new DnsCache(CACHE);
    const r = response({ answers: [{ type: 'A', name: 'a.test', ttl: 60, data: '192.0.2.1' } as dnsPacket.Answer] });
    for (const k of ['a', 'b', 'c']) cache.put(k, r);
    cache.get('a', 1);
    cache.put('d', r);
    assert.equal(cache.get('b', 1), undefined);
    assert.ok(cache.get('a', 1) && cache.get('c', 1) && cache.get('d', 1));
  });
});

describe('dns IP -> name mapping', () => {
  it('forgets a name when its TTL runs out', () => {
    const c = clock();
    const m = new IpNameMap(10, c.now);
    m.remember('192.0.2.1', 'a.test', 30);
    c.advance(29_000);
    assert.equal(m.lookup('192.0.2.1'), 'a.test');
    c.advance(1000);
    assert.equal(m.lookup('192.0.2.1'), undefined);
  });

  it('keeps the latest name of a shared address and evicts the least recently used', () => {
    const m = new IpNameMap(2);
    m.remember('192.0.2.1', 'a.test', 60);
    m.remember('192.0.2.1', 'b.test', 60);
    assert.equal(m.lookup('192.0.2.1'), 'b.test');
    m.remember('192.0.2.2', 'c.test', 60);
    m.lookup('192.0.2.1');
    m.remember('192.0.2.3', 'd.test', 60);
    assert.equal(m.lookup('192.0.2.2'), undefined);
    assert.equal(m.size, 2);
  });
});

describe('dns fake IPs', () => {
  it('hands out addresses in order, one per name, skipping network and broadcast addresses', () => {
    const r = new FakeIpRange('198.18.0.0/29', 1000);
    assert.equal(r.capacity, 6);
    const got = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => r.allocate(`${n}.test`));
    assert.deepEqual(got, ['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.5', '198.18.0.6']);
    assert.equal(r.allocate('c.test'), '198.18.0.3', 'a known name keeps its address');
  });

  it('wraps around to the least recently used address when the range is full', () => {
    const r = new FakeIpRange('198.18.0.0/30', 1000);
    assert.equal(r.allocate('a.test'), '198.18.0.1');
    assert.equal(r.allocate('b.test'), '198.18.0.2');
    r.lookup('198.18.0.1');
    assert.equal(r.allocate('c.test'), '198.18.0.2', 'b was used least recently');
    assert.equal(r.lookup('198.18.0.2'), 'c.test');
    assert.equal(r.lookup('198.18.0.1'), 'a.test');
  });

  it('works for IPv6 with capacity bounded by mapping_size', () => {
    const r = new FakeIpRange('fc00::/18', 2);
    assert.equal(r.capacity, 2);
    assert.equal(r.allocate('a.test'), 'fc00::1');
    assert.ok(r.contains('fc00:3fff::1'));
    assert.ok(!r.contains('fc00:4000::1'));
  });

  it('filters *.lan, +.suffix, exact names; the rest get fake addresses', () => {
    const f = new FakeIp([new FakeIpRange('198.18.0.0/24', 100)], filterMatcher(['*.lan', '+.stun.example', 'time.test']));
    assert.ok(f.filtered('printer.lan'));
    assert.ok(!f.filtered('a.b.lan'), '*. is one label');
    assert.ok(f.filtered('stun.example') && f.filtered('x.stun.example'));
    assert.ok(f.filtered('time.test') && !f.filtered('ntp.time.test'));
    assert.equal(f.allocate('a.test', 4), '198.18.0.1');
    assert.equal(f.allocate('a.test', 6), undefined, 'no IPv6 range');
    assert.equal(f.lookup('198.18.0.1'), 'a.test');
    assert.ok(f.contains('198.18.0.200') && f.lookup('198.18.0.200') === undefined);
  });

  it('survives a restart through the store file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-fakeip-'));
    try {
      const path = join(dir, 'state', 'fake-ip.json');
      const log = pino({ level: 'silent' });
      const r1 = new FakeIpRange('198.18.0.0/24', 100);
      const s1 = new FakeIpStore(path, [r1], log);
      const f1 = new FakeIp([r1], filterMatcher([]), () => s1.changed());
      f1.allocate('a.test', 4);
      f1.allocate('b.test', 4);
      await s1.close();
      const r2 = new FakeIpRange('198.18.0.0/24', 100);
      await new FakeIpStore(path, [r2], log).load();
      assert.equal(r2.lookup('198.18.0.1'), 'a.test');
      assert.equal(r2.lookup('198.18.0.2'), 'b.test');
      assert.equal(r2.allocate('c.test'), '198.18.0.3', 'new names continue after the restored ones');
      writeFileSync(path, '{not json');
      const r3 = new FakeIpRange('198.18.0.0/24', 100);
      await new FakeIpStore(path, [r3], log).load();
      assert.equal(r3.size, 0, 'a broken store starts empty');
      assert.ok(readFileSync(path, 'utf8').startsWith('{not'), 'and is not overwritten until something changes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
