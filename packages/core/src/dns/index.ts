/**
 * The built-in DNS resolver: listeners, upstreams (udp, tcp, tls, https,
 * optionally through an outbound), cache, hosts, the IP → name mapping and
 * fake IPs. See docs/dns.md.
 */
export { DnsService, type DnsServiceOptions } from './dns-service';
export { DnsResolver, type DnsCounters, type DnsResolverOptions, type QuerySource } from './resolver';
export { DnsServer, type ListenAddress } from './server';
export { DnsCache, type Clock } from './cache';
export { IpNameMap } from './ip-name-map';
export { FakeIp } from './fake-ip';
export { FakeIpRange, canonicalIp, type FakeIpEntries } from './fake-ip-pool';
export { FakeIpStore } from './fake-ip-store';
export { MappingHostResolver, FakeIpHostResolver } from './host-resolver';
export { SuffixNameMatcher, filterMatcher, type NameMatcher, type NamePatterns, type DnsRuleSetLookup } from './name-matcher';
export { TcpUpstream, TlsUpstream, UdpUpstream, type DnsUpstream, type UpstreamTlsOptions } from './upstream';
export { HttpsUpstream, type DohMethod } from './upstream-https';
export { createUpstream, type UpstreamDeps } from './upstreams';
export { plainTransport, outboundTransport, type ReplyFilter, type UpstreamTransport } from './transport';
export { parseQuery, inspectResponse, formErr, MalformedQuery, type QueryInfo, type ResponseInfo } from './wire';
