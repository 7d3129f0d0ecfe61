/**
 * The CRYPTO stream of the Initial packets, reassembled by offset: frames may
 * come in any order, overlap, or repeat (retransmissions). Bounded: bytes
 * past `cap` and more than {@link MAX_GAPS} separate pieces are refused.
 */
export class CryptoStream {
  private data = Buffer.alloc(0);
  /** Received ranges `[start, end)`, sorted, disjoint, not touching. */
  private readonly ranges: Array<[number, number]> = [];

  constructor(private readonly cap: number) {}

  /** Adds a frame's data; false when it would pass the cap or split the stream into too many pieces. */
  add(offset: number, chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    const end = offset + chunk.length;
    if (end > this.cap) return false;
    if (end > this.data.length) {
      const grown = Buffer.alloc(Math.min(this.cap, Math.max(end, this.data.length * 2)));
      this.data.copy(grown);
      this.data = grown;
    }
    // Overlapping bytes of a valid stream are equal; later ones simply overwrite.
    chunk.copy(this.data, offset);
    return this.insert(offset, end);
  }

  private insert(start: number, end: number): boolean {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && r[i]![1] < start) i++;
    let j = i;
    while (j < r.length && r[j]![0] <= end) {
      start = Math.min(start, r[j]![0]);
      end = Math.max(end, r[j]![1]);
      j++;
    }
    r.splice(i, j - i, [start, end]);
    return r.length <= MAX_GAPS;
  }

  /** The bytes received from offset 0 without a gap. */
  prefix(): Buffer {
    const first = this.ranges[0];
    return first && first[0] === 0 ? this.data.subarray(0, first[1]) : this.data.subarray(0, 0);
  }
}

/** Most separate pieces the stream may be in at once (a client sends a handful). */
export const MAX_GAPS = 32;
