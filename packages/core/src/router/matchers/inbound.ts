import type { FlowMetadata } from '../../adapter/flow';
import { describeList, type Matcher } from '../matcher';

/** Matches the tag of the inbound that accepted the flow (`inbound: [in4]`). */
export class InboundMatcher implements Matcher {
  private readonly set: ReadonlySet<string>;

  constructor(private readonly tags: readonly string[]) {
    this.set = new Set(tags);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return this.set.has(flow.inbound);
  }

  toString(): string {
    return describeList('inbound', this.tags);
  }
}
