import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/** The repository's root directory. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** What the packaging tests read of a workspace's package.json. */
export interface WorkspaceManifest {
  readonly name: string;
  readonly private?: boolean;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

/** A workspace package: its directory, manifest, and the directory of its TypeScript sources. */
export interface Workspace {
  readonly dir: string;
  readonly manifest: WorkspaceManifest;
  /** `rootDir` of the workspace's tsconfig.json (`src`, or `lib` for the native package). */
  readonly sourceDir: string;
}

/**
 * The product workspaces: every workspace of the root package.json that is
 * not private, so a package added later is packed and checked without
 * editing the tests (the private test bed is left out).
 */
export function productWorkspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces
    .map((rel) => {
      const dir = path.join(REPO_ROOT, rel);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as WorkspaceManifest;
      return { dir, manifest, sourceDir: path.join(dir, sourceRootOf(dir)) };
    })
    .filter((w) => !w.manifest.private);
}

function sourceRootOf(dir: string): string {
  const { config, error } = ts.readConfigFile(path.join(dir, 'tsconfig.json'), ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const rootDir = (config as { compilerOptions?: { rootDir?: string } }).compilerOptions?.rootDir;
  if (!rootDir) throw new Error(`${dir}/tsconfig.json sets no compilerOptions.rootDir`);
  return rootDir;
}
