/** A rule-set file's contents cannot be read; the message names the line or entry. */
export class RuleSetParseError extends Error {
  override readonly name = 'RuleSetParseError';
}
