import type { FlowMetadata } from '../../adapter/flow';
import { CidrSet } from '../cidr-set';
import { describeList, type Matcher } from '../matcher';

/** Matches the client's address against a set of prefixes (`src_cidr`). */
export class SrcCidrMatcher implements Matcher {
  private readonly set: CidrSet;

  /** @throws {TypeError} on an entry that is not a CIDR. */
  constructor(private readonly cidrs: readonly string[]) {
    this.set = CidrSet.from(cidrs);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return this.set.has(flow.src.address);
  }

  toString(): string {
    return describeList('src_cidr', this.cidrs);
  }
}
