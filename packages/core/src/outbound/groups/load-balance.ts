import type { FlowMetadata } from '../../adapter/flow';
import type { Outbound } from '../../adapter/outbound';
import { rendezvousOrder, siteKey } from './consistent-hash';
import { GroupOutbound, type GroupParts } from './group-outbound';
import type { LoadBalanceStrategy } from './options';
import { StickySessions } from './sticky-sessions';

/**
 * `load-balance`: spreads flows over the healthy members.
 * - `consistent-hashing`: by the flow's site ({@link siteKey}), with
 *   rendezvous hashing, so a site stays on one member and a member going
 *   down moves only its own sites.
 * - `round-robin`: each flow to the next healthy member.
 * - `sticky-sessions`: a source IP and destination stay on one member for
 *   `sticky_ttl_ms` after their last flow; new pairs are placed by hashing.
 * Unhealthy members are tried only after every healthy one failed.
 */
export class LoadBalanceGroup extends GroupOutbound {
  readonly type = 'load-balance' as const;
  private turn = 0;
  private readonly sticky: StickySessions | undefined;

  constructor(
    tag: string,
    members: readonly Outbound[],
    parts: GroupParts,
    readonly strategy: LoadBalanceStrategy,
    stickyTtlMs: number,
    now?: () => number,
  ) {
    super(tag, members, parts);
    if (strategy === 'sticky-sessions') this.sticky = new StickySessions(stickyTtlMs, undefined, now);
  }

  protected order(candidates: readonly Outbound[], flow: FlowMetadata): readonly Outbound[] {
    const up = candidates.filter((m) => this.health.isAlive(m.tag));
    const down = candidates.filter((m) => !this.health.isAlive(m.tag));
    if (this.strategy === 'round-robin') {
      const list = up.length > 0 ? up : down;
      const start = this.turn++ % list.length;
      if (this.turn >= Number.MAX_SAFE_INTEGER) this.turn = 0;
      return [...list.slice(start), ...list.slice(0, start), ...(up.length > 0 ? down : [])];
    }
    if (this.strategy === 'consistent-hashing') {
      const key = siteKey(flow);
      return [...rendezvousOrder(key, up), ...rendezvousOrder(key, down)];
    }
    const key = `${flow.src.address}|${flow.dst.host ?? flow.dst.address}`;
    const kept = this.sticky!.get(key);
    const ordered = [...rendezvousOrder(key, up), ...rendezvousOrder(key, down)];
    const keptMember = up.find((m) => m.tag === kept);
    const result = keptMember ? [keptMember, ...ordered.filter((m) => m !== keptMember)] : ordered;
    this.sticky!.set(key, result[0]!.tag);
    return result;
  }

  protected current(): string | undefined {
    return this.last;
  }
}
