import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Outbound } from '../adapter/outbound';
import type { HostResolver } from '../adapter/router';
import type { DnsConfig } from '../config/dns';
import { FakeIp } from './fake-ip';
import { FakeIpRange } from './fake-ip-pool';
import { FakeIpStore } from './fake-ip-store';
import { FakeIpHostResolver, MappingHostResolver } from './host-resolver';
import { IpNameMap } from './ip-name-map';
import { filterMatcher, type DnsRuleSetLookup } from './name-matcher';
import { DnsResolver, type DnsCounters } from './resolver';
import { DnsServer } from './server';
import type { DnsUpstream, UpstreamTlsOptions } from './upstream';
import { createUpstream } from './upstreams';

/** What {@link DnsService} needs besides the `dns` section. */
export interface DnsServiceOptions {
  readonly logger: Logger;
  /** The current outbound with a tag (for `via`), asked at each query so reloads are followed. */
  readonly outbound: (tag: string) => Outbound | undefined;
  /** Directory a relative `fake_ip_store` is resolved against. */
  readonly baseDir: string;
  readonly ruleSets?: DnsRuleSetLookup;
  /** TLS settings of `tls://` and `https://` upstreams (tests pass their CA). */
  readonly tls?: UpstreamTlsOptions;
}

/**
 * The built-in resolver as a whole: upstreams, resolver, listeners, the
 * IP → name mapping or fake-IP pools (with their store), and the
 * {@link HostResolver} the dispatcher consults. Started after the outbounds
 * (a `via` needs them) and before the inbounds (a flow needs the names).
 */
export class DnsService {
  readonly resolver: DnsResolver;
  /** What the dispatcher asks for each flow's name. */
  readonly hosts: HostResolver;
  private readonly server: DnsServer;
  private readonly store: FakeIpStore | undefined;
  private readonly upstreams: readonly DnsUpstream[];

  constructor(config: DnsConfig, opts: DnsServiceOptions) {
    const logger = opts.logger;
    const upstreams = new Map<string, DnsUpstream>();
    for (const u of config.upstreams) upstreams.set(u.tag, createUpstream(u, { outbound: opts.outbound, logger, tls: opts.tls }));
    this.upstreams = [...upstreams.values()];
    if (config.mode === 'fake-ip') {
      const ranges = config.fake_ip_range.map((cidr) => new FakeIpRange(cidr, config.mapping_size));
      const path = isAbsolute(config.fake_ip_store) ? config.fake_ip_store : resolve(opts.baseDir, config.fake_ip_store);
      this.store = new FakeIpStore(path, ranges, logger);
      const fakeIp = new FakeIp(ranges, filterMatcher(config.fake_ip_filter, opts.ruleSets), () => this.store!.changed());
      this.resolver = new DnsResolver({ config, upstreams, logger, fakeIp, ruleSets: opts.ruleSets });
      this.hosts = new FakeIpHostResolver(fakeIp, this.resolver, logger);
    } else {
      const mapping = new IpNameMap(config.mapping_size);
      this.resolver = new DnsResolver({ config, upstreams, logger, mapping, ruleSets: opts.ruleSets });
      this.hosts = new MappingHostResolver(mapping);
    }
    this.server = new DnsServer(this.resolver, config.listen, logger);
  }

  /** Loads the fake-IP store (in that mode) and binds the listeners. */
  async start(): Promise<void> {
    await this.store?.load();
    await this.server.start();
  }

  /** Counters for the metrics endpoint. */
  get counters(): DnsCounters {
    return this.resolver.counters;
  }

  /** The listeners' bound ports, in `dns.listen` order. */
  get ports(): { udp: number; tcp: number }[] {
    return this.server.ports;
  }

  /** Closes the listeners and writes the fake-IP store. */
  async close(): Promise<void> {
    await this.server.close();
    // Connections kept open between queries (tcp, tls, https).
    for (const u of this.upstreams) u.close?.();
    await this.store?.close();
  }
}
