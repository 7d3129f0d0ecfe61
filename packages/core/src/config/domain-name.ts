/**
 * Domain names as rules compare them: lower case, without the root's
 * trailing dot, so `Example.COM.` and `example.com` are one name.
 */
export function normalizeDomainName(name: string): string {
  let s = name.trim().toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  return s;
}

/** Characters a host name (or a Clash wildcard pattern) may not contain. */
const BAD_CHARS = /[\s,/\\()"'@:]/;

/**
 * Why `name` (already normalised) cannot be a domain entry, or undefined when
 * it can. `allowWildcard` admits Clash's `*` labels and `+.`/`.` prefixes.
 */
export function domainEntryProblem(name: string, allowWildcard = false): string | undefined {
  if (name === '') return 'empty domain';
  if (BAD_CHARS.test(name)) return `invalid domain "${name}"`;
  let body = name;
  if (allowWildcard) {
    if (body.startsWith('+.')) body = body.slice(2);
    else if (body.startsWith('.')) body = body.slice(1);
  }
  const labels = body.split('.');
  if (labels.some((l) => l === '')) return `invalid domain "${name}" (empty label)`;
  if (!allowWildcard && body.includes('*')) return `invalid domain "${name}" (wildcards are not allowed here)`;
  if (labels.some((l) => l.includes('*') && l !== '*')) return `invalid domain "${name}" (a * must be a whole label)`;
  return undefined;
}
