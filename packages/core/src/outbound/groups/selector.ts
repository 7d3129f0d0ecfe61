import type { FlowMetadata } from '../../adapter/flow';
import type { Outbound } from '../../adapter/outbound';
import { ErrorCode, SluiceError } from '../../errors';
import { GroupOutbound, type GroupParts } from './group-outbound';

/**
 * `selector`: every flow goes to the selected member (`default`, else the
 * first), which `sluice.select(group, member)` changes at run time. Health
 * is shown but never overrides the choice, and a failed dial is not retried
 * elsewhere: the user chose. A flow whose network the selected member does
 * not carry goes to the first member that carries it.
 */
export class SelectorGroup extends GroupOutbound {
  readonly type = 'selector' as const;
  protected override readonly retries = false;
  private selected: Outbound;

  constructor(tag: string, members: readonly Outbound[], parts: GroupParts, selected?: string) {
    super(tag, members, parts);
    this.selected = members.find((m) => m.tag === selected) ?? members[0]!;
  }

  protected order(candidates: readonly Outbound[], _flow: FlowMetadata): readonly Outbound[] {
    return [candidates.includes(this.selected) ? this.selected : candidates[0]!];
  }

  protected current(): string {
    return this.selected.tag;
  }

  override select(member: string): void {
    const m = this.members.find((o) => o.tag === member);
    if (!m) throw new SluiceError(ErrorCode.CONFIG, `"${member}" is not a member of selector "${this.tag}" (members: ${this.memberTags.join(', ')})`);
    if (m !== this.selected) this.logger.info({ group: this.tag, from: this.selected.tag, to: m.tag }, 'selector changed');
    this.selected = m;
  }
}
