import * as path from 'node:path';

/** Loads the compiled addon, untyped. Only `index.ts` calls this. */
export function loadBinding(): unknown {
  if (process.platform !== 'linux') {
    throw new Error(`@sluice/native works only on Linux (TPROXY and IP_TRANSPARENT are Linux features); this is ${process.platform}`);
  }
  const file = path.join(__dirname, '..', 'build', 'Release', 'sluice_native.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file);
  } catch (err) {
    throw new Error(`@sluice/native: cannot load ${file}; rebuild it with \`npm rebuild @sluice/native\` (needs g++, make and python3): ${(err as Error).message}`, { cause: err });
  }
}
