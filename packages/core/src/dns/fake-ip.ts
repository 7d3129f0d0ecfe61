import type { NameMatcher } from './name-matcher';
import { canonicalIp, FakeIpRange } from './fake-ip-pool';

/**
 * `mode: fake-ip`: one {@link FakeIpRange} per family, the filter of names
 * that always get real answers, and a hook called after each change (the
 * store saves then).
 */
export class FakeIp {
  constructor(
    readonly ranges: readonly FakeIpRange[],
    private readonly filter: NameMatcher,
    private readonly onChange: () => void = () => {},
  ) {}

  /** Entries over all ranges. */
  get size(): number {
    return this.ranges.reduce((n, r) => n + r.size, 0);
  }

  /** True when `name` must get real answers (`dns.fake_ip_filter`). */
  filtered(name: string): boolean {
    return this.filter.matches(name);
  }

  /** The fake address of `name` in `family`; undefined when no range of that family is configured. */
  allocate(name: string, family: 4 | 6): string | undefined {
    const range = this.ranges.find((r) => r.family === family);
    if (!range) return undefined;
    const address = range.allocate(name);
    // Even a known name changes the order of eviction, which the store keeps.
    this.onChange();
    return address;
  }

  /** Whether `address` lies in a fake range (a flow to it must not be dialled as it is). */
  contains(address: string): boolean {
    const a = canonicalIp(address);
    return a !== undefined && this.ranges.some((r) => r.contains(a));
  }

  /** The name a fake `address` was handed out for. */
  lookup(address: string): string | undefined {
    const a = canonicalIp(address);
    if (a === undefined) return undefined;
    for (const r of this.ranges) if (r.contains(a)) return r.lookup(a);
    return undefined;
  }
}
