import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { DnsResolver, IpNameMap, inspectResponse, MalformedQuery, parseConfig, type DnsUpstream } from '@sluice/core';
import { fuzzTimeoutMs, runFuzz } from './harness';
import type { Prng } from './prng';

/*
 * DNS messages as the resolver meets them: a client's query (valid ones,
 * mutated: bit flips, truncation, random tails, garbage) and an upstream's
 * answer made from it. The resolver never throws, always answers with a
 * DNS header carrying the query's ID, answers FORMERR to what it cannot
 * parse, and parses nothing past a message's end.
 */

const NAMES = ['a.test', 'www.example.com', 'x', 'very.long.name.with.many.labels.example.org', 'xn--bcher-kva.example'];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'TXT', 'MX', 'CNAME', 'SRV', 'NS', 'PTR'];

function validQuery(rng: Prng): Buffer {
  const additionals = rng.chance(0.5) ? [{ type: 'OPT', name: '.', udpPayloadSize: rng.range(0, 65535), flags: rng.chance(0.5) ? dnsPacket.DNSSEC_OK : 0 } as unknown as dnsPacket.Answer] : [];
  return dnsPacket.encode({ type: 'query', id: rng.int(65536), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: rng.pick(TYPES), name: rng.pick(NAMES), class: 'IN' }], additionals });
}

function mutate(rng: Prng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const flips = rng.int(4);
  for (let i = 0; i < flips && out.length > 0; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
  if (rng.chance(0.3)) return out.subarray(0, rng.int(out.length + 1));
  if (rng.chance(0.2)) return Buffer.concat([out, rng.bytes(rng.size(40))]);
  return out;
}

function input(rng: Prng): Buffer {
  if (rng.chance(0.15)) return rng.bytes(rng.size(80));
  const q = validQuery(rng);
  return rng.chance(0.3) ? q : mutate(rng, q);
}

/** An upstream that answers from the query: one A record, sometimes a mangled answer. */
const upstream = (rng: { mangle: boolean }): DnsUpstream => ({
  tag: 'fuzz',
  address: 'udp://192.0.2.53',
  exchange: async (query) => {
    const p = dnsPacket.decode(query);
    const r = dnsPacket.encode({ id: p.id, type: 'response', flags: 0, questions: p.questions, answers: [{ type: 'A', name: p.questions![0].name, ttl: 60, data: '192.0.2.1' } as dnsPacket.Answer] });
    return rng.mangle ? r.subarray(0, Math.max(12, r.length - 3)) : r;
  },
});

describe('fuzz: dns queries', () => {
  it('the resolver answers every input with a header of its ID; FORMERR for what it cannot parse', async function () {
    this.timeout(fuzzTimeoutMs());
    const config = parseConfig(
      JSON.stringify({ inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }], outbounds: [{ tag: 'direct', type: 'direct' }], dns: { listen: ['127.0.0.1:1053'], upstreams: ['udp://192.0.2.53'], hosts: { 'x': '192.0.2.9' } } }),
      { baseDir: '/', format: 'json' },
    ).dns!;
    const mangle = { mangle: false };
    const resolver = new DnsResolver({ config, upstreams: new Map([['fuzz', upstream(mangle)]]), logger: pino({ level: 'silent' }), mapping: new IpNameMap(1000) });
    const report = await runFuzz({
      name: 'dns query',
      generate: (rng) => ({ bytes: input(rng), mangle: rng.chance(0.1), tcp: rng.chance(0.5) }),
      show: (i) => `<${i.bytes.toString('hex')}> mangle=${i.mangle} tcp=${i.tcp}`,
      check: async ({ bytes, mangle: m, tcp }) => {
        mangle.mangle = m;
        const response = await resolver.handle(bytes, { client: { address: '192.0.2.2', port: 5353 }, transport: tcp ? 'tcp' : 'udp' });
        assert.ok(response.length >= 12, 'a whole header');
        assert.ok((response[2] & 0x80) !== 0, 'QR set');
        if (bytes.length >= 2) assert.equal(response.readUInt16BE(0), bytes.readUInt16BE(0), 'the query ID');
        try {
          inspectResponse(response);
        } catch (err) {
          assert.ok(err instanceof MalformedQuery, String(err));
          assert.fail(`the resolver sent a malformed message: ${(err as Error).message}`);
        }
      },
    });
    assert.ok(report.inputs > 0);
    assert.ok(resolver.counters.malformed > 0 && resolver.counters.queries === report.inputs);
  });
});

/** Record data of each type a response may carry, well-formed. */
function randomAnswer(rng: Prng, name: string): dnsPacket.Answer {
  const ttl = rng.pick([0, 1, 60, 300, 0x7fffffff, 0xffffffff]);
  switch (rng.int(5)) {
    case 0:
      return { type: 'A', name, ttl, data: `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}` };
    case 1:
      return { type: 'AAAA', name, ttl, data: rng.pick(['2001:db8::1', '::', '::1', 'fe80::1:2:3:4', '2001:db8:0:0:1:0:0:1']) };
    case 2:
      return { type: 'CNAME', name, ttl, data: rng.pick(NAMES) };
    case 3:
      return { type: 'TXT', name, ttl, data: rng.bytes(rng.size(40)).toString('latin1') };
    default:
      return { type: 'MX', name, ttl, data: { preference: rng.int(65536), exchange: rng.pick(NAMES) } };
  }
}

