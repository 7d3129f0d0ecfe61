/**
 * Config loading and validation. Everything is checked before anything
 * starts, and every problem is reported at once as a {@link ConfigError}.
 */
import type { SluiceConfig } from './types';
import { loadConfigFile } from './load';

export * from './types';
export { loadConfigFile, parseConfig, parseDocumentText, formatOf } from './load';
export type { ParseConfigOptions } from './load';
export { normalizeConfig } from './normalize';
export { redactConfig, toConfigDocument, isSecretKey, REDACTED } from './redact';
export { parseCidr, isIpLiteral } from './net';
export type { ParsedCidr } from './net';
export { DEFAULTS, LOG_LEVELS } from './defaults';
export { ConfigError } from '../errors';
export type { ConfigIssue } from '../errors';

/**
 * Everything `sluice check` validates: today the core schema, later also each
 * outbound's own options through its type's factory. `sluice check`, `sluice
 * rules` and `sluice run` all go through here so they agree on what is valid.
 *
 * @throws {ConfigError} listing every problem found.
 */
export async function validateConfigFile(path: string): Promise<SluiceConfig> {
  return loadConfigFile(path);
}
