import * as path from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { SluicePlugin } from '../adapter/plugin';
import { ErrorCode, SluiceError } from '../errors';
import { blockOutbound } from './block';
import { CORE_DIR, checkCoreRange } from './compat';
import { pluginProblem } from './define';
import { groupOutbounds } from './groups';
import { registerOutboundType } from './registry';

/**
 * The plugins every Sluice loads. They are resolved from core's own
 * installation only, so a `node_modules/@sluice/plugin-direct` next to a
 * config or in the working directory cannot replace them.
 */
export const BUILTIN_PLUGINS: readonly string[] = ['@sluice/plugin-direct', '@sluice/plugin-socks'];

/** Where `name` is looked up: core's installation for a built-in; else the config's directory, the working directory, core. */
function searchPaths(name: string, baseDir: string): string[] {
  return BUILTIN_PLUGINS.includes(name) ? [CORE_DIR] : [baseDir, process.cwd(), CORE_DIR];
}

/**
 * Loads plugin `name` (a package name or a path, relative to `baseDir` first),
 * takes its `plugin` export (or the default export, or the module itself),
 * checks its shape and refuses it when its `sluice` range excludes this core.
 */
export function loadPlugin(name: string, baseDir: string): SluicePlugin {
  let file: string;
  try {
    file = require.resolve(name, { paths: searchPaths(name, baseDir) });
  } catch (err) {
    throw new SluiceError(ErrorCode.PLUGIN, `plugin "${name}" not found (install it with npm next to the config, or give a path)`, { cause: err });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as Record<string, unknown>;
  const candidate = mod.plugin ?? mod.default ?? mod;
  const problem = pluginProblem(candidate);
  if (problem !== undefined) throw new SluiceError(ErrorCode.PLUGIN, `"${name}" is not a usable Sluice plugin: ${problem}`);
  const plugin = candidate as SluicePlugin;
  checkCoreRange(plugin);
  return plugin;
}

/**
 * Registers core's own outbound types, the built-in plugins and the plugins
 * named in config (a built-in named there is the built-in, loaded once) into
 * `container`. Throws a `SLUICE_ERR_PLUGIN` error for a plugin that is missing,
 * malformed or made for another core.
 */
export function registerPlugins(container: DependencyContainer, names: readonly string[], baseDir: string, given: readonly SluicePlugin[] = []): SluicePlugin[] {
  registerOutboundType(container, '@sluice/core', blockOutbound);
  for (const group of groupOutbounds) registerOutboundType(container, '@sluice/core', group);
  const loaded: SluicePlugin[] = [];
  for (const name of new Set([...BUILTIN_PLUGINS, ...names])) loaded.push(loadPlugin(name, path.resolve(baseDir)));
  // Plugin objects an embedder passes in code get the same checks as loaded ones.
  for (const candidate of given) {
    const problem = pluginProblem(candidate);
    if (problem !== undefined) throw new SluiceError(ErrorCode.PLUGIN, `a plugin given to createSluice is not usable: ${problem}`);
    checkCoreRange(candidate);
    loaded.push(candidate);
  }
  for (const plugin of loaded) for (const definition of plugin.outbounds) registerOutboundType(container, plugin.name, definition);
  return loaded;
}
