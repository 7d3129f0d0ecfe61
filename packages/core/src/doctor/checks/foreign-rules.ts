import { fail, ok, warn } from '../result';
import type { DoctorCheck, CheckResult, DoctorContext } from '../types';

/** nft's numeric priority of `mangle`; Sluice's prerouting chain runs there. */
const MANGLE = -150;

/** Verdicts and statements in another table's prerouting chain that take a packet from Sluice. */
const STEALING = ['drop', 'reject', 'tproxy', 'redirect', 'dnat', 'queue'] as const;

/** `-j TPROXY` / `-j REDIRECT` lines of an `iptables-save`-style dump. */
export function iptablesCaptureRules(save: string): { tproxy: string[]; redirect: string[] } {
  const rules = save.split('\n').map((l) => l.trim());
  return {
    tproxy: rules.filter((l) => /^-A\s.*\s-j\s+TPROXY\b/.test(l)),
    redirect: rules.filter((l) => /^-A\s.*\s-j\s+REDIRECT\b/.test(l)),
  };
}

interface NftChain {
  family: string;
  table: string;
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
}
interface NftRule {
  family: string;
  table: string;
  chain: string;
  expr: unknown[];
}

/** The statements of a rule (JSON `expr` keys) that would take the packet away: `drop`, `tproxy`, an xt `TPROXY` target… */
function stealingStatements(rule: NftRule): string[] {
  const found: string[] = [];
  for (const e of rule.expr) {
    if (!e || typeof e !== 'object') continue;
    for (const [key, value] of Object.entries(e as Record<string, unknown>)) {
      if ((STEALING as readonly string[]).includes(key)) found.push(key);
      if (key === 'xt') {
        const name = (value as { name?: string }).name ?? '';
        if (/^(TPROXY|REDIRECT|DNAT|DROP|REJECT)$/i.test(name)) found.push(`xt ${name}`);
      }
    }
  }
  return found;
}

/**
 * Chains of other tables hooked at prerouting no later than mangle (they see a
 * packet before, or together with, Sluice's chain) whose policy or rules drop,
 * redirect or tproxy it; from `nft -j list ruleset`.
 */
export function earlierPreroutingChains(rulesetJson: string): string[] {
  const items = (JSON.parse(rulesetJson) as { nftables: Record<string, unknown>[] }).nftables;
  const chains = items.flatMap((i) => (i.chain ? [i.chain as NftChain] : []));
  const rules = items.flatMap((i) => (i.rule ? [i.rule as NftRule] : []));
  const out: string[] = [];
  for (const c of chains) {
    if (c.hook !== 'prerouting' || c.prio === undefined || c.prio > MANGLE) continue;
    if (c.family === 'inet' && c.table === 'sluice') continue;
    const what = new Set<string>();
    if (c.policy === 'drop') what.add('policy drop');
    for (const r of rules) {
      if (r.family === c.family && r.table === c.table && r.chain === c.name) for (const s of stealingStatements(r)) what.add(s);
    }
    if (what.size > 0) out.push(`table ${c.family} ${c.table} chain ${c.name} (prerouting, priority ${c.prio}): ${[...what].join(', ')}`);
  }
  return out;
}

async function iptablesDump(ctx: DoctorContext, tool: string): Promise<string | undefined> {
  const r = await ctx.run([tool]);
  return r.code === 0 ? r.stdout : undefined;
}

/**
 * Rules outside `table inet sluice` that see the traffic first: an iptables
 * (legacy or nft) `TPROXY` or `REDIRECT` rule from an earlier proxy setup,
 * and other nft tables' prerouting chains at or before mangle that drop,
 * redirect or tproxy.
 */
export const foreignRulesCheck: DoctorCheck = {
  id: 'foreign-rules',
  title: 'no other iptables or nftables rules capture, redirect or drop the traffic first',
  async run(ctx): Promise<CheckResult> {
    const tproxy: string[] = [];
    const other: string[] = [];
    let iptablesNft = false;
    for (const tool of ['iptables-legacy-save', 'ip6tables-legacy-save', 'iptables-nft-save', 'ip6tables-nft-save']) {
      const dump = await iptablesDump(ctx, tool);
      if (dump === undefined) continue;
      if (tool.includes('-nft-')) iptablesNft = true;
      const found = iptablesCaptureRules(dump);
      tproxy.push(...found.tproxy.map((l) => `${tool}: ${l}`));
      other.push(...found.redirect.map((l) => `${tool}: ${l}`));
    }
    const ruleset = await ctx.run(['nft', '-j', 'list', 'ruleset']);
    if (ruleset.code === 0) {
      // iptables-nft's tables were read above in their iptables form already.
      const xtables = /^table ip6? (mangle|nat|raw) /;
      other.push(...earlierPreroutingChains(ruleset.stdout).filter((l) => !(iptablesNft && xtables.test(l))));
    }
    if (tproxy.length > 0) {
      return fail(
        'an iptables TPROXY rule competes with Sluice for the same packets',
        'remove it (iptables-legacy -t mangle -D PREROUTING …), or flush the old setup: iptables-legacy -t mangle -F',
        [...tproxy, ...other],
      );
    }
    if (other.length > 0) {
      return warn(
        'other rules see the traffic before or with Sluice and may redirect or drop it',
        'remove them, or make them return for the traffic Sluice should capture',
        other,
      );
    }
    return ok('no other TPROXY, REDIRECT or early prerouting drop found');
  },
};
