import type { Logger } from 'pino';
import type { Outbound } from '../adapter/outbound';
import type { DnsUpstreamConfig } from '../config/dns';
import { ErrorCode, SluiceError } from '../errors';
import { outboundTransport, plainTransport } from './transport';
import { TcpUpstream, TlsUpstream, UdpUpstream, type DnsUpstream, type UpstreamTlsOptions } from './upstream';
import { HttpsUpstream } from './upstream-https';
import { canonicalIp } from './fake-ip-pool';

const DEFAULT_PORT: Record<string, number> = { 'udp:': 53, 'tcp:': 53, 'tls:': 853 };

/** What {@link createUpstream} needs besides the entry. */
export interface UpstreamDeps {
  /** The outbound a `via` names. */
  readonly outbound: (tag: string) => Outbound | undefined;
  readonly logger: Logger;
  readonly tls?: UpstreamTlsOptions;
}

/** Builds the upstream of one `dns.upstreams` entry (already validated by the config reader). */
export function createUpstream(c: DnsUpstreamConfig, deps: UpstreamDeps): DnsUpstream {
  let transport = plainTransport;
  if (c.via !== undefined) {
    if (!deps.outbound(c.via)) throw new SluiceError(ErrorCode.CONFIG, `dns.upstreams: unknown outbound "${c.via}"`);
    transport = outboundTransport(c.via, deps.outbound, deps.logger.child({ upstream: c.tag }));
  }
  const url = new URL(c.address);
  if (url.protocol === 'https:') return new HttpsUpstream(c.tag, c.address, transport, deps.tls, c.method);
  const bare = url.hostname.replace(/^\[|\]$/g, '');
  // Canonical, as the kernel reports a reply's source: responses are matched by it.
  const server = { host: canonicalIp(bare) ?? bare, port: url.port === '' ? DEFAULT_PORT[url.protocol] : Number(url.port) };
  switch (url.protocol) {
    case 'udp:':
      return new UdpUpstream(c.tag, c.address, server, transport);
    case 'tcp:':
      return new TcpUpstream(c.tag, c.address, server, transport);
    case 'tls:':
      return new TlsUpstream(c.tag, c.address, server, transport, deps.tls);
    default:
      throw new SluiceError(ErrorCode.CONFIG, `dns.upstreams: unsupported upstream ${c.address}`);
  }
}
