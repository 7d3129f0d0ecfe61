/**
 * How many flows each rule matched since the Sluice started, by rule name as
 * flows carry it (`rules[3]`, a rule's own `name`, `final`). The dashboard's
 * rules view shows these next to each rule (`hits` of `GET /rules`).
 */
export class RuleHits {
  private readonly counts = new Map<string, number>();

  /** One flow was routed by `rule`. */
  record(rule: string): void {
    this.counts.set(rule, (this.counts.get(rule) ?? 0) + 1);
  }

  /** Plain data (it crosses a worker's message channel). */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** The counts of several workers added up. */
export function sumRuleHits(parts: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of parts) for (const [rule, n] of Object.entries(part)) out[rule] = (out[rule] ?? 0) + n;
  return out;
}
