import { NFT_TABLE, hasTransparentOutbound } from '../../firewall/render';
import { hex } from '../families';
import { fail, ok, warn } from '../result';
import type { CheckResult, DoctorCheck } from '../types';
import { policyRoutingCheck } from './policy-routing';

/** What this host cannot see: the network's half of the requirement, said with every result. */
const REMOTE_SIDE =
  "the remotes (or the upstream router) must route the clients' addresses back through this host, e.g. `ip route add 192.168.1.0/24 via <this host>` there; see docs/transparent-outbound.md";

/** Source-NAT lines (`masquerade`, `snat to`, `-j MASQUERADE`, `-j SNAT`) of a ruleset or iptables dump, outside Sluice's table. */
export function sourceNatRules(nftRuleset: string, iptablesDump: string): string[] {
  const found: string[] = [];
  let table = '';
  for (const line of nftRuleset.split('\n')) {
    const t = /^table (\S+ \S+)/.exec(line);
    if (t) table = t[1]!;
    else if (table !== NFT_TABLE && /\b(masquerade|snat (ip6? )?to)\b/.test(line)) found.push(`nft table ${table}: ${line.trim()}`);
  }
  for (const line of iptablesDump.split('\n')) {
    if (/^-A\s.*\s-j\s+(MASQUERADE|SNAT)\b/.test(line)) found.push(`iptables-legacy: ${line.trim()}`);
  }
  return found;
}

/**
 * With a `direct` outbound's `transparent: true`, Sluice connects from the
 * client's own address, so remotes answer to that address. Those replies
 * must come back through this host (the network's part, which doctor can
 * only state), and here be delivered to Sluice's socket instead of being
 * forwarded to the client: the `socket transparent` rule that marks them and
 * the fwmark policy routing (this host's part, checked). Source NAT on the
 * way out would replace the client's address with this host's.
 */
export const transparentReturnCheck: DoctorCheck = {
  id: 'transparent-return',
  title: 'with a transparent outbound: replies to client addresses are delivered to Sluice (socket rule, policy routing), no source NAT',
  async run(ctx): Promise<CheckResult> {
    const tags = ctx.config.outbounds.filter((o) => (o.raw as Record<string, unknown>).transparent === true).map((o) => o.tag);
    if (!hasTransparentOutbound(ctx.config)) return ok('no outbound has transparent: true');
    const fix = `sluice rules -c ${ctx.configPath} --apply`;
    const fwmark = hex(ctx.config.firewall.fwmark);
    const table = await ctx.run(['nft', 'list', 'table', ...NFT_TABLE.split(' ')]);
    if (table.code === 127) return fail('nft is not installed', 'apt-get install nftables', [REMOTE_SIDE]);
    // nft lists marks zero-padded (0x00000001), so they are compared as numbers.
    const socketRule = table.stdout.split('\n').some((l) => {
      const set = /socket transparent 1 .*meta mark set (0x[0-9a-f]+|\d+)/.exec(l);
      return set !== null && Number(set[1]) === ctx.config.firewall.fwmark;
    });
    if (!socketRule) {
      return fail(`no \`socket transparent 1 … meta mark set ${fwmark}\` rule in table ${NFT_TABLE}: replies to ${tags.join(', ')} are forwarded to the clients, not delivered to Sluice`, fix, [REMOTE_SIDE]);
    }
    const routing = await policyRoutingCheck.run(ctx);
    if (routing.status !== 'ok') return fail(`replies to ${tags.join(', ')} are marked but not delivered locally: ${routing.message}`, fix, [REMOTE_SIDE]);
    const ruleset = await ctx.run(['nft', 'list', 'ruleset']);
    const legacy = await ctx.run(['iptables-legacy-save']);
    const snat = sourceNatRules(ruleset.code === 0 ? ruleset.stdout : '', legacy.code === 0 ? legacy.stdout : '');
    if (snat.length > 0) {
      return warn(
        `source NAT may rewrite the client addresses of ${tags.join(', ')}: remotes would see this host instead`,
        'make those rules skip Sluice\'s marked traffic (e.g. `meta mark & 0x2 == 0x2 return` before masquerade), or drop transparent: true',
        [...snat, REMOTE_SIDE],
      );
    }
    return ok(`replies to client addresses (${tags.join(', ')}) are marked ${fwmark} and delivered to Sluice`, [REMOTE_SIDE]);
  },
};
