import * as path from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { SluicePlugin } from '../adapter/outbound';
import { ErrorCode, SluiceError } from '../errors';
import { blockFactory } from './block';
import { OUTBOUND_FACTORY } from '../tokens';

/**
 * The plugins every Sluice loads. They are loaded by package name exactly like
 * third-party plugins, so the built-in ones get no special path.
 */
export const BUILTIN_PLUGINS: readonly string[] = ['@sluice/plugin-direct', '@sluice/plugin-socks'];

function isPlugin(value: unknown): value is SluicePlugin {
  return typeof value === 'object' && value !== null && typeof (value as SluicePlugin).register === 'function';
}

/**
 * Resolves a plugin package relative to the config's directory, then the
 * working directory, then Sluice itself, and returns its `plugin` export (or
 * the module itself when it exports `register`).
 */
export function loadPlugin(name: string, baseDir: string): SluicePlugin {
  let file: string;
  try {
    file = require.resolve(name, { paths: [baseDir, process.cwd(), path.join(__dirname, '..')] });
  } catch (err) {
    throw new SluiceError(ErrorCode.PLUGIN, `plugin "${name}" not found (install it with npm next to the config, or give a path)`, { cause: err });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as Record<string, unknown>;
  const candidate = mod.plugin ?? mod.default ?? mod;
  if (!isPlugin(candidate)) throw new SluiceError(ErrorCode.PLUGIN, `"${name}" is not a Sluice plugin: it exports no register(container) function`);
  return { name: typeof candidate.name === 'string' ? candidate.name : name, register: candidate.register.bind(candidate) };
}

/** Registers core's own outbound types and every plugin into `container`. */
export function registerPlugins(container: DependencyContainer, names: readonly string[], baseDir: string): SluicePlugin[] {
  container.register(OUTBOUND_FACTORY, { useValue: blockFactory });
  const loaded: SluicePlugin[] = [];
  for (const name of [...BUILTIN_PLUGINS, ...names]) {
    const plugin = loadPlugin(name, baseDir);
    plugin.register(container);
    loaded.push(plugin);
  }
  return loaded;
}
