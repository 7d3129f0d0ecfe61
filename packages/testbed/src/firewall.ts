/** nftables table that holds the topology's final drop (and nothing of Sluice's own). */
export const FINAL_DROP_TABLE = 'sluice_test';

/**
 * Ruleset that drops every forwarded packet in the gateway.
 *
 * Needed because an nft `tproxy` rule only matches while a transparent socket
 * listens on its target: with Sluice down (or mis-bound) the gateway would
 * route the packet on as a plain router and a test would pass without Sluice.
 * Sluice itself never forwards (it terminates and re-originates flows), so
 * this costs nothing when it works. Written so that applying it twice is harmless.
 */
export function finalDropRuleset(): string {
  return [
    `table inet ${FINAL_DROP_TABLE} {}`,
    `delete table inet ${FINAL_DROP_TABLE}`,
    `table inet ${FINAL_DROP_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Ruleset that deletes the final-drop table, so forwarding works again (a plain router). */
export function removeFinalDropRuleset(): string {
  return `table inet ${FINAL_DROP_TABLE} {}\ndelete table inet ${FINAL_DROP_TABLE}\n`;
}

/** The two halves of `sluice rules` output. */
export interface RulesOutput {
  /** Input for `nft -f -`. */
  readonly nft: string;
  /** `ip rule` / `ip route` command lines, in order. */
  readonly commands: readonly string[];
}

/**
 * Splits what `sluice rules` prints (the nft ruleset, then `ip …` command
 * lines) into its two parts. A line counts as a command when it starts with
 * `ip ` outside any nft block; nft never has a statement starting that way at
 * top level.
 */
export function splitRulesOutput(text: string): RulesOutput {
  const nft: string[] = [];
  const commands: string[] = [];
  let depth = 0;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (depth === 0 && /^ip\s/.test(trimmed)) {
      commands.push(trimmed);
      continue;
    }
    nft.push(line);
    const code = trimmed.replace(/#.*$/, '').replace(/"[^"]*"/g, '');
    depth += (code.match(/{/g) ?? []).length - (code.match(/}/g) ?? []).length;
  }
  return { nft: nft.join('\n'), commands };
}
