import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import {
  DatagramSniffer,
  DnsService,
  HIJACK_DNS,
  HijackDnsOutbound,
  Router,
  isConfigError,
  isDnsQuery,
  parseConfig,
  sniffDnsStream,
  sniffStream,
  type FlowContext,
  type FlowMetadata,
} from '@sluice/core';
import { createFlowHarness } from '@sluice/core/testing';
import { FakeDatagramPort, FakeOutbound, captureLogger, flow, waitUntil } from '../core/fakes';
import { decode, dnsConfig, query, startStubDns } from './stub-dns';

/** `query` with its two-byte length, as DNS over TCP sends it. */
function framed(q: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  return Buffer.concat([len, q]);
}

/** A config document with the given rules and (optionally) a dns section. */
function configWith(rules: unknown[], dns?: Record<string, unknown>, outbounds: unknown[] = [{ tag: 'direct', type: 'direct' }]): string {
  return JSON.stringify({
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001, sniff: true }],
    outbounds,
    route: { rules, final: 'direct' },
    ...(dns ? { dns: { listen: ['127.0.0.1:1053'], upstreams: ['udp://127.0.0.1:53'], ...dns } } : {}),
  });
}

function configErrors(text: string): string[] {
  try {
    parseConfig(text, { baseDir: '/', format: 'json' });
  } catch (err) {
    if (isConfigError(err)) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

function ctxFor(f: FlowMetadata): FlowContext {
  return { flow: f, logger: pino({ level: 'silent' }), signal: new AbortController().signal };
}

describe('protocol: dns and hijack-dns', function () {
  this.timeout(20000);

  describe('the DNS sniffer', () => {
    it('recognises a query (with EDNS) and nothing else', () => {
      assert.equal(isDnsQuery(query('example.com')), true);
      assert.equal(isDnsQuery(query('example.com', 'AAAA', { edns: 1232 })), true);
      const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'a.test', class: 'IN' }], answers: [] });
      assert.equal(isDnsQuery(response), false, 'a response is not a query');
      assert.equal(isDnsQuery(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), false);
      assert.equal(isDnsQuery(Buffer.alloc(40)), false, 'zero question count');
      const truncated = query('example.com').subarray(0, 20);
      assert.equal(isDnsQuery(truncated), false, 'a name cut short');
    });

    it('fuzz: random and mutated datagrams never throw', () => {
      const base = query('fuzz.example.org', 'A', { edns: 4096 });
      for (let i = 0; i < 20000; i++) {
        const b = i % 2 === 0 ? Buffer.from(base) : Buffer.alloc(Math.floor(Math.random() * 64));
        for (let j = 0; j < 3; j++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
        isDnsQuery(b);
        sniffDnsStream(framed(b));
        sniffStream(framed(b));
      }
    });

    it('TCP: whole query → protocol dns, a prefix → more, another protocol → none', () => {
      const msg = framed(query('example.com'));
      assert.deepEqual(sniffStream(msg), { kind: 'protocol', protocol: 'dns' });
      assert.deepEqual(sniffDnsStream(msg.subarray(0, 1)), { kind: 'more' });
      assert.deepEqual(sniffDnsStream(msg.subarray(0, 20)), { kind: 'more' });
      const notQuery = Buffer.from(msg);
      notQuery[2 + 5] = 7; // seven questions
      assert.deepEqual(sniffDnsStream(notQuery.subarray(0, 20)), { kind: 'none' });
      assert.deepEqual(sniffDnsStream(notQuery.subarray(0, 8)), { kind: 'none' }, 'ruled out as soon as the question count arrives');
      assert.deepEqual(sniffStream(Buffer.from([0, 40, 1, 2, 0xff])), { kind: 'none' }, 'a binary protocol starting with 0x00 is not held: its flags byte is no query');
      assert.equal(sniffStream(Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')).kind, 'found', 'HTTP still sniffed');
    });

    it('UDP: the first datagram decides', () => {
      const s = new DatagramSniffer();
      assert.deepEqual(s.push(query('example.com')), { kind: 'protocol', protocol: 'dns' });
      const other = new DatagramSniffer();
      assert.deepEqual(other.push(Buffer.from('hello')), { kind: 'none' });
      assert.deepEqual(other.push(query('example.com')), { kind: 'none' }, 'a session that started as something else stays that');
    });
  });

  describe('the protocol condition', () => {
    it('dns matches port 53 and sniffed DNS, nothing else; the sniffed names match tls/http/quic', () => {
      const config = parseConfig(configWith([{ protocol: 'dns', outbound: 'hijack-dns' }, { protocol: ['tls', 'quic'], outbound: 'direct', name: 'secure' }], {}), { baseDir: '/', format: 'json' });
      const router = new Router(config.route);
      assert.equal(router.route(flow({ network: 'udp', dst: { address: '192.0.2.1', port: 53 } })).outbound, HIJACK_DNS);
      assert.equal(router.route(flow({ network: 'tcp', dst: { address: '192.0.2.1', port: 53 } })).outbound, HIJACK_DNS);
      assert.equal(router.route(flow({ network: 'udp', dst: { address: '192.0.2.1', port: 5353 }, protocol: 'dns' })).outbound, HIJACK_DNS);
      assert.equal(router.route(flow({ network: 'udp', dst: { address: '192.0.2.1', port: 5353 } })).rule, 'final');
      assert.equal(router.route(flow({ dst: { address: '192.0.2.1', port: 443, host: 'a.test' }, sniffed: 'tls' })).rule, 'secure');
      assert.equal(router.route(flow({ dst: { address: '192.0.2.1', port: 80, host: 'a.test' }, sniffed: 'http' })).rule, 'final');
      assert.equal(String(router.rules[0]), 'rules[0]: protocol=dns -> hijack-dns');
    });

    it("Clash's DST-PORT,53,hijack-dns is read", () => {
      const config = parseConfig(configWith(['DST-PORT,53,hijack-dns'], {}), { baseDir: '/', format: 'json' });
      assert.equal(new Router(config.route).route(flow({ network: 'udp', dst: { address: '192.0.2.1', port: 53 } })).outbound, HIJACK_DNS);
    });

    it('misuse is a config error naming the key', () => {
      assert.deepEqual(configErrors(configWith([{ protocol: 'dns', outbound: 'hijack-dns' }])), [
        'route.rules[0].outbound: needs a dns section: hijack-dns answers the queries with the built-in resolver (add dns.listen and dns.upstreams)',
      ]);
      assert.deepEqual(configErrors(configWith(['DST-PORT,53,hijack-dns'])), [
        'route.rules[0].outbound: needs a dns section: hijack-dns answers the queries with the built-in resolver (add dns.listen and dns.upstreams) in "DST-PORT,53,hijack-dns"',
      ]);
      assert.deepEqual(configErrors(configWith([{ protocol: 'ssh', outbound: 'direct' }])), ['route.rules[0].protocol: must be one of dns, tls, http, quic (got "ssh")']);
      const taken = configErrors(configWith([], {}, [{ tag: 'direct', type: 'direct' }, { tag: 'hijack-dns', type: 'block' }]));
      assert.equal(taken.length, 1);
      assert.match(taken[0], /^outbounds\[1\]\.tag: "hijack-dns" is the built-in action/);
    });
  });

  describe('the hijack-dns outbound', () => {
    let up: Awaited<ReturnType<typeof startStubDns>>;
    let svc: DnsService;
    beforeEach(async () => {
      up = await startStubDns((q) => ({ answers: [{ type: 'A', name: q.name, ttl: 300, data: '203.0.113.7' } as dnsPacket.Answer] }));
      svc = new DnsService(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }), { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
      await svc.start();
    });
    afterEach(async () => {
      await svc.close();
      await up.close();
    });

    it('UDP: a query to port 53 is answered by the resolver, from the address the client asked, and the answer is mapped', async () => {
      const direct = new FakeOutbound('direct');
      const hijack = new HijackDnsOutbound(() => svc.resolver);
      const config = parseConfig(configWith([{ protocol: 'dns', outbound: 'hijack-dns' }], {}), { baseDir: '/', format: 'json' });
      const { logger } = captureLogger();
      const h = createFlowHarness({ outbounds: [direct, hijack], route: new Router(config.route), logger, hosts: svc.hosts });
      const port = new FakeDatagramPort('in');
      h.sink.onDatagram(query('hijacked.test', 'A', { id: 777 }), { address: '192.0.2.10', port: 5000 }, { address: '192.0.2.53', port: 53 }, port);
      await waitUntil(() => port.replies.length === 1, 'the answer');
      assert.equal(port.replies[0].from, '192.0.2.53:53');
      assert.equal(port.replies[0].to, '192.0.2.10:5000');
      assert.equal(up.seen.udp.length, 1, 'asked upstream once');
      assert.equal(direct.channels.length, 0, 'nothing went out directly');
      assert.equal(h.routed[0].outbound, HIJACK_DNS);
      // The answer was remembered: a later flow to that address carries the name.
      assert.deepEqual(await svc.hosts.resolve(flow({ dst: { address: '203.0.113.7', port: 443 } })), { dst: { address: '203.0.113.7', port: 443, host: 'hijacked.test' } });
      h.closeAll('test');
    });

    it('UDP: a DNS query to another port is found by sniffing', async () => {
      const config = parseConfig(configWith([{ protocol: 'dns', outbound: 'hijack-dns' }], {}), { baseDir: '/', format: 'json' });
      const { logger } = captureLogger();
      const h = createFlowHarness({
        outbounds: [new FakeOutbound('direct'), new HijackDnsOutbound(() => svc.resolver)],
        route: new Router(config.route),
        logger,
        udpSniff: new Map([['in', { timeoutMs: 300, overrideDestination: false }]]),
      });
      const port = new FakeDatagramPort('in');
      h.sink.onDatagram(query('odd-port.test'), { address: '192.0.2.10', port: 5000 }, { address: '192.0.2.53', port: 5353 }, port);
      h.sink.onDatagram(Buffer.from('not dns'), { address: '192.0.2.10', port: 5001 }, { address: '192.0.2.53', port: 5353 }, port);
      await waitUntil(() => port.replies.length === 1 && h.routed.length === 2, 'the answer');
      assert.equal(port.replies[0].from, '192.0.2.53:5353');
      assert.deepEqual(h.routed.map((r) => r.outbound).sort(), ['direct', HIJACK_DNS]);
      h.closeAll('test');
    });

    it('TCP: length-prefixed queries are answered in turn; a half-close ends the stream after the last answer', async () => {
      const hijack = new HijackDnsOutbound(() => svc.resolver);
      const f = flow({ dst: { address: '192.0.2.53', port: 53 } });
      const stream = await hijack.dialTcp(f.dst, ctxFor(f));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise<void>((r) => stream.once('end', () => r()));
      const both = Buffer.concat([framed(query('one.test', 'A', { id: 1 })), framed(query('two.test', 'A', { id: 2 }))]);
      // Split mid-message: framing must survive any chunking.
      stream.write(both.subarray(0, 7));
      stream.write(both.subarray(7));
      stream.end();
      await ended;
      let buf = Buffer.concat(chunks);
      const ids: number[] = [];
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        const r = decode(buf.subarray(2, 2 + len));
        ids.push(r.id);
        assert.equal(r.answers[0].data, '203.0.113.7');
        buf = buf.subarray(2 + len);
      }
      assert.deepEqual(ids.sort(), [1, 2]);
    });

    it('a malformed query gets FORMERR, and the flow goes on', async () => {
      const hijack = new HijackDnsOutbound(() => svc.resolver);
      const f = flow({ network: 'udp', dst: { address: '192.0.2.53', port: 53 } });
      const channel = await hijack.dialUdp(ctxFor(f));
      const got: Buffer[] = [];
      channel.setReceiver({ onPacket: (d) => got.push(d), onClose: () => {} });
      const bad = Buffer.from(query('x.test'));
      bad[5] = 9;
      channel.send(bad.subarray(0, 14), f.dst);
      channel.send(query('fine.test', 'A', { id: 9 }), f.dst);
      await waitUntil(() => got.length === 2, 'two answers');
      const rcodes = got.map((b) => b[3] & 0xf).sort();
      assert.deepEqual(rcodes, [0, 1], 'NOERROR and FORMERR');
      channel.close();
    });

    it('without a running resolver a dial fails with a clear error', async () => {
      const hijack = new HijackDnsOutbound(() => undefined);
      const f = flow({ network: 'udp', dst: { address: '192.0.2.53', port: 53 } });
      await assert.rejects(hijack.dialUdp(ctxFor(f)), /hijack-dns: the DNS resolver is not running/);
    });
  });

  describe('fake-IP UDP', () => {
    it('a UDP flow to a fake IP is sent to a real address with the name, and its replies leave from the fake address', async () => {
      const up = await startStubDns((q) => ({ answers: [{ type: 'A', name: q.name, ttl: 300, data: '203.0.113.80' } as dnsPacket.Answer] }));
      const dir = `/tmp/sluice-hijack-test-${process.pid}`;
      const config = dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`], mode: 'fake-ip', fake_ip_range: ['100.64.0.0/24'], fake_ip_store: `${dir}/fake.json` });
      const svc = new DnsService(config, { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
      await svc.start();
      try {
        const hijack = new HijackDnsOutbound(() => svc.resolver);
        const f = flow({ network: 'udp', dst: { address: '192.0.2.53', port: 53 } });
        const ch = await hijack.dialUdp(ctxFor(f));
        const answers: Buffer[] = [];
        ch.setReceiver({ onPacket: (d) => answers.push(d), onClose: () => {} });
        ch.send(query('game.test'), f.dst);
        await waitUntil(() => answers.length === 1, 'fake answer');
        const fakeIp = decode(answers[0]).answers[0].data as string;
        assert.equal(fakeIp, '100.64.0.1');

        const direct = new FakeOutbound('direct');
        const dialled: FlowMetadata[] = [];
        const dialUdp = direct.onDialUdp;
        direct.onDialUdp = (c) => {
          dialled.push(c.flow);
          return dialUdp(c);
        };
        const { logger } = captureLogger();
        const h = createFlowHarness({ outbounds: [direct], route: 'direct', logger, hosts: svc.hosts });
        const port = new FakeDatagramPort('in');
        h.sink.onDatagram(Buffer.from('ping'), { address: '192.0.2.10', port: 6000 }, { address: fakeIp, port: 9000 }, port);
        await waitUntil(() => direct.channels.length === 1 && direct.channels[0].sent.length === 1, 'datagram sent');
        assert.deepEqual(direct.channels[0].sent[0].dst, { address: '203.0.113.80', port: 9000, host: 'game.test' });
        // The outbound is told the client sent to a fake IP (a SOCKS outbound then frames the name).
        assert.deepEqual(dialled[0].addressedTo, { address: fakeIp, port: 9000 });
        direct.channels[0].reply(Buffer.from('pong'), { address: '203.0.113.80', port: 9000 });
        assert.deepEqual(port.replies, [{ data: 'pong', from: `${fakeIp}:9000`, to: '192.0.2.10:6000' }]);
        h.closeAll('test');
        ch.close();
      } finally {
        await svc.close();
        await up.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
