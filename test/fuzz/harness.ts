import { performance } from 'node:perf_hooks';
import { Prng, fuzzSeed, inputSeed } from './prng';

/** How many inputs each target gets: `SLUICE_FUZZ_INPUTS` (`npm run fuzz` sets 1,000,000), else 100,000. */
export function fuzzInputs(): number {
  const env = process.env.SLUICE_FUZZ_INPUTS;
  if (env === undefined || env === '') return 100_000;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SLUICE_FUZZ_INPUTS must be a positive integer, not ${env}`);
  return n;
}

/**
 * The mocha timeout of a test that runs one target: 2 ms an input on average
 * (several times what the slowest target, the config loader, reports on a
 * busy machine), at least a minute. Only there to stop a run that hangs; how
 * fast a target runs is reported, never asserted.
 */
export function fuzzTimeoutMs(): number {
  return Math.max(60_000, fuzzInputs() * 2);
}

/** `SLUICE_FUZZ_INPUT`: run only that input of the seed's sequence (to replay a failure). */
function onlyInput(): number | undefined {
  const env = process.env.SLUICE_FUZZ_INPUT;
  if (env === undefined || env === '') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0) throw new Error(`SLUICE_FUZZ_INPUT must be an input index, not ${env}`);
  return n;
}

/** One fuzz target: makes an input from a PRNG and checks what the code under test does with it. */
export interface FuzzTarget<I> {
  readonly name: string;
  /** Builds one input; all randomness comes from `rng`, so (seed, index) replays it. */
  generate(rng: Prng): I;
  /** Runs the code under test on `input`; throws (an assertion) when the outcome is wrong. */
  check(input: I): void | Promise<void>;
  /** How to print an input in a failure report. */
  show?(input: I): string;
}

/** What a run saw: printed by the tests, for the closing note's "inputs fuzzed". */
export interface FuzzReport {
  readonly name: string;
  readonly seed: number;
  readonly inputs: number;
  /** The input that took longest, by wall clock: reported, never asserted on. */
  readonly slowest: { readonly index: number; readonly ms: number };
  readonly totalMs: number;
  /** CPU time of this process during the run (user + system): on a shared machine, the figure that means something. */
  readonly cpuMs: number;
}

/** Every report of this process, for {@link fuzzTotals}. */
const reports: FuzzReport[] = [];

/** Inputs, targets and times of every fuzz run in this process so far. */
export function fuzzTotals(): { inputs: number; targets: number; totalMs: number; cpuMs: number } {
  return {
    inputs: reports.reduce((n, r) => n + r.inputs, 0),
    targets: reports.length,
    totalMs: reports.reduce((n, r) => n + r.totalMs, 0),
    cpuMs: reports.reduce((n, r) => n + r.cpuMs, 0),
  };
}

// One line at the end of the whole mocha run (a root hook: this module is loaded by the fuzz spec files),
// so `npm test`'s output says how many inputs were fuzzed in all.
after(function () {
  const t = fuzzTotals();
  if (t.targets === 0) return;
  console.log(`  fuzz total: ${t.inputs} inputs over ${t.targets} targets, ${(t.totalMs / 1000).toFixed(1)} s wall, ${(t.cpuMs / 1000).toFixed(1)} s CPU`);
});

function defaultShow(input: unknown): string {
  if (Buffer.isBuffer(input)) return `<Buffer ${input.toString('hex')}>`;
  try {
    return JSON.stringify(input, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  } catch {
    return String(input);
  }
}

/**
 * Runs `inputs` inputs through `target`. Input `i` comes from
 * `inputSeed(seed, i)`; the first failure stops the run with the seed, the
 * index, the input and how to replay just it (`SLUICE_FUZZ_SEED=S
 * SLUICE_FUZZ_INPUT=I`). Rejections are the common case and their stack
 * traces would dominate, so `Error.stackTraceLimit` is 0 during the run. Returns
 * the timing report, and prints it as one line.
 */
export async function runFuzz<I>(target: FuzzTarget<I>, inputs = fuzzInputs(), seed = fuzzSeed()): Promise<FuzzReport> {
  const show = target.show ?? defaultShow;
  const only = onlyInput();
  let slowest = { index: -1, ms: -1 };
  // Most inputs are rejected, and a rejection is an Error: its stack trace would cost more than the parse.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  try {
    for (let i = only ?? 0; i < (only === undefined ? inputs : only + 1); i++) {
      const input = target.generate(new Prng(inputSeed(seed, i)));
      const t0 = performance.now();
      try {
        await target.check(input);
      } catch (err) {
        const replay = `SLUICE_FUZZ_SEED=${seed} SLUICE_FUZZ_INPUT=${i}`;
        const message = `fuzz ${target.name}: input #${i} of seed ${seed} failed: ${err instanceof Error ? err.message : String(err)}\n  input: ${show(input).slice(0, 2000)}\n  replay: ${replay}`;
        throw Object.assign(new Error(message), { cause: err });
      }
      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { index: i, ms };
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  const cpu = process.cpuUsage(cpuStarted);
  const report = { name: target.name, seed, inputs, slowest, totalMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
  reports.push(report);
  console.log(
    `      fuzz ${report.name}: ${inputs} inputs, seed ${seed}, ${report.totalMs.toFixed(0)} ms (${report.cpuMs.toFixed(0)} ms CPU), slowest #${slowest.index} ${slowest.ms.toFixed(2)} ms`,
  );
  return report;
}
