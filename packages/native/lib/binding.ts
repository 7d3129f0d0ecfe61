import * as path from 'node:path';

/**
 * Loads the compiled addon, untyped. Only `index.ts` calls this. A build
 * from source (`build/Release`) comes first, then the prebuilt binary for
 * this platform, architecture and libc (`prebuilds/`), through
 * node-gyp-build.
 */
export function loadBinding(): unknown {
  if (process.platform !== 'linux') {
    throw new Error(`@sluice/native works only on Linux (TPROXY and IP_TRANSPARENT are Linux features); this is ${process.platform}`);
  }
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => unknown;
    return load(root);
  } catch (err) {
    throw new Error(
      `@sluice/native: cannot load the addon for linux-${process.arch} from ${root} (no build in build/Release, no fitting prebuild in prebuilds/); rebuild it with \`npm rebuild @sluice/native\` (needs g++, make and python3): ${(err as Error).message}`,
      { cause: err },
    );
  }
}
