import { NFT_TABLE } from '../../firewall/render';
import { withScratchNamespace } from '../scratch-netns';
import { fail, ok } from '../result';
import type { DoctorCheck, CheckResult } from '../types';

/** Lines of an `nft list` output, compared as text: trailing blanks dropped, leading tabs kept. */
function lines(listing: string): string[] {
  return listing.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
}

/** The first line where two listings differ, as `expected` / `found` for the report. */
export function firstDifference(expected: string, found: string): string[] | undefined {
  const a = lines(expected);
  const b = lines(found);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return [`line ${i + 1}: sluice rules renders: ${a[i]?.trim() ?? '(nothing)'}`, `line ${i + 1}: the host has:        ${b[i]?.trim() ?? '(nothing)'}`];
  }
  return undefined;
}

/**
 * `table inet sluice` is there and is what `sluice rules` renders now. nft
 * prints a loaded ruleset in its own canonical form (merged intervals, `0x1`
 * marks, `priority mangle`), so the rendered ruleset is loaded into a
 * throwaway namespace and listed there: both sides are then normalised by the
 * same nft, and any difference is real.
 */
export const nftTableCheck: DoctorCheck = {
  id: 'nft-table',
  title: `table ${NFT_TABLE} is loaded and equal to what sluice rules renders`,
  async run(ctx): Promise<CheckResult> {
    const fix = `sluice rules -c ${ctx.configPath} --apply`;
    const live = await ctx.run(['nft', 'list', 'table', ...NFT_TABLE.split(' ')]);
    if (live.code === 127) return fail('nft is not installed', 'apt-get install nftables');
    if (live.code !== 0) {
      return /No such file or directory/i.test(live.stderr)
        ? fail(`table ${NFT_TABLE} is not loaded: nothing is captured`, fix)
        : fail(`nft list table ${NFT_TABLE}: ${live.stderr.trim()}`);
    }
    const expected = await withScratchNamespace(ctx, '', async (ns) => {
      const load = await ns.exec(['nft', '-f', '-'], ctx.rendered.nft);
      if (load.code !== 0) throw new Error(`the rendered ruleset does not load here: ${load.stderr.trim()}`);
      return ns.exec(['nft', 'list', 'table', ...NFT_TABLE.split(' ')]);
    });
    if (expected.code !== 0) throw new Error(`listing the rendered ruleset failed: ${expected.stderr.trim()}`);
    const diff = firstDifference(expected.stdout, live.stdout);
    if (!diff) return ok(`table ${NFT_TABLE} is loaded and matches the config`);
    return fail(`table ${NFT_TABLE} differs from what sluice rules renders for this config`, fix, diff);
  },
};
