import * as path from 'node:path';
import { REPO_ROOT } from './workspaces';
import { runClean } from './npm-env';

/** Packing @sluice/native compiles its prebuilds for two architectures (its `prepack`): minutes, not seconds. */
export const NATIVE_PACK_TIMEOUT_MS = 25 * 60_000;

const packed = new Map<string, Promise<string>>();

/**
 * `npm pack` of @sluice/native into `dir`, once per directory and process
 * (both packaging suites need the tarball, and its prebuilds take minutes).
 * Resolves to the tarball's path.
 */
export function packNative(dir: string): Promise<string> {
  let p = packed.get(dir);
  if (!p) {
    p = (async () => {
      const r = await runClean('npm', ['pack', '--json', '--pack-destination', dir], { cwd: path.join(REPO_ROOT, 'packages/native'), timeoutMs: NATIVE_PACK_TIMEOUT_MS });
      // prepack's build log may come before npm's JSON, which starts with a line of its own.
      const [info] = JSON.parse(r.stdout.slice(Math.max(0, r.stdout.search(/^\[\s*$/m)))) as Array<{ filename: string }>;
      return path.join(dir, info!.filename);
    })();
    packed.set(dir, p);
  }
  return p;
}
