import type { OutboundDefinition } from '../adapter/plugin';
import { blockOutbound } from '../outbound/block';
import { CORE_DIR } from '../outbound/compat';
import { groupOutbounds } from '../outbound/groups';
import { BUILTIN_PLUGINS, loadPlugin } from '../outbound/plugins';

/**
 * The outbound types every Sluice has: core's `block` and groups, and those
 * of the built-in plugins (`direct`, `socks`), loaded as `sluice run` loads
 * them. What the shipped schema covers.
 */
export function builtinOutboundDefinitions(): OutboundDefinition[] {
  const plugins = BUILTIN_PLUGINS.map((name) => loadPlugin(name, CORE_DIR));
  return [blockOutbound as OutboundDefinition, ...(groupOutbounds as readonly OutboundDefinition[]), ...plugins.flatMap((p) => p.outbounds as readonly OutboundDefinition[])];
}
