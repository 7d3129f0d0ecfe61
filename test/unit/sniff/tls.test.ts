import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { MAX_CLIENT_HELLO_BYTES, StreamSniffer, sniffStream, sniffTls, type SniffOutcome } from '@sluice/core';
import { clientHello, inRecords, padding, sniExtension } from '../../helpers/client-hello';

/** The first flight Node's TLS client sends for `servername`, as a server reads it (one or more chunks). */
async function realClientHello(servername: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (sniffTls(all).kind === 'more') return;
        s.destroy();
        server.close();
        resolve(all);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername });
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
    server.on('error', reject);
  });
}

const found = (host: string): SniffOutcome => ({ kind: 'found', protocol: 'tls', host });
const NONE: SniffOutcome = { kind: 'none' };
const MORE: SniffOutcome = { kind: 'more' };

describe('sniff: TLS ClientHello SNI', () => {
  it("reads the name from Node's own ClientHello, lower-cased, and says `more` for every shorter prefix", async () => {
    const hello = await realClientHello('WWW.Example.ORG');
    assert.deepEqual(sniffTls(hello), found('www.example.org'));
    for (let n = 0; n < hello.length; n++) assert.deepEqual(sniffTls(hello.subarray(0, n)), MORE, `prefix of ${n} bytes`);
  });

  it('reads a ClientHello split over several records, including one-byte records, at every cut', () => {
    const message = clientHello({ sni: 'split.example' });
    for (const sizes of [[1], [3, 200], [4], [5, 1, 7], [message.length - 1]]) {
      const bytes = inRecords(message, sizes);
      assert.deepEqual(sniffTls(bytes), found('split.example'), `records of ${sizes.join(',')}`);
      for (const n of [0, 1, 5, 6, 9, 10, bytes.length - 1]) assert.deepEqual(sniffTls(bytes.subarray(0, n)), MORE, `records of ${sizes.join(',')}, ${n} bytes`);
    }
  });

  it('reads it across TCP segments pushed one by one, answering only once the message is whole', () => {
    const bytes = inRecords(clientHello({ sni: 'seg.example', before: [padding(3000)] }), [700, 1200]);
    const sniffer = new StreamSniffer();
    const cuts = [2, 5, 6, 700, 705, 1500, 3100, bytes.length];
    let prev = 0;
    for (const cut of cuts) {
      const outcome = sniffer.push(bytes.subarray(prev, cut));
      assert.deepEqual(outcome, cut === bytes.length ? found('seg.example') : MORE, `after ${cut} bytes`);
      prev = cut;
    }
    assert.deepEqual(sniffer.bytes, bytes, 'every byte kept, in order, for the replay');
  });

  it('finds the name after large extensions, up to the size cap, and says `none` past it without waiting for the rest', () => {
    const big = inRecords(clientHello({ sni: 'big.example', before: [padding(20_000), { type: 0xfe0d, data: Buffer.alloc(5000, 1) }] }));
    assert.deepEqual(sniffTls(big), found('big.example'));
    const huge = inRecords(clientHello({ sni: 'huge.example', before: [padding(MAX_CLIENT_HELLO_BYTES)] }));
    // The handshake header announces the size: the first record's first bytes are enough.
    assert.deepEqual(sniffTls(huge.subarray(0, 9)), NONE);
  });

  it('says `none` for a ClientHello without a usable name', () => {
    assert.deepEqual(sniffTls(inRecords(clientHello({ sni: null }))), NONE, 'no server_name');
    assert.deepEqual(sniffTls(inRecords(clientHello({ sni: null, noExtensions: true }))), NONE, 'no extensions at all');
    for (const bad of ['', 'a b.example', 'x..y', '.lead', 'ünïcode', 'a/b', 'a'.repeat(254)]) {
      assert.deepEqual(sniffTls(inRecords(clientHello({ sni: Buffer.from(bad, 'utf8') }))), NONE, JSON.stringify(bad));
    }
    assert.deepEqual(sniffTls(inRecords(clientHello({ sni: 'trailing.example.' }))), found('trailing.example'));
    // A name list whose first entry is of another type: skipped.
    const other = { type: 0, data: Buffer.from([0, 11, 1, 0, 2, 0x61, 0x62, 0, 0, 3, 0x61, 0x62, 0x63]) };
    assert.deepEqual(sniffTls(inRecords(clientHello({ sni: null, before: [other] }))), found('abc'));
  });

  it('says `none` at once for bytes that are not a TLS handshake', () => {
    const ok = inRecords(clientHello());
    const cases: [string, Buffer][] = [
      ['alert record', Buffer.from([0x15, 3, 3, 0, 2, 2, 40])],
      ['SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01])],
      ['version 3.5', Buffer.from([0x16, 3, 5])],
      ['major version 2', Buffer.from([0x16, 2])],
      ['zero-length record', Buffer.from([0x16, 3, 1, 0, 0])],
      ['record over 2^14', Buffer.from([0x16, 3, 1, 0x40, 1])],
      ['ServerHello', inRecords(Buffer.from([2, 0, 0, 40, ...Buffer.alloc(40)]))],
      ['change of record type before the hello is whole', Buffer.concat([inRecords(clientHello(), [50]).subarray(0, 55), Buffer.from([0x17, 3, 3, 0, 5])])],
    ];
    for (const [what, bytes] of cases) assert.deepEqual(sniffTls(bytes), NONE, what);
    assert.deepEqual(sniffTls(ok), found('example.com'));
  });

  it('says `none` for malformed lengths inside a whole message, never reading past it', () => {
    const message = clientHello({ sni: 'len.example' });
    const cutBody = (n: number): Buffer => {
      const m = Buffer.from(message.subarray(0, n));
      m.writeUIntBE(n - 4, 1, 3);
      return m;
    };
    for (let n = 4; n < message.length; n++) assert.deepEqual(sniffTls(inRecords(cutBody(n))), NONE, `body cut to ${n - 4} bytes`);
    // Every length field claiming too much.
    const sni = sniExtension('len.example');
    for (const at of [0, 1, 3, 4]) {
      const data = Buffer.from(sni.data);
      data[at] = 0xff;
      assert.deepEqual(sniffTls(inRecords(clientHello({ sni: null, before: [{ type: 0, data }] }))), NONE, `server_name byte ${at}`);
    }
  });

  it('never throws on any single-byte change of a real ClientHello', async () => {
    const hello = await realClientHello('mutate.example');
    for (let i = 0; i < hello.length; i++) {
      for (const v of [0, 0xff, hello[i]! ^ 0x80]) {
        const b = Buffer.from(hello);
        b[i] = v;
        const outcome = sniffStream(b);
        assert.ok(['found', 'none', 'more'].includes(outcome.kind));
      }
    }
  });
});
