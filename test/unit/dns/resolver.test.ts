import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { DnsService, type DnsConfig, type Outbound } from '@sluice/core';
import { FakeOutbound } from '../core/fakes';
import { decode, dnsConfig, query, queryTcp, queryUdp, startStubDns, type StubDns } from './stub-dns';

const silent = pino({ level: 'silent' });

const a = (ip: string, ttl = 300): Partial<dnsPacket.Packet> => ({ answers: [{ type: 'A', name: 'x', ttl, data: ip } as dnsPacket.Answer] });

describe('dns resolver', function () {
  this.timeout(20000);
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });

  async function stub(answer: Parameters<typeof startStubDns>[0], opts?: Parameters<typeof startStubDns>[1]): Promise<StubDns> {
    const s = await startStubDns(answer, opts);
    cleanup.push(() => s.close());
    return s;
  }

  async function service(config: DnsConfig, outbounds: Outbound[] = []): Promise<{ svc: DnsService; port: number }> {
    const svc = new DnsService(config, { logger: silent, outbound: (tag) => outbounds.find((o) => o.tag === tag), baseDir: '/tmp' });
    await svc.start();
    cleanup.push(() => svc.close());
    return { svc, port: svc.ports[0].udp };
  }

  it('answers from the upstream over UDP, then from the cache, with the client ID', async () => {
    const up = await stub((q) => a(q.name === 'one.test' ? '203.0.113.1' : '203.0.113.2'));
    const { svc, port } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const r1 = decode(await queryUdp(port, query('one.test', 'A', { id: 7 })));
    const r2 = decode(await queryUdp(port, query('ONE.test', 'A', { id: 8 })));
    assert.equal(r1.id, 7);
    assert.equal(r2.id, 8);
    assert.deepEqual([r1.answers[0].data, r2.answers[0].data], ['203.0.113.1', '203.0.113.1']);
    assert.equal(up.seen.udp.length, 1);
    const c = svc.counters;
    assert.equal(c.queries, 2);
    assert.equal(c.cacheHits, 1);
    assert.equal(c.mappingSize, 1);
    assert.notEqual(up.seen.udp[0].id, 7, 'the upstream sees an ID of its own');
  });

  it('passes every record type through byte for byte (HTTPS, TXT, MX) and keeps the EDNS(0) record', async () => {
    // An HTTPS (type 65) answer dns-packet cannot build: raw bytes from the stub, rdata opaque to the resolver.
    const httpsRdata = Buffer.from('0001000001000302683200', 'hex');
    const raw = (id: number): Buffer => {
      const q = query('svc.test', 'HTTPS' as dnsPacket.RecordType, { id });
      const head = Buffer.from(q.subarray(0, q.length));
      head.writeUInt16BE(0x8180, 2);
      head.writeUInt16BE(1, 6);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(65, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(600, 6);
      rr.writeUInt16BE(httpsRdata.length, 10);
      return Buffer.concat([head, rr, httpsRdata]);
    };
    const up = await stub((q, p) => {
      if (q.name === 'svc.test') return raw(p.id!);
      if (q.type === 'TXT') return { answers: [{ type: 'TXT', name: q.name, ttl: 60, data: ['hello', 'world'] } as dnsPacket.Answer], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as unknown as dnsPacket.Answer] };
      return { answers: [{ type: 'MX', name: q.name, ttl: 60, data: { preference: 10, exchange: 'mx.test' } } as dnsPacket.Answer] };
    });
    const { port } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const https = await queryUdp(port, query('svc.test', 'HTTPS' as dnsPacket.RecordType, { id: 5 }));
    assert.deepEqual(https, raw(5));
    const txt = decode(await queryUdp(port, query('t.test', 'TXT', { edns: 1232 })));
    assert.deepEqual((txt.answers[0].data as Buffer[]).map(String), ['hello', 'world']);
    assert.equal(txt.additionals[0].type, 'OPT');
    const sentUpstream = decode(up.raw[up.raw.length - 1]);
    assert.equal(sentUpstream.additionals[0].type, 'OPT', "the client's OPT record went upstream");
    const mx = decode(await queryUdp(port, query('m.test', 'MX')));
    assert.deepEqual(mx.answers[0].data, { preference: 10, exchange: 'mx.test' });
  });

  it('asks again over TCP when the upstream truncates, and truncates for a UDP client that takes less', async () => {
    const many = { answers: Array.from({ length: 40 }, (_, i) => ({ type: 'A', name: 'big.test', ttl: 60, data: `203.0.113.${i + 1}` }) as dnsPacket.Answer) };
    const up = await stub(() => ({ flags: dnsPacket.TRUNCATED_RESPONSE }), { tcpAnswer: () => many });
    const { port, svc } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const udp = decode(await queryUdp(port, query('big.test')));
    assert.equal(udp.flag_tc, true, 'a 512-byte client gets TC');
    assert.equal(udp.answers.length, 0);
    assert.equal(up.seen.tcp.length, 1, 'the upstream was asked again over TCP');
    const [tcp] = await queryTcp(svc.ports[0].tcp, [query('big.test')]);
    assert.equal(decode(tcp).answers.length, 40);
    const bigUdp = decode(await queryUdp(port, query('big.test', 'A', { edns: 4096 })));
    assert.equal(bigUdp.answers.length, 40, 'an EDNS client with room gets it all over UDP');
  });

  it('answers FORMERR to malformed queries and keeps serving', async () => {
    const up = await stub(() => a('203.0.113.9'));
    const { port, svc } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const bad = [Buffer.from([1, 2, 3]), Buffer.from('000101000001000000000000ff', 'hex'), Buffer.concat([query('x.test').subarray(0, 14)])];
    for (const b of bad) {
      const r = await queryUdp(port, b);
      assert.equal(r[3] & 0xf, 1, `FORMERR for ${b.toString('hex')}`);
    }
    const [tcpBad] = await queryTcp(svc.ports[0].tcp, [Buffer.from('abcd', 'hex')]);
    assert.equal(tcpBad[3] & 0xf, 1);
    const ok = decode(await queryUdp(port, query('x.test')));
    assert.equal(ok.answers[0].data, '203.0.113.9');
    assert.equal(svc.counters.malformed, 4);
  });

  it('answers hosts itself, sends rule-matched names to their upstream, SERVFAIL when an upstream is dead', async () => {
    const main = await stub(() => a('203.0.113.1'));
    const corp = await stub(() => a('10.1.2.3'));
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const { port, svc } = await service(
      dnsConfig({
        upstreams: [`udp://127.0.0.1:${main.port}`, { tag: 'corp', address: `tcp://127.0.0.1:${corp.port}` }, { tag: 'dead', address: `tcp://127.0.0.1:${deadPort}` }],
        rules: [{ domain_suffix: ['corp.example'], upstream: 'corp' }, { domain: ['gone.test'], upstream: 'dead' }],
        hosts: { 'router.lan': ['192.168.1.1', 'fd00::1'] },
      }),
    );
    const h = decode(await queryUdp(port, query('router.lan')));
    assert.deepEqual(h.answers.map((x) => x.data), ['192.168.1.1']);
    const h6 = decode(await queryUdp(port, query('router.lan', 'AAAA')));
    assert.deepEqual(h6.answers.map((x) => x.data), ['fd00::1']);
    const c = decode(await queryUdp(port, query('wiki.corp.example')));
    assert.equal(c.answers[0].data, '10.1.2.3');
    assert.equal(corp.seen.tcp.length, 1);
    assert.equal(main.seen.udp.length, 0);
    const g = decode(await queryUdp(port, query('gone.test')));
    assert.equal(g.rcode, 'SERVFAIL');
    assert.equal(svc.counters.upstreamErrors, 1);
  });

  it('SERVFAIL when an upstream replies with a query (QR clear), never passing it on (found by the upstream-response fuzzer)', async () => {
    const up = await stub(() => ({ type: 'query', answers: [{ type: 'A', name: 'echo.test', ttl: 60, data: '203.0.113.5' } as dnsPacket.Answer] }));
    // Over TCP: the UDP transport already drops such replies (and would end in a timeout).
    const { port, svc } = await service(dnsConfig({ upstreams: [`tcp://127.0.0.1:${up.port}`] }));
    const r = await queryUdp(port, query('echo.test', 'A', { id: 9 }));
    assert.equal(decode(r).id, 9);
    assert.ok((r[2] & 0x80) !== 0, 'QR set: a response');
    assert.equal(decode(r).rcode, 'SERVFAIL');
    assert.equal(svc.counters.upstreamErrors, 1);
  });

  it('caches NXDOMAIN for the SOA negative TTL', async () => {
    const up = await stub(() => ({
      flags: 3,
      authorities: [{ type: 'SOA', name: 'test', ttl: 3600, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } } as dnsPacket.Answer],
    }));
    const { port } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const r1 = decode(await queryUdp(port, query('nope.test')));
    const r2 = decode(await queryUdp(port, query('nope.test')));
    assert.equal(r1.rcode, 'NXDOMAIN');
    assert.equal(r2.rcode, 'NXDOMAIN');
    assert.equal(up.seen.udp.length, 1);
  });

  it('dials a `via` outbound for its upstream queries', async () => {
    const up = await stub(() => a('203.0.113.77'));
    const via = new FakeOutbound('socks-chain');
    via.onDialTcp = (dst) =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: dst.address, port: dst.port }, () => resolve(s));
        s.once('error', reject);
      });
    const { port } = await service(dnsConfig({ upstreams: [{ address: `tcp://127.0.0.1:${up.port}`, via: 'direct' }] }), [Object.assign(via, { tag: 'direct' })]);
    const r = decode(await queryUdp(port, query('via.test')));
    assert.equal(r.answers[0].data, '203.0.113.77');
    assert.deepEqual(via.tcpDials, [{ address: '127.0.0.1', port: up.port }]);
  });
});
