import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import type { Logger } from 'pino';
import { DnsResolver, DnsService, UdpUpstream, plainTransport, type DnsConfig, type Outbound } from '@sluice/core';
import { FakeOutbound, captureLogger, waitUntil } from '../core/fakes';
import { decode, dnsConfig, query, queryTcp, queryUdp, repliesTo, startStubDns, type StubDns } from './stub-dns';

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

  async function service(config: DnsConfig, outbounds: Outbound[] = [], logger: Logger = silent): Promise<{ svc: DnsService; port: number }> {
    const svc = new DnsService(config, { logger, outbound: (tag) => outbounds.find((o) => o.tag === tag), baseDir: '/tmp' });
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

  it('SERVFAIL at once, never cached, when a stream (TCP) upstream answers a different question than asked', async () => {
    const otherName = await stub((q) => ({ questions: [{ ...q, name: 'other.test' }], answers: [{ type: 'A', name: 'other.test', ttl: 60, data: '203.0.113.6' } as dnsPacket.Answer] }));
    const { logger, lines } = captureLogger();
    const tcp = await service(dnsConfig({ upstreams: [`tcp://127.0.0.1:${otherName.port}`] }), [], logger);
    for (const id of [10, 11]) {
      const r = decode(await queryUdp(tcp.port, query('asked.test', 'A', { id })));
      assert.equal(r.id, id);
      assert.equal(r.rcode, 'SERVFAIL');
    }
    assert.equal(otherName.seen.tcp.length, 2, 'the mismatched reply was not cached');
    assert.equal(tcp.svc.counters.mismatchedReplies, 2);
    assert.equal(tcp.svc.counters.cacheHits, 0);
    const failed = lines.filter((l) => l.msg === 'dns upstream failed: SERVFAIL');
    assert.equal(failed.length, 2);
    assert.match(String(failed[0].err), /answered a different question than asked\.test A/);
  });

  it('UDP: discards a reply with the right ID to another question and waits for the genuine one (RFC 5452 §9.1)', async () => {
    const up = await stub((q) => [
      { questions: [{ ...q, name: 'other.test' }], answers: [{ type: 'A', name: 'other.test', ttl: 60, data: '203.0.113.66' } as dnsPacket.Answer] },
      ...(q.name === 'typed.test' ? [{ questions: [{ ...q, type: 'AAAA' as const }], answers: [{ type: 'AAAA', name: q.name, ttl: 60, data: '2001:db8::66' } as dnsPacket.Answer] }] : []),
      a('203.0.113.8'),
    ]);
    const { logger, lines } = captureLogger();
    const { port, svc } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }), [], logger);
    const r = decode(await queryUdp(port, query('asked.test', 'A', { id: 14 })));
    assert.equal(r.id, 14);
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers[0].data, '203.0.113.8');
    assert.equal(svc.counters.mismatchedReplies, 1);
    assert.equal(svc.counters.upstreamErrors, 0);
    const discarded = lines.filter((l) => l.msg === 'dns upstream reply to another question discarded');
    assert.deepEqual(
      discarded.map((l) => [l.name, l.type, l.from]),
      [['asked.test', 'A', `127.0.0.1:${up.port}`]],
    );
    const t = decode(await queryUdp(port, query('typed.test', 'A', { id: 15 })));
    assert.equal(t.answers[0].data, '203.0.113.8', 'a reply to another type is discarded too');
    assert.equal(svc.counters.mismatchedReplies, 3);
    assert.equal(up.seen.udp.length, 2, 'one datagram per query: the genuine reply came to the first');
  });

  it('UDP: an upstream that only answers other questions fails the query by timeout, the error saying why', async () => {
    const up = await stub((q) => [
      { questions: [{ ...q, name: 'other.test' }], answers: [{ type: 'A', name: 'other.test', ttl: 60, data: '203.0.113.66' } as dnsPacket.Answer] },
      { questions: [{ ...q, class: 'CH' as const }] },
    ]);
    const { logger, lines } = captureLogger();
    const resolver = new DnsResolver({
      config: dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }),
      upstreams: new Map([['main', new UdpUpstream('main', `udp://127.0.0.1:${up.port}`, { host: '127.0.0.1', port: up.port }, plainTransport)]]),
      logger,
      upstreamTimeoutMs: 300,
    });
    const r = decode(await resolver.handle(query('asked.test', 'A', { id: 16 }), { client: { address: '127.0.0.1', port: 5353 }, transport: 'udp' }));
    assert.equal(r.id, 16);
    assert.equal(r.rcode, 'SERVFAIL');
    assert.equal(resolver.counters.mismatchedReplies, 2);
    assert.equal(resolver.counters.upstreamErrors, 1);
    const failed = lines.filter((l) => l.msg === 'dns upstream failed: SERVFAIL');
    assert.deepEqual(
      failed.map((l) => l.err),
      ['dns: upstream main timed out (2 replies to another question discarded)'],
    );
  });

  it('UDP: a datagram from another address or port than the server is not a reply (shared socket and `via` channel)', async () => {
    // The shared socket: a spoofer on another port answers first, right ID and question, wrong address.
    const server = dgram.createSocket('udp4');
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => spoofer.bind(0, '127.0.0.1', r));
    cleanup.push(async () => {
      server.close();
      spoofer.close();
    });
    const serverPort = server.address().port;
    const answerFrom = (data: string) => () => a(data);
    server.on('message', (msg, rinfo) => {
      const [spoofed] = repliesTo(msg, answerFrom('203.0.113.66'));
      spoofer.send(spoofed, rinfo.port, rinfo.address, () => server.send(repliesTo(msg, answerFrom('203.0.113.9'))[0], rinfo.port, rinfo.address));
    });
    const plain = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${serverPort}`] }));
    const r = decode(await queryUdp(plain.port, query('spoofed.test')));
    assert.equal(r.answers[0].data, '203.0.113.9');

    // Through a `via` outbound's channel, which may be unconnected: the packet's source is checked as well.
    const via = new FakeOutbound('direct');
    const { port, svc } = await service(dnsConfig({ upstreams: [{ address: 'udp://192.0.2.53', via: 'direct' }] }), [via]);
    const pending = queryUdp(port, query('via-udp.test', 'A', { id: 17 }));
    await waitUntil(() => via.channels[0]?.sent.length === 1, 'the query sent on the channel');
    const channel = via.channels[0];
    assert.deepEqual(channel.sent[0].dst, { address: '192.0.2.53', port: 53 });
    const sent = channel.sent[0].data;
    channel.reply(repliesTo(sent, answerFrom('203.0.113.66'))[0], { address: '192.0.2.54', port: 53 });
    channel.reply(repliesTo(sent, answerFrom('203.0.113.67'))[0], { address: '192.0.2.53', port: 5353 });
    channel.reply(repliesTo(sent, (q) => ({ questions: [{ ...q, name: 'other.test' }] }))[0], { address: '192.0.2.53', port: 53 });
    channel.reply(repliesTo(sent, answerFrom('203.0.113.10'))[0], { address: '192.0.2.53', port: 53 });
    const v = decode(await pending);
    assert.equal(v.id, 17);
    assert.equal(v.answers[0].data, '203.0.113.10');
    assert.equal(svc.counters.mismatchedReplies, 1, 'only the reply from the server to another question is counted');
    assert.ok(channel.closed);
  });

  it('accepts an upstream answer whose name differs only in case (0x20)', async () => {
    const up = await stub((q) => ({ questions: [{ ...q, name: q.name.toUpperCase() }], answers: [{ type: 'A', name: q.name.toUpperCase(), ttl: 60, data: '203.0.113.7' } as dnsPacket.Answer] }));
    const { port, svc } = await service(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }));
    const r = decode(await queryUdp(port, query('mixed.test', 'A', { id: 13 })));
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.answers[0].data, '203.0.113.7');
    assert.equal(svc.counters.mismatchedReplies, 0);
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
