import type { FlowMetadata } from '../../adapter/flow';
import type { Matcher } from '../matcher';

/** Every matcher matches: an entry of `all`, or a condition with several fields. */
export class AllMatcher implements Matcher {
  constructor(
    readonly children: readonly Matcher[],
    private readonly label = 'all',
  ) {}

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    for (const m of this.children) if (!m.match(flow)) return false;
    return true;
  }

  toString(): string {
    const inner = this.children.map(String).join(' && ');
    return this.label === '' ? `(${inner})` : `${this.label}(${inner})`;
  }
}

/** At least one matcher matches (`any`). */
export class AnyMatcher implements Matcher {
  constructor(readonly children: readonly Matcher[]) {}

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    for (const m of this.children) if (m.match(flow)) return true;
    return false;
  }

  toString(): string {
    return `any(${this.children.map(String).join(' || ')})`;
  }
}

/** The matcher does not match (`not`). A domain condition under `not` therefore matches flows without a host. */
export class NotMatcher implements Matcher {
  constructor(readonly child: Matcher) {}

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return !this.child.match(flow);
  }

  toString(): string {
    return `not(${this.child})`;
  }
}
