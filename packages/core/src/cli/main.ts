import 'reflect-metadata';
import { Command } from 'commander';
import { registerRun } from './run';
import { registerCheck } from './check';
import { registerRules } from './rules';
import { registerDemo } from './demo';
import { registerDoctor } from './doctor';
import { registerInstallService } from './install-service';

export { installService, unreadableByOthers, DEFAULT_SERVICE_CONFIG, type InstallServiceOptions, type ServiceCommandRunner } from './install-service';
export { renderServiceUnit, needsLowPorts, SERVICE_UNIT_PATH, SERVICE_FILE_LIMIT, type ServiceUnitOptions } from './service-unit';
export { startupSummary, type SummaryLine } from './startup-summary';
export { resolveLogFormat } from './run';
export { createServiceNotifier, NOTIFY_SOCKET_ENV, type ServiceNotifier, type ServiceNotifierOptions, type NotifyCommand } from '../runtime/systemd-notify';

/** Entry point of the `sluice` binary; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command();
  program.name('sluice').description('Transparent proxy for Linux (TPROXY) with pluggable outbounds').exitOverride();
  let code = 0;
  const setCode = (c: number): void => {
    code = c;
  };
  registerRun(program, setCode);
  registerCheck(program, setCode);
  registerRules(program, setCode);
  registerDemo(program, setCode);
  registerDoctor(program, setCode);
  registerInstallService(program, setCode);
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    if (typeof e.exitCode === 'number') return e.exitCode;
    throw err;
  }
  return code;
}
