import type { FlowMetadata } from '../../adapter/flow';
import type { Outbound } from '../../adapter/outbound';
import { GroupOutbound } from './group-outbound';

/**
 * `fallback`: the first healthy member in config order. A dial that fails
 * marks that member down and the flow tries the next healthy one; when none
 * is healthy, all are tried in order (better a slim chance than none).
 */
export class FallbackGroup extends GroupOutbound {
  readonly type = 'fallback' as const;

  protected order(candidates: readonly Outbound[], _flow: FlowMetadata): readonly Outbound[] {
    return this.healthyFirst(candidates);
  }

  protected current(): string {
    return (this.members.find((m) => this.health.isAlive(m.tag)) ?? this.members[0]!).tag;
  }
}
