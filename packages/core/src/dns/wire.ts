import ipaddr from 'ipaddr.js';

/** RR type of the EDNS(0) pseudo-record, whose TTL field holds flags, not a TTL. */
const OPT = 41;
const SOA = 6;
const HEADER = 12;

/** What the resolver needs to know of a client's query. */
export interface QueryInfo {
  readonly id: number;
  /** Lower-case, no trailing dot. */
  readonly name: string;
  /** Numeric RR type (1 = A, 28 = AAAA…), so unknown types pass through unchanged. */
  readonly type: number;
  readonly qclass: number;
  /** The client's UDP payload limit: 512, or its EDNS(0) size. */
  readonly udpSize: number;
  /** The query carried an OPT record (synthesised answers then carry one too). */
  readonly edns: boolean;
  /** DNSSEC OK bit. */
  readonly dnssecOk: boolean;
  readonly checkingDisabled: boolean;
}

/** Thrown for a query that cannot be answered other than with FORMERR. */
export class MalformedQuery extends Error {}

/** Reads a wire name starting at `off`; returns the offset after it (pointers are followed for bounds only). */
function skipName(buf: Buffer, off: number): number {
  for (let labels = 0; labels < 128; labels++) {
    if (off >= buf.length) throw new MalformedQuery('name runs past the end');
    const len = buf[off];
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) {
      if (off + 2 > buf.length) throw new MalformedQuery('pointer runs past the end');
      return off + 2;
    }
    if ((len & 0xc0) !== 0) throw new MalformedQuery('bad label type');
    off += 1 + len;
  }
  throw new MalformedQuery('too many labels');
}

/** Reads a name (following compression pointers) as lower-case dotted text. */
function readName(buf: Buffer, off: number): string {
  const labels: string[] = [];
  for (let hops = 0; hops < 128; hops++) {
    if (off >= buf.length) throw new MalformedQuery('name runs past the end');
    const len = buf[off];
    if (len === 0) return labels.join('.').toLowerCase();
    if ((len & 0xc0) === 0xc0) {
      if (off + 2 > buf.length) throw new MalformedQuery('pointer runs past the end');
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    if ((len & 0xc0) !== 0 || off + 1 + len > buf.length) throw new MalformedQuery('bad label');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  throw new MalformedQuery('name too long');
}

/**
 * Parses a client's query: exactly one question, opcode QUERY, QR clear.
 * Record walking is done here rather than by a full decode so that any
 * record type and option in the additional section is accepted as it is.
 *
 * @throws {MalformedQuery} for anything that must be answered with FORMERR.
 */
export function parseQuery(buf: Buffer): QueryInfo {
  if (buf.length < HEADER) throw new MalformedQuery('shorter than a DNS header');
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) throw new MalformedQuery('not a query (QR set)');
  if (((flags >> 11) & 0xf) !== 0) throw new MalformedQuery('opcode is not QUERY');
  if (buf.readUInt16BE(4) !== 1) throw new MalformedQuery('not exactly one question');
  const name = readName(buf, HEADER);
  let off = skipName(buf, HEADER);
  if (off + 4 > buf.length) throw new MalformedQuery('question runs past the end');
  const type = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  let udpSize = 512;
  let edns = false;
  let dnssecOk = false;
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  for (let i = 0; i < records; i++) {
    off = skipName(buf, off);
    if (off + 10 > buf.length) throw new MalformedQuery('record runs past the end');
    const rrType = buf.readUInt16BE(off);
    const rdlen = buf.readUInt16BE(off + 8);
    if (rrType === OPT) {
      if (edns) throw new MalformedQuery('more than one OPT record');
      edns = true;
      udpSize = Math.max(512, buf.readUInt16BE(off + 2));
      dnssecOk = (buf.readUInt16BE(off + 6) & 0x8000) !== 0;
    }
    off += 10 + rdlen;
    if (off > buf.length) throw new MalformedQuery('record data runs past the end');
  }
  return { id: buf.readUInt16BE(0), name, type, qclass, udpSize, edns, dnssecOk, checkingDisabled: (flags & 0x10) !== 0 };
}

/** The response's RCODE (low four bits; extended RCODEs are not needed here). */
export function rcodeOf(response: Buffer): number {
  return response.length >= 4 ? response[3] & 0xf : 2;
}

/** Visits each answer, authority and additional record of a response. */
function walkRecords(buf: Buffer, visit: (section: 0 | 1 | 2, type: number, off: number, rdOff: number, rdlen: number) => void): void {
  let off = HEADER;
  const qd = buf.readUInt16BE(4);
  for (let i = 0; i < qd; i++) off = skipName(buf, off) + 4;
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      off = skipName(buf, off);
      if (off + 10 > buf.length) throw new MalformedQuery('record runs past the end');
      const type = buf.readUInt16BE(off);
      const rdlen = buf.readUInt16BE(off + 8);
      if (off + 10 + rdlen > buf.length) throw new MalformedQuery('record data runs past the end');
      visit(s as 0 | 1 | 2, type, off, off + 10, rdlen);
      off += 10 + rdlen;
    }
  }
}

