import { parse } from 'yaml';
import { ClashSyntaxError, parseClashCondition } from '../../../config/clash-rules';
import { domainEntryProblem, normalizeDomainName } from '../../../config/domain-name';
import { parseCidr } from '../../../config/net';
import type { ClashBehavior } from '../../../config/types';
import type { RuleSetContents } from '../compiled-rule-set';
import { ContentsBuilder } from '../contents-builder';
import { RuleSetParseError } from '../parse-error';

/**
 * `format: clash`: a Clash (mihomo) rule-provider file, `payload:` a list of
 * strings read as the entry's `behavior` says: `domain` (`example.com` that
 * name, `+.example.com` it and every name under it, `.example.com` only names
 * under it, `*` one label), `ipcidr` (CIDRs or IPs), `classical` (Clash rule
 * lines without a target: `DOMAIN-SUFFIX,example.com`, `IP-CIDR,10.0.0.0/8,no-resolve`,
 * `AND,((…),(…))`; not `RULE-SET` or `MATCH`).
 *
 * @throws {RuleSetParseError} naming the first bad entry.
 */
export function parseClashRuleSet(text: string, behavior: ClashBehavior): RuleSetContents {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new RuleSetParseError(`not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const payload = (doc as { payload?: unknown } | null)?.payload;
  if (!Array.isArray(payload)) throw new RuleSetParseError('has no "payload:" list');
  const b = new ContentsBuilder();
  payload.forEach((item, i) => {
    const where = `payload[${i}]`;
    if (typeof item !== 'string') throw new RuleSetParseError(`${where}: must be a string`);
    const entry = item.trim();
    if (behavior === 'ipcidr') {
      if (!parseCidr(entry)) throw new RuleSetParseError(`${where}: invalid CIDR "${entry}"`);
      b.cidrs.push(entry);
    } else if (behavior === 'domain') {
      const name = normalizeDomainName(entry);
      const problem = domainEntryProblem(name, true);
      if (problem) throw new RuleSetParseError(`${where}: ${problem}`);
      b.clash.push(name);
    } else {
      try {
        const c = parseClashCondition(entry).condition;
        b.addCondition(c);
      } catch (err) {
        if (err instanceof ClashSyntaxError || err instanceof TypeError) throw new RuleSetParseError(`${where}: ${err.message} in "${entry}"`);
        throw err;
      }
    }
  });
  return b.build();
}
