/** Up to this many keywords, `includes` per keyword beats walking an automaton (`node bench/route-decision.js` measures both). */
const SCAN_LIMIT = 8;

/**
 * A set of substrings searched for in one pass over the host (Aho-Corasick
 * over UTF-16 code units), so a thousand keywords cost about what one does.
 * Small sets are scanned with `includes` instead.
 */
export class KeywordSet {
  private readonly words: readonly string[];
  /** Transitions per state: code unit → state. */
  private readonly next: Map<number, number>[] = [new Map()];
  private readonly fail: number[] = [0];
  private readonly output: boolean[] = [false];

  /** Keywords must already be lower-case. */
  constructor(keywords: Iterable<string>) {
    this.words = [...new Set(keywords)].filter((w) => w !== '');
    if (this.words.length > SCAN_LIMIT) this.build();
  }

  /** Number of distinct keywords. */
  get size(): number {
    return this.words.length;
  }

  /** Whether `text` contains a keyword. */
  has(text: string): boolean {
    const words = this.words;
    if (words.length <= SCAN_LIMIT) {
      for (let i = 0; i < words.length; i++) if (text.includes(words[i])) return true;
      return false;
    }
    const { next, fail, output } = this;
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let to = next[state].get(c);
      while (to === undefined && state !== 0) {
        state = fail[state];
        to = next[state].get(c);
      }
      state = to ?? 0;
      if (output[state]) return true;
    }
    return false;
  }

  private build(): void {
    const { next, fail, output } = this;
    for (const w of this.words) {
      let s = 0;
      for (let i = 0; i < w.length; i++) {
        const c = w.charCodeAt(i);
        let to = next[s].get(c);
        if (to === undefined) {
          to = next.length;
          next.push(new Map());
          fail.push(0);
          output.push(false);
          next[s].set(c, to);
        }
        s = to;
      }
      output[s] = true;
    }
    // Breadth first, so a state's failure link is final before its children need it.
    const queue: number[] = [...next[0].values()];
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q];
      for (const [c, to] of next[s]) {
        let f = fail[s];
        while (f !== 0 && !next[f].has(c)) f = fail[f];
        const target = next[f].get(c);
        fail[to] = target !== undefined && target !== to ? target : 0;
        if (output[fail[to]]) output[to] = true;
        queue.push(to);
      }
    }
  }
}
