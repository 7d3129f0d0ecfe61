import { main } from '@sluice/core/cli';

/** What an in-process `sluice …` run returned and wrote. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sluice …` in-process through the CLI's `main()`, capturing stdout and stderr. */
export async function runCli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'sluice', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
