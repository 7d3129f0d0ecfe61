import type { FlowMetadata } from '../../adapter/flow';
import type { Outbound } from '../../adapter/outbound';
import { GroupOutbound, type GroupParts } from './group-outbound';

/**
 * `url-test`: the healthy member with the lowest measured delay. It keeps its
 * current member until another one is faster by more than `tolerance_ms`
 * (so two members of about the same speed do not make it flap), and leaves
 * it at once when it goes down. Before the first check, the first member.
 */
export class UrlTestGroup extends GroupOutbound {
  readonly type = 'url-test' as const;
  private now: Outbound;

  constructor(
    tag: string,
    members: readonly Outbound[],
    parts: GroupParts,
    readonly toleranceMs: number,
  ) {
    super(tag, members, parts);
    this.now = members[0]!;
  }

  protected override healthChanged(): void {
    const alive = this.members.filter((m) => this.health.isAlive(m.tag));
    let best: Outbound | undefined;
    for (const m of alive) {
      const d = this.health.delayOf(m.tag);
      if (d !== undefined && (best === undefined || d < this.health.delayOf(best.tag)!)) best = m;
    }
    const was = this.now;
    if (!this.health.isAlive(this.now.tag)) {
      this.now = best ?? alive[0] ?? this.now;
    } else if (best) {
      const current = this.health.delayOf(this.now.tag);
      if (current === undefined || this.health.delayOf(best.tag)! + this.toleranceMs < current) this.now = best;
    }
    if (this.now !== was) this.logger.info({ group: this.tag, from: was.tag, to: this.now.tag, delayMs: this.health.delayOf(this.now.tag) }, 'url-test switched member');
  }

  protected override adoptChoice(now: string | undefined): void {
    this.now = this.members.find((m) => m.tag === now) ?? this.now;
  }

  /** The current member first, then the other healthy ones fastest first, then the rest. */
  protected order(candidates: readonly Outbound[], _flow: FlowMetadata): readonly Outbound[] {
    const delay = (m: Outbound): number => this.health.delayOf(m.tag) ?? Number.POSITIVE_INFINITY;
    const rest = this.healthyFirst(candidates.filter((m) => m !== this.now));
    const up = rest.filter((m) => this.health.isAlive(m.tag)).sort((a, b) => delay(a) - delay(b));
    const down = rest.filter((m) => !this.health.isAlive(m.tag));
    const first = candidates.includes(this.now) && this.health.isAlive(this.now.tag) ? [this.now] : [];
    const tail = candidates.includes(this.now) && !this.health.isAlive(this.now.tag) ? [this.now] : [];
    return [...first, ...up, ...down, ...tail];
  }

  protected current(): string {
    return this.now.tag;
  }
}
