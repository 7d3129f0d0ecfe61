import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { parseConfig, type DnsConfig } from '@sluice/core';

/** One reply of the stub: a packet (the query's ID and question unless it names its own) or raw bytes (the ID set). */
export type StubReply = Partial<dnsPacket.Packet> | Buffer;

/** What the stub answers for one question: a reply, several sent in order, or none. */
export type StubAnswer = (q: dnsPacket.Question, query: dnsPacket.Packet) => StubReply | readonly StubReply[] | 'drop';

/** A DNS server on loopback answering over UDP and TCP on one port, counting the queries it saw. */
export interface StubDns {
  readonly port: number;
  readonly address: string;
  /** Queries seen, by transport. */
  readonly seen: { udp: dnsPacket.Packet[]; tcp: dnsPacket.Packet[] };
  /** Raw query bytes seen, last first is not needed: in order. */
  readonly raw: Buffer[];
  close(): Promise<void>;
}

/** Encodes the stub's replies to a query, in the order they are sent. */
export function repliesTo(query: Buffer, answer: StubAnswer): Buffer[] {
  const p = dnsPacket.decode(query);
  const a = answer(p.questions![0], p);
  if (a === 'drop') return [];
  const replies: readonly StubReply[] = Array.isArray(a) ? a : [a as StubReply];
  return replies.map((r) => {
    if (Buffer.isBuffer(r)) {
      const out = Buffer.from(r);
      out.writeUInt16BE(p.id!, 0);
      return out;
    }
    return dnsPacket.encode({ id: p.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: p.questions, ...r } as dnsPacket.Packet);
  });
}

/** Encodes the stub's (first) reply to a query. */
export function answerBytes(query: Buffer, answer: StubAnswer): Buffer | undefined {
  return repliesTo(query, answer)[0];
}

/** Starts a stub DNS server on `address` (a free port). `tcpAnswer` answers TCP queries when given (else `answer`). */
export async function startStubDns(answer: StubAnswer, opts: { address?: string; tcpAnswer?: StubAnswer } = {}): Promise<StubDns> {
  const address = opts.address ?? '127.0.0.1';
  const seen = { udp: [] as dnsPacket.Packet[], tcp: [] as dnsPacket.Packet[] };
  const raw: Buffer[] = [];
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        seen.tcp.push(dnsPacket.decode(q));
        raw.push(Buffer.from(q));
        for (const r of repliesTo(q, opts.tcpAnswer ?? answer)) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(r.length);
          sock.write(Buffer.concat([len, r]));
        }
      }
    });
  });
  await new Promise<void>((r) => tcp.listen(0, address, r));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  udp.on('message', (msg, rinfo) => {
    seen.udp.push(dnsPacket.decode(msg));
    raw.push(Buffer.from(msg));
    // One after the other, each handed to the kernel before the next: they arrive in order on loopback.
    const send = (rest: Buffer[]): void => {
      if (rest.length === 0) return;
      try {
        udp.send(rest[0], rinfo.port, rinfo.address, (err) => err || send(rest.slice(1)));
      } catch {
        // Closed by the test meanwhile: the rest is not sent.
      }
    };
    send(repliesTo(msg, answer));
  });
  await new Promise<void>((r) => udp.bind(port, address, r));
  return {
    port,
    address,
    seen,
    raw,
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

/** Sends one query to `port` over UDP and returns the decoded response and its bytes. */
export async function queryUdp(port: number, query: Buffer, address = '127.0.0.1'): Promise<Buffer> {
  const sock = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      sock.once('message', resolve);
      sock.once('error', reject);
      sock.send(query, port, address);
    });
  } finally {
    sock.close();
  }
}

/** Sends queries to `port` over one TCP connection and returns the responses in arrival order. */
export async function queryTcp(port: number, queries: Buffer[], address = '127.0.0.1'): Promise<Buffer[]> {
  const sock = net.connect({ port, host: address });
  const out: Buffer[] = [];
  try {
    return await new Promise<Buffer[]>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      sock.on('error', reject);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + out[out.length - 1].length);
          if (out.length === queries.length) resolve(out);
        }
      });
      sock.on('close', () => reject(new Error(`connection closed after ${out.length} responses`)));
      for (const q of queries) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        sock.write(Buffer.concat([len, q]));
      }
    });
  } finally {
    sock.destroy();
  }
}

/** An A/AAAA/any query's bytes. */
export function query(name: string, type: dnsPacket.RecordType = 'A', opts: { id?: number; edns?: number } = {}): Buffer {
  const additionals: dnsPacket.Answer[] = opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as unknown as dnsPacket.Answer] : [];
  return dnsPacket.encode({ type: 'query', id: opts.id ?? 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], additionals });
}

/** A decoded response, loosely typed for assertions. */
export interface Decoded {
  readonly id: number;
  readonly rcode: string;
  readonly flag_tc: boolean;
  readonly answers: { type: string; name: string; ttl: number; data: unknown }[];
  readonly additionals: { type: string }[];
}

/** Decodes a response for assertions. */
export function decode(b: Buffer): Decoded {
  return dnsPacket.decode(b) as unknown as Decoded;
}

/** The `dns` section of a minimal config, with the listeners moved to free loopback ports. */
export function dnsConfig(section: Record<string, unknown>): DnsConfig {
  const doc = {
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
    outbounds: [{ tag: 'direct', type: 'direct' }, { tag: 'deny', type: 'block' }],
    route: { final: 'direct' },
    dns: { listen: ['127.0.0.1:1053'], ...section },
  };
  const dns = parseConfig(JSON.stringify(doc), { baseDir: '/', format: 'json' }).dns!;
  return { ...dns, listen: [{ address: '127.0.0.1', port: 0 }] };
}


/** A self-signed certificate for `dns.test` and 127.0.0.1, made with openssl, for the DoT and DoH tests. */
export function certificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dns-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=dns.test', '-addext', 'subjectAltName=DNS:dns.test,IP:127.0.0.1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
