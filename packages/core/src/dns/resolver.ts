import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Logger } from 'pino';
import type { Endpoint } from '../adapter/flow';
import { formatEndpoint } from '../util/endpoint';
import { ErrorCode, SluiceError } from '../errors';
import type { DnsConfig } from '../config/dns';
import { DnsCache, type Clock } from './cache';
import type { FakeIp } from './fake-ip';
import type { IpNameMap } from './ip-name-map';
import { SuffixNameMatcher, type NameMatcher, type DnsRuleSetLookup } from './name-matcher';
import type { ReplyFilter } from './transport';
import type { DnsUpstream } from './upstream';
import { answersQuestion, formErr, inspectResponse, MalformedQuery, parseQuery, Rcode, synthesize, truncatedFor, type QueryInfo, type ResponseInfo } from './wire';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
/** TTL of answers Sluice makes itself (hosts, fake IPs): short, so a changed config is seen soon. */
const OWN_TTL = 10;
const UPSTREAM_TIMEOUT_MS = 5000;

/** The resolver's counters, for the metrics endpoint: {@link DnsResolver.counters}. */
export interface DnsCounters {
  /** Queries received (including malformed ones). */
  readonly queries: number;
  /** Queries answered from the cache. */
  readonly cacheHits: number;
  /** Upstream exchanges that failed (timeout, refused, bad answer): each answered SERVFAIL. */
  readonly upstreamErrors: number;
  /**
   * Upstream replies dropped because they answered a different question
   * (name, type or class) than asked: over UDP each is discarded and the
   * query waits on for the genuine reply; over a stream the query fails.
   */
  readonly mismatchedReplies: number;
  /** Queries answered FORMERR. */
  readonly malformed: number;
  /** Entries of the IP → name mapping (`mapping` mode) or of the fake-IP pools (`fake-ip`). */
  readonly mappingSize: number;
  /** Responses held in the cache. */
  readonly cacheSize: number;
}

/** What {@link DnsResolver} is built from. */
export interface DnsResolverOptions {
  readonly config: DnsConfig;
  /** By tag, in `dns.upstreams` order; the first answers names no rule sends elsewhere. */
  readonly upstreams: ReadonlyMap<string, DnsUpstream>;
  readonly logger: Logger;
  /** `mapping` mode: where answered addresses are remembered. */
  readonly mapping?: IpNameMap;
  /** `fake-ip` mode: the pools and filter. */
  readonly fakeIp?: FakeIp;
  readonly ruleSets?: DnsRuleSetLookup;
  readonly clock?: Clock;
  /** How long an upstream exchange may take before the client gets SERVFAIL; 5000 ms by default. */
  readonly upstreamTimeoutMs?: number;
}

/** Where a query came in, for the debug line and the UDP size limit. */
export interface QuerySource {
  readonly client: Endpoint;
  readonly transport: 'udp' | 'tcp';
}

/**
 * Answers DNS queries: `hosts`, then fake IPs (in `fake-ip` mode, for names
 * the filter lets through), then the cache, then the upstream the rules name.
 * Upstream answers go back byte for byte (only the ID is the client's), so
 * every record type and EDNS(0) option passes unchanged. Never throws: a bad
 * query gets FORMERR, a failed upstream SERVFAIL.
 */
export class DnsResolver {
  private readonly cache: DnsCache;
  private readonly rules: readonly { readonly matcher: NameMatcher; readonly upstream: DnsUpstream }[];
  private readonly fallback: DnsUpstream;
  private readonly stats = { queries: 0, cacheHits: 0, upstreamErrors: 0, malformed: 0, mismatchedReplies: 0 };

  constructor(private readonly opts: DnsResolverOptions) {
    this.cache = new DnsCache(opts.config.cache, opts.clock);
    const first = opts.upstreams.values().next();
    if (first.done) throw new Error('dns: no upstream');
    this.fallback = first.value;
    this.rules = opts.config.rules.map((r) => ({ matcher: new SuffixNameMatcher(r, opts.ruleSets), upstream: opts.upstreams.get(r.upstream)! }));
  }

  /** A snapshot of the counters. */
  get counters(): DnsCounters {
    const mappingSize = this.opts.mapping?.size ?? this.opts.fakeIp?.size ?? 0;
    return { ...this.stats, mappingSize, cacheSize: this.cache.size };
  }

