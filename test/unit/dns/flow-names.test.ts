import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { DnsService, type FlowMetadata, type FlowRouter } from '@sluice/core';
import { createFlowHarness } from '@sluice/core/testing';
import { FakeDatagramPort, FakeOutbound, captureLogger, waitUntil } from '../core/fakes';
import { decode, dnsConfig, query, queryUdp, startStubDns } from './stub-dns';

/** Routes `blocked.test` to `deny`, everything else to `ok`: what a domain rule will do. */
const byName: FlowRouter = {
  route: (flow: FlowMetadata) => (flow.dst.host === 'blocked.test' ? { rule: 'no-blocked', outbound: 'deny' } : { rule: 'final', outbound: 'ok' }),
};

describe('dns names for flows', function () {
  this.timeout(20000);

  it('mapping: a UDP flow to an IP answered for a blocked name is blocked; the same IP under an allowed name passes', async () => {
    let answerFor = 'blocked.test';
    const up = await startStubDns((q) => ({ answers: [{ type: 'A', name: q.name, ttl: 300, data: q.name === answerFor ? '203.0.113.50' : '203.0.113.99' } as dnsPacket.Answer] }));
    const svc = new DnsService(dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`] }), { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
    await svc.start();
    try {
      const ok = new FakeOutbound('ok');
      const dialled: FlowMetadata[] = [];
      const dialUdp = ok.onDialUdp;
      ok.onDialUdp = (c) => {
        dialled.push(c.flow);
        return dialUdp(c);
      };
      const deny = new FakeOutbound('deny');
      deny.onDialUdp = () => Promise.reject(new Error('blocked'));
      const { logger } = captureLogger();
      const h = createFlowHarness({ outbounds: [ok, deny], route: byName, logger, hosts: svc.hosts });
      const port = new FakeDatagramPort('in');
      const dst = { address: '203.0.113.50', port: 443 };

      h.sink.onDatagram(Buffer.from('before any answer'), { address: '192.0.2.10', port: 5000 }, dst, port);
      await waitUntil(() => h.routed.length === 1, 'first flow routed');
      assert.equal(h.routed[0].host, undefined, 'no answer yet: no name');

      await queryUdp(svc.ports[0].udp, query('blocked.test'));
      h.sink.onDatagram(Buffer.from('quic'), { address: '192.0.2.10', port: 5001 }, dst, port);
      await waitUntil(() => h.routed.length === 2, 'second flow routed');
      assert.deepEqual([h.routed[1].host, h.routed[1].outbound], ['blocked.test', 'deny']);

      answerFor = 'allowed.test';
      await queryUdp(svc.ports[0].udp, query('allowed.test'));
      h.sink.onDatagram(Buffer.from('quic'), { address: '192.0.2.10', port: 5002 }, dst, port);
      await waitUntil(() => h.routed.length === 3, 'third flow routed');
      assert.deepEqual([h.routed[2].host, h.routed[2].outbound], ['allowed.test', 'ok']);
      assert.equal(ok.channels.length, 2);
      // Named by the mapping, not readdressed: the client sent to the address dialled.
      assert.equal(dialled[1].addressedTo, undefined);
      h.closeAll('test');
      await waitUntil(() => h.closed.length === 3, 'access lines');
      const line = h.closed.find((c) => c.host === 'allowed.test')!;
      assert.equal(line.host_source, 'dns');
    } finally {
      await svc.close();
      await up.close();
    }
  });

  it('mapping: a sniffed name wins over the DNS one', async () => {
    const svc = new DnsService(dnsConfig({ upstreams: ['udp://127.0.0.1:9'], hosts: { 'dns-name.test': ['203.0.113.5'] } }), { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
    const flow: FlowMetadata = { id: 'f', network: 'tcp', inbound: 'in', src: { address: '192.0.2.1', port: 1 }, dst: { address: '203.0.113.5', port: 443, host: 'sni.test' }, sniffed: 'tls' };
    assert.equal(svc.hosts.resolve(flow), undefined);
  });

  it('fake-ip: a flow to a fake IP carries the name and is dialled at a real address; an unknown fake IP is refused', async () => {
    const up = await startStubDns((q) => ({ answers: [{ type: 'A', name: q.name, ttl: 300, data: '203.0.113.80' } as dnsPacket.Answer] }));
    const dir = `/tmp/sluice-dns-test-${process.pid}`;
    const config = dnsConfig({ upstreams: [`udp://127.0.0.1:${up.port}`], mode: 'fake-ip', fake_ip_range: ['100.64.0.0/24'], fake_ip_store: `${dir}/fake.json` });
    const svc = new DnsService(config, { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
    await svc.start();
    try {
      const fake = decode(await queryUdp(svc.ports[0].udp, query('site.test')));
      assert.equal(fake.answers[0].data, '100.64.0.1');
      assert.equal(up.seen.udp.length, 0, 'a fake answer asks no upstream');
      const flow: FlowMetadata = { id: 'f', network: 'tcp', inbound: 'in', src: { address: '192.0.2.1', port: 1 }, dst: { address: '100.64.0.1', port: 443 } };
      const r = await svc.hosts.resolve(flow);
      assert.deepEqual(r, { dst: { address: '203.0.113.80', port: 443, host: 'site.test' } });
      assert.throws(() => svc.hosts.resolve({ ...flow, dst: { address: '100.64.0.77', port: 443 } }), /100\.64\.0\.77 is a fake IP with no known name/);
      assert.equal(svc.hosts.resolve({ ...flow, dst: { address: '203.0.113.1', port: 443 } }), undefined, 'real addresses are left alone');
    } finally {
      await svc.close();
      await up.close();
    }
    // A restart keeps the mapping.
    const again = new DnsService(config, { logger: pino({ level: 'silent' }), outbound: () => undefined, baseDir: '/tmp' });
    await again.start();
    try {
      const r = decode(await queryUdp(again.ports[0].udp, query('site.test')));
      assert.equal(r.answers[0].data, '100.64.0.1');
    } finally {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
