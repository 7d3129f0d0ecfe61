import type { Command } from 'commander';

/** Adds `sluice run` to the program. */
export function registerRun(program: Command, setExitCode: (code: number) => void): void {
  void program;
  void setExitCode;
}
