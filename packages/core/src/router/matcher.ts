import type { FlowMetadata } from '../adapter/flow';

/** One condition of a rule. A rule matches when all its matchers do. */
export interface Matcher {
  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean;
  /** `key=value` as in the config, for logs and the admin API. */
  toString(): string;
}

/** `key=[a,b,c,… +97]`: long CIDR lists would otherwise flood a log line. */
export function describeList(key: string, items: readonly (string | number)[], max = 4): string {
  if (items.length === 1) return `${key}=${items[0]}`;
  const shown = items.slice(0, max).join(',');
  return items.length > max ? `${key}=[${shown},… +${items.length - max}]` : `${key}=[${shown}]`;
}
