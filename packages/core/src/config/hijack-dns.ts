import { HIJACK_DNS } from '../outbound/hijack-dns';
import type { OutboundEntry } from '../adapter/plugin';
import type { DnsConfig } from './dns';
import { at, type IssueList } from './reader';
import type { RouteConfig } from './types';

export { HIJACK_DNS };

/**
 * The outbound tags rules may name: the configured ones, and `hijack-dns`
 * (built in; whether it may be used is {@link checkHijackDns}'s question).
 */
export function routeTargets(outboundTags: ReadonlySet<string>): Set<string> {
  return new Set([...outboundTags, HIJACK_DNS]);
}

/**
 * `hijack-dns` answers with the built-in resolver, so a route naming it
 * needs a `dns` section; and the name is Sluice's, not an outbound's to take.
 */
export function checkHijackDns(route: RouteConfig, outbounds: readonly OutboundEntry[], dns: DnsConfig | undefined, issues: IssueList): void {
  outbounds.forEach((o) => {
    if (o.tag === HIJACK_DNS) issues.add(at(o.path, 'tag'), `"${HIJACK_DNS}" is the built-in action that answers DNS with Sluice's resolver; give this outbound another tag`);
  });
  if (dns) return;
  const need = 'needs a dns section: hijack-dns answers the queries with the built-in resolver (add dns.listen and dns.upstreams)';
  route.rules.forEach((r, i) => {
    if (r.outbound === HIJACK_DNS) issues.add(at(at('route.rules', i), 'outbound'), r.clash !== undefined ? `${need} in "${r.clash}"` : need);
  });
  if (route.final === HIJACK_DNS) issues.add('route.final', need);
}
