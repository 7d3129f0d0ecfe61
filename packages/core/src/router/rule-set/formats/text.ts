import { domainEntryProblem, normalizeDomainName } from '../../../config/domain-name';
import { parseCidr } from '../../../config/net';
import type { RuleSetContents } from '../compiled-rule-set';
import { ContentsBuilder } from '../contents-builder';
import { RuleSetParseError } from '../parse-error';

/**
 * `format: text`: one entry a line, `#` starts a comment. An entry is a CIDR
 * or IP address; `+.example.com` (example.com and every name under it);
 * `.example.com` (only names under it); `*.example.com` (one label under it);
 * or a bare name, which matches that name only, as in Clash's text domain
 * lists (write `+.` for a suffix).
 *
 * @throws {RuleSetParseError} naming the first bad line.
 */
export function parseTextRuleSet(text: string): RuleSetContents {
  const b = new ContentsBuilder();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i].indexOf('#');
    const entry = (hash >= 0 ? lines[i].slice(0, hash) : lines[i]).trim();
    if (entry === '') continue;
    if (parseCidr(entry)) {
      b.cidrs.push(entry);
      continue;
    }
    const name = normalizeDomainName(entry);
    const problem = domainEntryProblem(name, true);
    if (problem) throw new RuleSetParseError(`line ${i + 1}: ${problem}`);
    b.clash.push(name);
  }
  return b.build();
}
