import type { SluiceConfig } from '../config/types';
import type { CommandRunner } from '../firewall/apply';
import type { RenderedFirewall } from '../firewall/render';

/** How a check came out; the worst one decides `sluice doctor`'s exit code (0 / 1 / 2). */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** What one check found. */
export interface CheckResult {
  readonly status: CheckStatus;
  /** One line: what was found, in terms of the running system. */
  readonly message: string;
  /** The command (or config change) that fixes it; absent when nothing needs fixing. */
  readonly fix?: string;
  /** Further lines: why it matters, or what exactly differs. */
  readonly details?: readonly string[];
}

/**
 * Everything a check may look at. Commands and files go through `run`,
 * `readFile` and `listDir`, so unit tests seed their outputs instead of
 * touching the machine.
 */
export interface DoctorContext {
  readonly config: SluiceConfig;
  /** The config file as given on the command line, for the fix commands. */
  readonly configPath: string;
  /** What `sluice rules` renders for this config. */
  readonly rendered: RenderedFirewall;
  /** Runs a command without a shell; a missing binary yields code 127. */
  readonly run: CommandRunner;
  /** A file's text, or `undefined` when it does not exist or cannot be read. */
  readFile(path: string): Promise<string | undefined>;
  /** Names in a directory, or `[]` when it does not exist. */
  listDir(path: string): Promise<string[]>;
  /** Used to name the throwaway namespaces and interfaces (`sluice-doctor-<pid>`), so runs never collide. */
  readonly pid: number;
  /** The node binary, for the probe's helper processes. */
  readonly execPath: string;
  /** Starts a long-running helper (the probe's server); it must be stopped with `stop()`. */
  spawn(argv: readonly string[]): HelperProcess;
}

/** A helper process doctor started and stops again. */
export interface HelperProcess {
  /** The first line it prints on stdout; rejects if it exits first or prints nothing within `timeoutMs`. */
  firstLine(timeoutMs: number): Promise<string>;
  /** Kills it (SIGKILL) and waits for it to be gone. */
  stop(): Promise<void>;
}

/** One diagnosis: `sluice doctor` runs each and prints one line per check. */
export interface DoctorCheck {
  /** Stable short name, printed in the report (`rp-filter`, `nft-table`…). */
  readonly id: string;
  /** What is checked, for `--help` and the docs. */
  readonly title: string;
  /** Runs the check against `ctx`; a failure is a result, not a rejection. */
  run(ctx: DoctorContext): Promise<CheckResult>;
}
