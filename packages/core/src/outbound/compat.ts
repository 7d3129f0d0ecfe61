import * as fs from 'node:fs';
import * as path from 'node:path';
import * as semver from 'semver';
import type { SluicePlugin } from '../adapter/plugin';
import { ErrorCode, SluiceError } from '../errors';

/** The directory of the running `@sluice/core` package (its package.json's). */
export const CORE_DIR = path.join(__dirname, '..', '..');

let version: string | undefined;

/** The running `@sluice/core`'s version, from its package.json. */
export function coreVersion(): string {
  version ??= (JSON.parse(fs.readFileSync(path.join(CORE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/**
 * Refuses a plugin whose `sluice` range excludes the running core, naming both
 * versions. Prereleases of core count as inside a range that covers them
 * (`^0.2.0` accepts `0.2.0-rc.1`), so release candidates can be tried.
 */
export function checkCoreRange(plugin: SluicePlugin, running: string = coreVersion()): void {
  const range = semver.validRange(plugin.sluice);
  if (range === null) {
    throw new SluiceError(ErrorCode.PLUGIN, `plugin "${plugin.name}" has an invalid "sluice" range "${plugin.sluice}" (a semver range of @sluice/core, e.g. "^0.1.0")`);
  }
  if (!semver.satisfies(running, range, { includePrerelease: true })) {
    throw new SluiceError(
      ErrorCode.PLUGIN,
      `plugin "${plugin.name}" needs @sluice/core ${plugin.sluice}, but this is @sluice/core ${running}: install a version of the plugin made for ${running}`,
    );
  }
}
