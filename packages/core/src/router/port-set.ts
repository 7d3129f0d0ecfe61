import type { PortRange } from '../config/types';

/**
 * An immutable set of ports, stored as sorted non-overlapping ranges and
 * searched by bisection, so `1-1024` costs one entry, not 1024.
 */
export class PortSet {
  private readonly starts: Uint16Array;
  private readonly ends: Uint16Array;

  /** @throws {RangeError} when a range is outside 0-65535 or reversed. */
  constructor(ranges: readonly PortRange[]) {
    const sorted = [...ranges].sort((a, b) => a.from - b.from);
    const merged: [number, number][] = [];
    for (const r of sorted) {
      if (!Number.isInteger(r.from) || !Number.isInteger(r.to) || r.from < 0 || r.to > 65535 || r.from > r.to) {
        throw new RangeError(`invalid port range ${r.from}-${r.to}`);
      }
      const last = merged[merged.length - 1];
      if (last && r.from <= last[1] + 1) last[1] = Math.max(last[1], r.to);
      else merged.push([r.from, r.to]);
    }
    this.starts = Uint16Array.from(merged, (r) => r[0]);
    this.ends = Uint16Array.from(merged, (r) => r[1]);
  }

  /** Number of merged ranges. */
  get rangeCount(): number {
    return this.starts.length;
  }

  /** Whether `port` is in one of the ranges. */
  has(port: number): boolean {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= port) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && port <= this.ends[found];
  }
}
