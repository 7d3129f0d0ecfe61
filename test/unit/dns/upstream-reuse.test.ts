import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { createUpstream, isConfigError, parseConfig, TcpUpstream, TlsUpstream, HttpsUpstream, plainTransport } from '@sluice/core';
import { waitUntil } from '../core/fakes';
import { answerBytes, certificate, decode, query } from './stub-dns';

const answer = (q: dnsPacket.Question): Partial<dnsPacket.Packet> => ({ answers: [{ type: 'A', name: q.name, ttl: 60, data: '203.0.113.44' } as dnsPacket.Answer] });
const logger = pino({ level: 'silent' });

/**
 * A DNS-over-TCP (or TLS) server counting connections. Answers are sent in
 * reverse order of each batch read, so a client that matched answers by
 * order instead of ID would fail. `dropAfter`: a connection that has
 * answered that many queries is dropped, unanswered, when the next arrives
 * (a server's own idle or query limit racing a client's reuse).
 */
function streamServer(make: (handler: (s: net.Socket) => void) => net.Server, dropAfter = Infinity) {
  const conns: net.Socket[] = [];
  let closedConns = 0;
  const server = make((sock) => {
    conns.push(sock);
    sock.on('close', () => closedConns++);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let answered = 0;
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const batch: Buffer[] = [];
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        batch.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + batch[batch.length - 1].length);
      }
      for (const q of batch.reverse()) {
        if (answered >= dropAfter) {
          sock.destroy();
          return;
        }
        const r = answerBytes(q, answer)!;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        sock.write(Buffer.concat([len, r]));
        answered++;
      }
    });
  });
  return {
    server,
    conns,
    get closed() {
      return closedConns;
    },
    async listen(): Promise<number> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as net.AddressInfo).port;
    },
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const ask = (u: { exchange(q: Buffer, s: AbortSignal): Promise<Buffer> }, name: string, id: number) => u.exchange(query(name, 'A', { id }), AbortSignal.timeout(5000)).then(decode);

