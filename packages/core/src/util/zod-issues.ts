import type { SchemaIssue } from '../adapter/plugin';
import { ConfigError, type ConfigIssue } from '../errors';

/** `outbounds[2]` + `['port']` → `outbounds[2].port`; numeric segments become `[i]`. */
export function joinKeyPath(base: string, segments: readonly (string | number)[]): string {
  let out = base;
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

/**
 * Converts zod-shaped issues into a {@link ConfigError} with key paths under
 * `base`. Unknown keys are reported one per key, at the key's own path, so
 * users see exactly which word they misspelt.
 */
export function configErrorFromIssues(issues: readonly SchemaIssue[], base: string): ConfigError {
  const out: ConfigIssue[] = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys' && i.keys) {
      for (const k of i.keys) out.push({ path: joinKeyPath(base, [...i.path, k]), message: `unknown key "${k}"` });
    } else {
      out.push({ path: joinKeyPath(base, i.path), message: i.message });
    }
  }
  return new ConfigError(out);
}
