/**
 * Config loading and validation. Everything is checked before anything
 * starts, and every problem is reported at once as a {@link ConfigError}.
 */
import type { SluiceConfig } from './types';
import { validateOutbounds } from './validate-outbounds';
import { loadConfigFile } from './load';
import type { ConfigCheck, InspectOptions } from './check';

export * from './types';
export { loadConfigFile, parseConfig, parseDocumentText, formatOf } from './load';
export type { ParseConfigOptions } from './load';
export { normalizeConfig } from './normalize';
export { redactConfig, toConfigDocument, isSecretKey, REDACTED } from './redact';
export { parseCidr, parseIPv4, parseIPv6, isIpLiteral } from './net';
export type { ParsedCidr } from './net';
export { DEFAULTS, LOG_LEVELS } from './defaults';
export { inspectConfig, formatWarning, logWarnings } from './check';
export type { ConfigCheck, InspectedConfig, InspectOptions } from './check';
export type { HostInterfaces } from './host-interfaces';
export { ConfigError } from '../errors';
export type { ConfigIssue } from '../errors';

/**
 * Everything `sluice check` validates: the core schema, then each outbound's
 * own options through its type's factory (plugins loaded, no socket opened). `sluice check` and
 * `sluice rules` go through here, so that extending it extends both.
 *
 * @throws {ConfigError} listing every problem found.
 */
export async function validateConfigFile(path: string): Promise<SluiceConfig> {
  return (await checkConfigFile(path)).config;
}

/**
 * {@link validateConfigFile} with the warnings: what `sluice check` prints
 * and `sluice run` logs.
 *
 * @throws {ConfigError} listing every error found.
 */
export async function checkConfigFile(path: string, opts?: InspectOptions): Promise<ConfigCheck & { readonly config: SluiceConfig }> {
  const config = await loadConfigFile(path);
  const warnings = validateOutbounds(config, opts);
  return { config, warnings };
}
