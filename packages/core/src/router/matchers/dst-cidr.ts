import type { FlowMetadata } from '../../adapter/flow';
import { CidrSet } from '../cidr-set';
import { describeList, type Matcher } from '../matcher';

/** Matches the original destination address against a set of prefixes (`dst_cidr`). */
export class DstCidrMatcher implements Matcher {
  private readonly set: CidrSet;

  /** @throws {TypeError} on an entry that is not a CIDR. */
  constructor(private readonly cidrs: readonly string[]) {
    this.set = CidrSet.from(cidrs);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return this.set.has(flow.dst.address);
  }

  toString(): string {
    return describeList('dst_cidr', this.cidrs);
  }
}