  /** The response to one query (wire bytes in, wire bytes out), sized for `source.transport`. */
  async handle(query: Buffer, source: QuerySource): Promise<Buffer> {
    this.stats.queries++;
    const started = this.opts.logger.isLevelEnabled('debug') ? Date.now() : 0;
    let q: QueryInfo;
    try {
      q = parseQuery(query);
    } catch (err) {
      this.stats.malformed++;
      this.opts.logger.debug({ client: clientText(source), err: (err as Error).message }, 'dns query malformed: FORMERR');
      return formErr(query);
    }
    const { response, upstream, cached } = await this.answer(query, q);
    const log = this.opts.logger;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        { client: clientText(source), name: q.name, type: typeName(q.type), upstream, answers: response.readUInt16BE(6), rcode: response[3] & 0xf, cached, ms: Date.now() - started },
        'dns query',
      );
    }
    if (source.transport === 'udp' && response.length > q.udpSize) return truncatedFor(response);
    return response;
  }

  private async answer(query: Buffer, q: QueryInfo): Promise<{ response: Buffer; upstream: string; cached: boolean }> {
    const isAddress = q.qclass === CLASS_IN && (q.type === TYPE_A || q.type === TYPE_AAAA);
    const hosts = this.opts.config.hosts[q.name];
    if (hosts !== undefined) {
      const family = q.type === TYPE_A ? 4 : 6;
      const answers = isAddress ? hosts.filter((a) => isIP(a) === family).map((data) => ({ type: q.type === TYPE_A ? ('A' as const) : ('AAAA' as const), data, ttl: OWN_TTL })) : [];
      return { response: synthesize(query, q, Rcode.NOERROR, answers), upstream: 'hosts', cached: false };
    }
    const fake = this.opts.fakeIp;
    if (fake && isAddress && !fake.filtered(q.name)) {
      const address = fake.allocate(q.name, q.type === TYPE_A ? 4 : 6);
      const answers = address === undefined ? [] : [{ type: q.type === TYPE_A ? ('A' as const) : ('AAAA' as const), data: address, ttl: 1 }];
      return { response: synthesize(query, q, Rcode.NOERROR, answers), upstream: 'fake-ip', cached: false };
    }
    return this.forward(query, q);
  }

  /** The cache, else the upstream the rules pick; the answer's addresses are remembered in `mapping` mode. */
  private async forward(query: Buffer, q: QueryInfo): Promise<{ response: Buffer; upstream: string; cached: boolean; info?: ResponseInfo }> {
    const key = DnsCache.key(q.name, q.type, q.qclass, q.dnssecOk, q.checkingDisabled);
    const hit = this.cache.get(key, q.id);
    if (hit) {
      this.stats.cacheHits++;
      const info = safeInspect(hit);
      if (info) this.remember(q.name, info);
      return { response: hit, upstream: 'cache', cached: true, info };
    }
    const upstream = this.upstreamFor(q.name);
    let response: Buffer;
    let info: ResponseInfo;
    const filter = this.replyFilter(upstream, q);
    // A timer cleared on the answer: AbortSignal.timeout's timers stay until they fire.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(timedOut(upstream, filter.count)), this.opts.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS);
    try {
      response = await upstream.exchange(query, controller.signal, filter);
      // A stream upstream (or a UDP one's TCP retry) returns what its connection answered: a wrong answer there fails the query.
      if (!answersQuestion(response, q)) {
        this.stats.mismatchedReplies++;
        throw new SluiceError(ErrorCode.UPSTREAM, `dns: upstream ${upstream.tag} answered a different question than ${q.name} ${typeName(q.type)}`);
      }
      info = inspectResponse(response);
    } catch (err) {
      this.stats.upstreamErrors++;
      this.opts.logger.debug({ upstream: upstream.tag, name: q.name, err: (err as Error).message }, 'dns upstream failed: SERVFAIL');
      return { response: synthesize(query, q, Rcode.SERVFAIL, []), upstream: upstream.tag, cached: false };
    } finally {
      clearTimeout(timer);
    }
    this.cache.put(key, response, info);
    this.remember(q.name, info);
    return { response, upstream: upstream.tag, cached: false, info };
  }

  /**
   * The filter a UDP upstream applies to replies to `q` (RFC 5452 §9.1): one
   * that answers another question is counted, logged and discarded, and the
   * query keeps waiting for the genuine reply.
   */
  private replyFilter(upstream: DnsUpstream, q: QueryInfo): ReplyFilter & { readonly count: number } {
    let count = 0;
    return {
      get count() {
        return count;
      },
      accepts: (reply) => answersQuestion(reply, q),
      discarded: (_reply, from) => {
        count++;
        this.stats.mismatchedReplies++;
        this.opts.logger.debug({ upstream: upstream.tag, name: q.name, type: typeName(q.type), from: formatEndpoint(from) }, 'dns upstream reply to another question discarded');
      },
    };
  }

  private remember(name: string, info: ResponseInfo): void {
    const mapping = this.opts.mapping;
    if (!mapping) return;
    for (const a of info.addresses) mapping.remember(a.address, name, a.ttl);
  }

  private upstreamFor(name: string): DnsUpstream {
    for (const r of this.rules) if (r.matcher.matches(name)) return r.upstream;
    return this.fallback;
  }

  /**
   * A real address of `name` through the cache and upstreams (never a fake
   * one): what a flow to a fake IP is dialled at. Undefined when there is none.
   */
  async realAddress(name: string, family: 4 | 6): Promise<string | undefined> {
    const type = family === 4 ? 'A' : 'AAAA';
    const query = dnsPacket.encode({ type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    const q = parseQuery(query);
    const hosts = this.opts.config.hosts[q.name]?.find((a) => isIP(a) === family);
    if (hosts !== undefined) return hosts;
    const { response, info, upstream } = await this.forward(query, q);
    const found = (info ?? safeInspect(response))?.addresses.find((a) => isIP(a.address) === family);
    if (!found) this.opts.logger.debug({ name: q.name, type, upstream, rcode: response[3] & 0xf, answers: response.readUInt16BE(6) }, 'dns: no address for a fake-IP flow');
    return found?.address;
  }
}

/** The error of a query its upstream did not answer in time, saying how many replies to another question were discarded meanwhile. */
function timedOut(upstream: DnsUpstream, discarded: number): SluiceError {
  const why = discarded === 0 ? '' : ` (${discarded} ${discarded === 1 ? 'reply' : 'replies'} to another question discarded)`;
  return new SluiceError(ErrorCode.DIAL_TIMEOUT, `dns: upstream ${upstream.tag} timed out${why}`);
}

function safeInspect(response: Buffer): ResponseInfo | undefined {
  try {
    return inspectResponse(response);
  } catch (err) {
    if (err instanceof MalformedQuery) return undefined;
    throw err;
  }
}

function clientText(s: QuerySource): string {
  const a = s.client.address.includes(':') ? `[${s.client.address}]` : s.client.address;
  return `${s.transport}:${a}:${s.client.port}`;
}

const TYPE_NAMES: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY' };

function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE${type}`;
}
