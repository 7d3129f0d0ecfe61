import { container as rootContainer } from 'tsyringe';
import type { SluiceConfig } from './types';
import { definitionsByType, planOutbounds } from '../outbound/registry';
import { registerPlugins } from '../outbound/plugins';

/**
 * Checks what only the plugins can check: every outbound's type exists and its
 * options parse, and `via` references resolve without cycles. Throws a
 * ConfigError listing every problem. Opens no socket.
 */
export function validateOutbounds(config: SluiceConfig): void {
  const c = rootContainer.createChildContainer();
  registerPlugins(c, config.plugins, config.baseDir);
  planOutbounds(config.outbounds, definitionsByType(c));
}
