import type { Logger } from 'pino';
import type { FlowMetadata } from '../adapter/flow';
import type { HostResolution, HostResolver } from '../adapter/router';
import { ErrorCode, SluiceError } from '../errors';
import { RateLimitedLog } from '../util/rate-limited-log';
import type { FakeIp } from './fake-ip';
import type { IpNameMap } from './ip-name-map';
import type { DnsResolver } from './resolver';

/**
 * `mode: mapping`: a flow without a host gets the name its destination was
 * answered for; a sniffed name is left as it is (it wins).
 */
export class MappingHostResolver implements HostResolver {
  constructor(private readonly mapping: IpNameMap) {}

  /** The name last answered for the flow's address, unless the flow already has one. */
  resolve(flow: FlowMetadata): HostResolution | undefined {
    if (flow.dst.host !== undefined) return undefined;
    const name = this.mapping.lookup(flow.dst.address);
    return name === undefined ? undefined : { dst: { ...flow.dst, host: name } };
  }
}

/**
 * `mode: fake-ip`: a flow to a fake address carries the exact name it was
 * handed out for, and is dialled at a real address of that name (resolved
 * through the upstreams; a SOCKS outbound sends the name). A fake address
 * with no known name is refused: it must never be dialled as it is.
 */
export class FakeIpHostResolver implements HostResolver {
  private readonly warnings: RateLimitedLog;

  constructor(
    private readonly fakeIp: FakeIp,
    private readonly resolver: DnsResolver,
    logger: Logger,
  ) {
    this.warnings = new RateLimitedLog(logger);
  }

  /** For a flow to a fake address: its name and a real address; undefined for other flows. @throws when the fake address has no name. */
  resolve(flow: FlowMetadata): Promise<HostResolution> | undefined {
    const { address, port } = flow.dst;
    if (!this.fakeIp.contains(address)) return undefined;
    const name = this.fakeIp.lookup(address);
    if (name === undefined) {
      this.warnings.warn('fake-ip-unknown', { flowId: flow.id, dst: address }, 'refused a flow to a fake IP with no known name (handed out before the store was lost, or evicted)');
      throw new SluiceError(ErrorCode.BLOCKED, `dns: ${address} is a fake IP with no known name`);
    }
    const family = address.includes(':') ? 6 : 4;
    return this.resolver.realAddress(name, family).then(async (real) => {
      // A name with no address of the flow's family may have one of the other.
      const found = real ?? (await this.resolver.realAddress(name, family === 4 ? 6 : 4));
      if (found === undefined) throw new SluiceError(ErrorCode.DIAL, `dns: ${name} (fake IP ${address}) has no address`);
      return { dst: { address: found, port, host: name } };
    });
  }
}
