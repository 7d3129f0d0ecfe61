/** Up to this many keywords, `includes` per keyword is cheapest. */
const SCAN_LIMIT = 8;
/**
 * Up to this many, one combined regular expression (V8 compiles an
 * alternation of literals to a fast matcher); past it, compiling the
 * expression grows slow and Aho-Corasick wins. `node bench/route-decision.js`
 * prints both sides at 1,000 and at 20,000 keywords (match time and build
 * time): on the shared 2-CPU development machine the expression matched
 * several times faster than the automaton at 1,000 and several times slower
 * at 20,000, where it also took longer to build.
 */
const REGEX_LIMIT = 2000;

/**
 * A set of substrings searched for in one pass over the host: `includes`
 * for a few, one combined regular expression for up to a few thousand,
 * Aho-Corasick (over UTF-16 code units) beyond.
 */
export class KeywordSet {
  private readonly words: readonly string[];
  /** Aho-Corasick transitions per state (code unit → state); built only for large sets, like `fail` and `output`. */
  private next: Map<number, number>[] = [];
  private fail: number[] = [];
  private output: boolean[] = [];
  private readonly combined: RegExp | undefined;

  /** Keywords must already be lower-case. */
  constructor(keywords: Iterable<string>) {
    this.words = [...new Set(keywords)].filter((w) => w !== '');
    if (this.words.length > REGEX_LIMIT) this.build();
    else if (this.words.length > SCAN_LIMIT) this.combined = new RegExp(this.words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
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
    if (this.combined) return this.combined.test(text);
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
    this.next = [new Map()];
    this.fail = [0];
    this.output = [false];
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
