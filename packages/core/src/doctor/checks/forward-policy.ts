import { ok, warn } from '../result';
import type { DoctorCheck, CheckResult } from '../types';

/**
 * Gateway mode: a `FORWARD` policy of DROP (Docker sets one when it starts)
 * drops every forwarded packet Sluice does not capture: bypassed
 * destinations, ICMP, other protocols. Read with `iptables -S FORWARD`, and
 * from nft as the `ip filter FORWARD` chain (iptables-nft's).
 */
export const forwardPolicyCheck: DoctorCheck = {
  id: 'forward-policy',
  title: 'no FORWARD policy DROP (Docker) in gateway mode',
  async run(ctx): Promise<CheckResult> {
    if (ctx.config.firewall.local) return ok('local mode (firewall.local): forwarding not used');
    const found: string[] = [];
    const ipt = await ctx.run(['iptables', '-S', 'FORWARD']);
    if (ipt.code === 0 && /^-P FORWARD DROP\b/m.test(ipt.stdout)) found.push('iptables -S FORWARD: -P FORWARD DROP');
    const nft = await ctx.run(['nft', 'list', 'chain', 'ip', 'filter', 'FORWARD']);
    if (found.length === 0 && nft.code === 0 && /hook forward\b.*policy drop;/.test(nft.stdout)) found.push('nft: table ip filter chain FORWARD policy drop');
    if (found.length === 0) return ok('no FORWARD policy drop');
    return warn(
      'forwarded traffic is dropped by default (Docker does this): what Sluice does not capture (bypassed destinations, ICMP) cannot pass',
      'iptables -I DOCKER-USER -i <lan interface> -j ACCEPT   (or iptables -P FORWARD ACCEPT when no Docker)',
      found,
    );
  },
};
