import type { Command } from 'commander';

/** The private workspace package that holds the demo runner; present in a clone, never published. */
const TESTBED_PACKAGE = '@sluice/testbed';

/** Printed when `sluice demo` runs from an installed `@sluice/core`, which has no test bed. */
export const DEMO_NEEDS_CLONE =
  'sluice demo runs from a clone of the Sluice repository: it needs the test bed (@sluice/testbed), ' +
  'which is not published. In a clone, run: npm ci && sudo npx sluice demo';

/** What `sluice demo` needs of the test bed; declared here so core neither imports nor builds against it. */
interface DemoRunner {
  runDemo(opts: { readonly prefix: string }): Promise<number>;
}

/**
 * Loads the test bed's demo runner, resolved from this file's own location
 * (the workspace's node_modules in a clone), never from the working directory.
 * Resolves to `undefined` when the test bed is not installed; any other
 * failure (a test bed that is there but broken) is thrown.
 */
export function loadDemoRunner(): DemoRunner | undefined {
  let resolved: string;
  try {
    resolved = require.resolve(TESTBED_PACKAGE, { paths: [__dirname] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  // Loaded by resolved path at run time: the test bed depends on core, so a static import would be a cycle.
  return require(resolved) as DemoRunner;
}

/** Adds `sluice demo`: a self-contained tour in throwaway network namespaces (root, and a clone of the repository). */
export function registerDemo(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'build a throwaway client ─ gateway ─ remote network in namespaces, run Sluice in the gateway, ' +
        'send IPv4 and IPv6 TCP and UDP through it, print its access log, and remove everything ' +
        '(root only; runs from a clone of the repository)',
    )
    .option('--prefix <name>', 'network namespace name prefix', `sldemo${process.pid}`)
    .action(async (opts: { prefix: string }) => {
      const runner = loadDemoRunner();
      if (!runner) {
        process.stderr.write(`${DEMO_NEEDS_CLONE}\n`);
        setExitCode(1);
        return;
      }
      setExitCode(await runner.runDemo({ prefix: opts.prefix }));
    });
}
