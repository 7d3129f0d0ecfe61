import type { FlowMetadata } from '../../adapter/flow';
import type { PortRange } from '../../config/types';
import { describeList, type Matcher } from '../matcher';
import { PortSet } from '../port-set';

/** Matches the client's port against ports and ranges (`src_port`). */
export class SrcPortMatcher implements Matcher {
  private readonly set: PortSet;

  constructor(private readonly ranges: readonly PortRange[]) {
    this.set = new PortSet(ranges);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return this.set.has(flow.src.port);
  }

  toString(): string {
    return describeList(
      'src_port',
      this.ranges.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)),
    );
  }
}
