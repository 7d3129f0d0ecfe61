/**
 * Child-process entry: `node scenario-runner.js NAME JSON_ARGS`. Runs one
 * scenario from `scenarios.ts` and prints `RESULT <json>`, then exits (so a
 * forgotten handle cannot hang the parent).
 */
import { scenarios } from './scenarios';

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`no scenario named ${name}`);
  const result = await scenario(JSON.parse(json ?? '{}'));
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(2);
});
