/**
 * mulberry32: a 32-bit seeded PRNG, small and fast, good enough to spread fuzz
 * inputs (not for anything secret). The same seed gives the same sequence on
 * every machine, so a failure printed with its seed replays exactly.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** Sizes that favour the small and the edges: mostly up to `max`, now and then exactly 0 or `max`. */
  size(max: number): number {
    const r = this.int(10);
    if (r === 0) return 0;
    if (r === 1) return max;
    return this.int(r < 6 ? Math.min(max, 16) + 1 : max + 1);
  }
}

/**
 * The run's seed: `SLUICE_FUZZ_SEED` (decimal or 0x hex) when set, so a
 * failure can be replayed, else a random one. Always printed by the harness.
 */
export function fuzzSeed(): number {
  const env = process.env.SLUICE_FUZZ_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`SLUICE_FUZZ_SEED must be an integer 0-4294967295, not ${env}`);
    return n;
  }
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/** A seed for input `i` of a run: each input replays alone from (run seed, i). */
export function inputSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}