/**
 * What an upstream sends back for `query`: a response of random records (an
 * SOA in the authority section now and then), as is or mutated, or garbage.
 * Whatever it is carries the query's ID, as the transports deliver only such
 * replies (and put the client's ID back).
 */
function upstreamResponse(rng: Prng, query: Buffer): Buffer {
  let r: Buffer;
  if (rng.chance(0.1)) r = rng.bytes(rng.range(12, 120));
  else {
    const q = dnsPacket.decode(query);
    const name = q.questions![0].name;
    const answers = Array.from({ length: rng.size(6) }, () => randomAnswer(rng, rng.chance(0.8) ? name : rng.pick(NAMES)));
    const authorities = rng.chance(0.3)
      ? [{ type: 'SOA', name, ttl: rng.pick([0, 60, 3600]), data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: rng.pick([0, 30, 86400]) } } as dnsPacket.Answer]
      : [];
    // A response large enough that a UDP client with a small EDNS size must get a truncated one.
    if (rng.chance(0.05)) for (let i = 0; i < 40; i++) answers.push({ type: 'TXT', name, ttl: 60, data: 'x'.repeat(200) });
    r = dnsPacket.encode({ id: 0, type: 'response', flags: rng.pick([0, dnsPacket.RECURSION_AVAILABLE, 3, 2]), questions: rng.chance(0.9) ? q.questions : [], answers, authorities });
    if (rng.chance(0.6)) r = mutate(rng, r);
    // A compression pointer somewhere, pointing anywhere (loops too).
    if (rng.chance(0.1) && r.length > 14) {
      const at = rng.range(12, r.length - 2);
      r[at] = 0xc0 | rng.int(0x40);
      r[at + 1] = rng.int(256);
    }
  }
  const out = Buffer.from(r.length >= 12 ? r : Buffer.concat([r, Buffer.alloc(12 - r.length)]));
  out.writeUInt16BE(query.readUInt16BE(0), 0);
  return out;
}

describe('fuzz: dns upstream responses', () => {
  it('whatever an upstream answers, the resolver answers the client with a well-formed message of its ID, or SERVFAIL', async function () {
    this.timeout(fuzzTimeoutMs());
    const config = parseConfig(
      JSON.stringify({ inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }], outbounds: [{ tag: 'direct', type: 'direct' }], dns: { listen: ['127.0.0.1:1053'], upstreams: ['udp://192.0.2.53'] } }),
      { baseDir: '/', format: 'json' },
    ).dns!;
    const next: { response?: Buffer } = {};
    const upstreamOf: DnsUpstream = {
      tag: 'fuzz',
      address: 'udp://192.0.2.53',
      exchange: async () => next.response!,
    };
    const mapping = new IpNameMap(1000);
    const resolver = new DnsResolver({ config, upstreams: new Map([['fuzz', upstreamOf]]), logger: pino({ level: 'silent' }), mapping });
    let servfail = 0;
    const report = await runFuzz({
      name: 'dns upstream response',
      generate: (rng) => {
        // Mostly a name not asked before, so the upstream's response is read (not the cache's copy of an earlier one).
        const name = rng.chance(0.9) ? `n${rng.next()}.fuzz.test` : rng.pick(NAMES);
        const query = dnsPacket.encode({ type: 'query', id: rng.int(65536), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: rng.pick(TYPES), name, class: 'IN' }], additionals: rng.chance(0.5) ? [{ type: 'OPT', name: '.', udpPayloadSize: rng.range(0, 4096) } as unknown as dnsPacket.Answer] : [] });
        return { query, response: upstreamResponse(rng, query), tcp: rng.chance(0.3) };
      },
      show: (i) => `query <${i.query.toString('hex')}> response <${i.response.toString('hex')}> tcp=${i.tcp}`,
      check: async ({ query, response: upstream, tcp }) => {
        next.response = upstream;
        const response = await resolver.handle(query, { client: { address: '192.0.2.2', port: 5353 }, transport: tcp ? 'tcp' : 'udp' });
        assert.equal(response.readUInt16BE(0), query.readUInt16BE(0), 'the query ID');
        assert.ok((response[2] & 0x80) !== 0, 'QR set');
        try {
          inspectResponse(response);
        } catch (err) {
          assert.ok(err instanceof MalformedQuery, String(err));
          assert.fail(`the resolver sent a malformed message: ${(err as Error).message}`);
        }
        if ((response[3] & 0xf) === 2) servfail++;
      },
    });
    console.log(`      fuzz dns upstream response: ${servfail} of ${report.inputs} answered SERVFAIL (the upstream's response was malformed), ${resolver.counters.cacheHits} from the cache`);
    assert.ok(servfail > 0 && servfail < report.inputs, 'both malformed and well-formed upstream responses were generated');
  });
});
