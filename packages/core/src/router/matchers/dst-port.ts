import type { FlowMetadata } from '../../adapter/flow';
import type { PortRange } from '../../config/types';
import { describeList, type Matcher } from '../matcher';
import { PortSet } from '../port-set';

/** Matches the original destination port against ports and ranges (`dst_port`). */
export class DstPortMatcher implements Matcher {
  private readonly set: PortSet;

  constructor(private readonly ranges: readonly PortRange[]) {
    this.set = new PortSet(ranges);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return this.set.has(flow.dst.port);
  }

  toString(): string {
    return describeList(
      'dst_port',
      this.ranges.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)),
    );
  }
}
