import type { DoctorContext } from './types';

/** Whether `name` matches a `firewall.interfaces` entry (a trailing `*` is a wildcard, as in nft's `iifname`). */
export function interfaceMatches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/**
 * The interfaces traffic is captured on: those of `firewall.interfaces` that
 * exist (wildcards expanded), or every interface but `lo` when it is empty.
 */
export async function captureInterfaces(ctx: DoctorContext): Promise<string[]> {
  const present = (await ctx.listDir('/sys/class/net')).sort();
  const patterns = ctx.config.firewall.interfaces;
  if (patterns.length === 0) return present.filter((n) => n !== 'lo');
  return present.filter((n) => patterns.some((p) => interfaceMatches(p, n)));
}