describe('dns upstream connections: reuse, pipelining, idle close, DoH GET', function () {
  this.timeout(20000);
  const { key, cert } = certificate();

  it('tcp://: concurrent and later queries share one connection, answers matched by ID', async () => {
    const s = streamServer((h) => net.createServer(h));
    const port = await s.listen();
    const up = new TcpUpstream('t', `tcp://127.0.0.1:${port}`, { host: '127.0.0.1', port }, plainTransport);
    try {
      const first = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(up, `n${i}.test`, 100 + i)));
      assert.deepEqual(first.map((r) => r.id), Array.from({ length: 20 }, (_, i) => 100 + i), 'each answer went to its query');
      assert.deepEqual(first.map((r) => r.answers[0].name), Array.from({ length: 20 }, (_, i) => `n${i}.test`));
      for (let i = 0; i < 5; i++) assert.equal((await ask(up, `later${i}.test`, i)).id, i);
      assert.equal(s.conns.length, 1, 'one connection for 25 queries');
      assert.equal(up.connectionsOpened, 1);
    } finally {
      up.close();
      await s.close();
    }
  });

  it('tcp://: a query lost with a reused connection the server dropped is asked again on a new one', async () => {
    const s = streamServer((h) => net.createServer(h), 1);
    const port = await s.listen();
    const up = new TcpUpstream('t', `tcp://127.0.0.1:${port}`, { host: '127.0.0.1', port }, plainTransport);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await ask(up, `q${i}.test`, i)).answers[0].data, '203.0.113.44');
      // q0 on the first; q1 lost with it, asked again on the second; q2 lost with that, asked on the third.
      assert.equal(s.conns.length, 3);
    } finally {
      up.close();
      await s.close();
    }
  });

  it('tcp://: an idle connection is closed after idle_ms, and the next query opens another', async () => {
    const s = streamServer((h) => net.createServer(h));
    const port = await s.listen();
    const up = new TcpUpstream('t', `tcp://127.0.0.1:${port}`, { host: '127.0.0.1', port }, plainTransport, 50);
    try {
      await ask(up, 'a.test', 1);
      await waitUntil(() => s.closed === 1, 'the idle connection closed by Sluice');
      await ask(up, 'b.test', 2);
      assert.equal(s.conns.length, 2);
    } finally {
      up.close();
      await s.close();
    }
  });

  it('tls://: one TLS session carries many queries', async () => {
    const s = streamServer((h) => tls.createServer({ key, cert }, h));
    const port = await s.listen();
    const up = new TlsUpstream('t', `tls://127.0.0.1:${port}`, { host: '127.0.0.1', port }, plainTransport, { ca: cert });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(up, `t${i}.test`, i)));
      assert.deepEqual(answers.map((r) => r.id), Array.from({ length: 10 }, (_, i) => i));
      await ask(up, 'again.test', 99);
      assert.equal(s.conns.length, 1);
    } finally {
      up.close();
      await s.close();
    }
  });

  for (const method of ['GET', 'POST'] as const) {
    it(`https:// with method ${method}: RFC 8484 form, connections kept alive`, async () => {
      const seen: { method?: string; url?: string; body: number }[] = [];
      let connections = 0;
      const server = https.createServer({ key, cert, keepAlive: true }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, body: Buffer.concat(chunks).length });
          const q = req.method === 'GET' ? Buffer.from(new URL(req.url!, 'https://x').searchParams.get('dns')!, 'base64url') : Buffer.concat(chunks);
          res.writeHead(200, { 'content-type': 'application/dns-message' }).end(answerBytes(q, answer));
        });
      });
      server.on('secureConnection', () => connections++);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as net.AddressInfo).port;
      const up = createUpstream({ tag: 'doh', address: `https://127.0.0.1:${port}/dns-query?x=1`, method }, { outbound: () => undefined, logger, tls: { ca: cert } }) as HttpsUpstream;
      try {
        for (let i = 0; i < 5; i++) {
          const r = await ask(up, `doh${i}.test`, 500 + i);
          assert.equal(r.id, 500 + i);
          assert.equal(r.answers[0].name, `doh${i}.test`);
        }
        assert.equal(connections, 1, 'sequential queries reuse one connection');
        assert.equal(up.connectionsOpened, 1);
        if (method === 'GET') {
          const u = new URL(seen[0].url!, 'https://x');
          assert.equal(u.pathname, '/dns-query');
          assert.equal(u.searchParams.get('x'), '1');
          const sent = Buffer.from(u.searchParams.get('dns')!, 'base64url');
          assert.equal(sent.readUInt16BE(0), 0, 'ID 0');
          assert.doesNotMatch(u.searchParams.get('dns')!, /[=+/]/, 'base64url without padding');
          assert.deepEqual(dnsPacket.decode(sent).questions, [{ name: 'doh0.test', type: 'A', class: 'IN' }]);
          assert.equal(seen[0].body, 0);
        } else {
          assert.equal(seen[0].method, 'POST');
          assert.ok(seen[0].body > 12);
        }
        assert.ok(seen.every((x) => x.method === method));
      } finally {
        up.close();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  }

  it('config: method is GET or POST, and only for https://', () => {
    const errors = (upstream: unknown): string[] => {
      const doc = { inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }], outbounds: [{ tag: 'direct', type: 'direct' }], dns: { listen: ['127.0.0.1:1053'], upstreams: [upstream] } };
      try {
        parseConfig(JSON.stringify(doc), { baseDir: '/', format: 'json' });
        return [];
      } catch (err) {
        if (!isConfigError(err)) throw err;
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    assert.deepEqual(errors({ address: 'https://dns.test/dns-query', method: 'get' }), []);
    assert.deepEqual(errors({ address: 'https://dns.test/dns-query', method: 'PUT' }), ['dns.upstreams[0].method: must be GET or POST (got "PUT")']);
    assert.deepEqual(errors({ address: 'udp://192.0.2.53', method: 'GET' }), ['dns.upstreams[0].method: applies to https:// upstreams only']);
  });
});
