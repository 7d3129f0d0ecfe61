import type { Command } from 'commander';

/** Adds `sluice check` to the program. */
export function registerCheck(program: Command, setExitCode: (code: number) => void): void {
  void program;
  void setExitCode;
}
