import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { DnsResolver, IpNameMap, inspectResponse, MalformedQuery, parseConfig, type DnsUpstream } from '@sluice/core';
import { runFuzz } from './harness';
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
  it('the resolver answers every input with a header of its ID; FORMERR for what it cannot parse', async () => {
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
