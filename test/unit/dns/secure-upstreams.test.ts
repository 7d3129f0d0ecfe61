import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { createUpstream } from '@sluice/core';
import { answerBytes, certificate, decode, query } from './stub-dns';

const answer = (q: dnsPacket.Question): Partial<dnsPacket.Packet> => ({ answers: [{ type: 'A', name: q.name, ttl: 60, data: '203.0.113.33' } as dnsPacket.Answer] });

describe('dns upstreams over TLS and HTTPS', function () {
  this.timeout(20000);
  const { key, cert } = certificate();
  const logger = pino({ level: 'silent' });

  it('tls:// speaks DNS over TLS (RFC 7858) and verifies the certificate', async () => {
    const server = tls.createServer({ key, cert }, (sock) => {
      let buf = Buffer.alloc(0);
      sock.on('error', () => {});
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const r = answerBytes(buf.subarray(2, 2 + buf.readUInt16BE(0)), answer)!;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        sock.end(Buffer.concat([len, r]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const good = createUpstream({ tag: 'dot', address: `tls://127.0.0.1:${port}` }, { outbound: () => undefined, logger, tls: { ca: cert } });
      const r = decode(await good.exchange(query('dot.test', 'A', { id: 77 }), AbortSignal.timeout(5000)));
      assert.equal(r.id, 77);
      assert.equal(r.answers[0].data, '203.0.113.33');
      const untrusted = createUpstream({ tag: 'dot', address: `tls://127.0.0.1:${port}` }, { outbound: () => undefined, logger });
      await assert.rejects(untrusted.exchange(query('dot.test'), AbortSignal.timeout(5000)), /SELF_SIGNED|self.signed|DEPTH_ZERO/i);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('https:// POSTs application/dns-message (RFC 8484) with ID 0', async () => {
    const seen: { method?: string; type?: string; id?: number }[] = [];
    const server = https.createServer({ key, cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const q = Buffer.concat(chunks);
        seen.push({ method: req.method, type: req.headers['content-type'], id: q.readUInt16BE(0) });
        if (req.url !== '/dns-query') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/dns-message' }).end(answerBytes(q, answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const doh = createUpstream({ tag: 'doh', address: `https://127.0.0.1:${port}/dns-query` }, { outbound: () => undefined, logger, tls: { ca: cert } });
      const r = decode(await doh.exchange(query('doh.test', 'A', { id: 4321 }), AbortSignal.timeout(5000)));
      assert.equal(r.id, 4321);
      assert.equal(r.answers[0].data, '203.0.113.33');
      assert.deepEqual(seen, [{ method: 'POST', type: 'application/dns-message', id: 0 }]);
      const wrongPath = createUpstream({ tag: 'doh', address: `https://127.0.0.1:${port}/nope` }, { outbound: () => undefined, logger, tls: { ca: cert } });
      await assert.rejects(wrongPath.exchange(query('doh.test'), AbortSignal.timeout(5000)), /HTTP 404/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