/** What the cache and the IP → name mapping read from an upstream's response. */
export interface ResponseInfo {
  readonly rcode: number;
  /** Smallest TTL of the answer section (seconds); undefined when it is empty. */
  readonly minAnswerTtl: number | undefined;
  /** The negative-caching TTL: the SOA's minimum (capped by its own TTL) in the authority section. */
  readonly soaTtl: number | undefined;
  /** A and AAAA addresses of the answer section, with their TTLs. */
  readonly addresses: readonly { readonly address: string; readonly ttl: number }[];
  readonly truncated: boolean;
}

/** Reads a response without re-encoding it. @throws {MalformedQuery} when it is not a well-formed message. */
export function inspectResponse(buf: Buffer): ResponseInfo {
  if (buf.length < HEADER) throw new MalformedQuery('shorter than a DNS header');
  // A message with QR clear is a query, whatever an upstream meant by it: passed on, the client would drop it and wait.
  if ((buf[2] & 0x80) === 0) throw new MalformedQuery('not a response (QR clear)');
  let minAnswerTtl: number | undefined;
  let soaTtl: number | undefined;
  const addresses: { address: string; ttl: number }[] = [];
  walkRecords(buf, (section, type, off, rdOff, rdlen) => {
    if (type === OPT) return;
    const ttl = buf.readUInt32BE(off + 4);
    if (section === 0) {
      minAnswerTtl = minAnswerTtl === undefined ? ttl : Math.min(minAnswerTtl, ttl);
      if (type === 1 && rdlen === 4) addresses.push({ address: Array.from(buf.subarray(rdOff, rdOff + 4)).join('.'), ttl });
      if (type === 28 && rdlen === 16) addresses.push({ address: ipv6Text(buf.subarray(rdOff, rdOff + 16)), ttl });
    } else if (section === 1 && type === SOA && rdlen >= 20) {
      soaTtl = Math.min(ttl, buf.readUInt32BE(rdOff + rdlen - 4));
    }
  });
  return { rcode: rcodeOf(buf), minAnswerTtl, soaTtl, addresses, truncated: (buf[2] & 0x02) !== 0 };
}

/** Canonical (compressed, lower-case) IPv6 text of 16 bytes. */
export function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Compress the longest run of two or more zero groups, as inet_ntop does.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * A copy of a cached response for a new client: its query ID, and every TTL
 * (except OPT's flags) lowered by the seconds the entry has been cached.
 */
export function reviseResponse(cached: Buffer, id: number, elapsedSeconds: number): Buffer {
  const out = Buffer.from(cached);
  out.writeUInt16BE(id, 0);
  if (elapsedSeconds > 0) {
    walkRecords(out, (_s, type, off) => {
      if (type !== OPT) out.writeUInt32BE(Math.max(0, out.readUInt32BE(off + 4) - elapsedSeconds), off + 4);
    });
  }
  return out;
}

/** The response with the query's ID: upstream IDs are Sluice's own. */
export function withId(response: Buffer, id: number): Buffer {
  const out = Buffer.from(response);
  out.writeUInt16BE(id, 0);
  return out;
}

/**
 * What goes back over UDP when a response is larger than the client accepts:
 * header and question only, TC set, so the client retries over TCP.
 */
export function truncatedFor(response: Buffer): Buffer {
  // With no question, the header alone: what follows it is the first answer, not a question to keep.
  const end = response.readUInt16BE(4) === 0 ? HEADER : skipName(response, HEADER) + 4;
  const out = Buffer.from(response.subarray(0, end));
  out[2] |= 0x02;
  out.writeUInt16BE(response.readUInt16BE(4) === 0 ? 0 : 1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

/** RCODEs Sluice answers with itself. */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/**
 * A FORMERR answer to bytes that are not a usable query: the ID echoed when
 * there are two bytes of one, nothing else (the question may be garbage).
 */
export function formErr(buf: Buffer): Buffer {
  const out = Buffer.alloc(HEADER);
  if (buf.length >= 2) buf.copy(out, 0, 0, 2);
  const rd = buf.length >= 3 ? buf[2] & 0x01 : 0;
  out[2] = 0x80 | rd;
  out[3] = 0x80 | Rcode.FORMERR;
  return out;
}

/**
 * A response Sluice makes itself (hosts, fake IPs, errors): the query's
 * question echoed, the given answers, an OPT record when the query had one.
 */
export function synthesize(query: Buffer, q: QueryInfo, rcode: number, answers: readonly { type: 'A' | 'AAAA'; data: string; ttl: number }[]): Buffer {
  // The question is copied as bytes: its name keeps the client's spelling and its type may be one dns-packet lacks.
  const qEnd = skipName(query, HEADER) + 4;
  const head = Buffer.from(query.subarray(0, qEnd));
  head.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0110) | 0x0080 | rcode, 2);
  head.writeUInt16BE(answers.length, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(q.edns ? 1 : 0, 10);
  const parts = [head];
  for (const a of answers) {
    const rdata = Buffer.from(ipaddr.parse(a.data).toByteArray());
    const rr = Buffer.alloc(12);
    // The name is a pointer to the question's (offset 12).
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(a.type === 'A' ? 1 : 28, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(a.ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    parts.push(rr, rdata);
  }
  if (q.edns) parts.push(Buffer.from([0, 0, OPT, 0x10, 0x00, 0, 0, q.dnssecOk ? 0x80 : 0, 0, 0, 0]));
  return Buffer.concat(parts);
}
