import { container as rootContainer } from 'tsyringe';
import type { ConfigIssue } from '../errors';
import type { SluiceConfig } from './types';
import { definitionsByType } from '../outbound/registry';
import { registerPlugins } from '../outbound/plugins';
import { inspectConfig, type InspectOptions } from './check';

/**
 * Checks what only the plugins and the host can check: every outbound's type
 * exists and its options parse, `via` references resolve without cycles, and
 * the rules of `inspectConfig`. Throws a ConfigError listing every
 * error; returns the warnings. Opens no socket.
 */
export function validateOutbounds(config: SluiceConfig, opts?: InspectOptions): readonly ConfigIssue[] {
  const c = rootContainer.createChildContainer();
  registerPlugins(c, config.plugins, config.baseDir);
  return inspectConfig(config, definitionsByType(c), opts).warnings;
}
