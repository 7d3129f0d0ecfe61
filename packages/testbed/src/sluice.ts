import type { FlowClosedEvent } from '@sluice/core';
import * as path from 'node:path';
import type { NamespaceRole } from './addresses';
import type { CommandResult, RunOptions } from './exec';
import { splitRulesOutput } from './firewall';
import type { Topology } from './topology';
import { ChildWatch, type JsonLine } from './watch';

/**
 * The `sluice` CLI script of the `@sluice/core` this package resolves (the
 * workspace's `packages/core` in a clone). Found through core's main entry,
 * which every exports map keeps; `bin/` sits beside core's `dist/`.
 */
export const SLUICE_BIN = path.resolve(path.dirname(require.resolve('@sluice/core')), '../bin/sluice.js');

/** `msg` of the log line Sluice prints once every inbound listens. */
export const STARTED_MSG = 'sluice started';
/** `msg` of the access-log line Sluice prints per closed flow. */
export const FLOW_CLOSED_MSG = 'flow closed';

/** Fields of an access-log line (`msg: "flow closed"`), the contract tests and the demo read: core's `flow:closed` event. */
export type FlowLog = FlowClosedEvent;

/** A Sluice process (usually `sluice run`) whose stdout is pino JSON lines. */
export class SluiceProcess extends ChildWatch {
  /** Access-log lines so far. */
  flows(): FlowLog[] {
    return this.lines.filter((l) => l.msg === FLOW_CLOSED_MSG) as unknown as FlowLog[];
  }

  /** Waits for the "sluice started" line. */
  waitForStarted(timeoutMs = 10_000): Promise<JsonLine> {
    return this.waitFor((l) => l.msg === STARTED_MSG, timeoutMs, `"${STARTED_MSG}"`);
  }

  /** Waits for an access-log line for which `pred` holds. */
  waitForFlow(pred: (f: FlowLog) => boolean, timeoutMs: number, what: string): Promise<FlowLog> {
    return this.waitUntil(() => this.flows().find(pred), timeoutMs, `access-log line: ${what}`);
  }
}

/** Options for {@link startSluice}. */
export interface StartSluiceOptions {
  /** Arguments after `sluice`, e.g. `['run', '-c', file]`. */
  readonly args: readonly string[];
  /** Namespace to run in; default `gw`. */
  readonly role?: NamespaceRole;
  /** A command that runs node, such as `['setpriv', '--inh-caps=-net_admin', '--']`. */
  readonly wrapper?: readonly string[];
  /** Options for node itself, before the script (such as `['--expose-gc']`). */
  readonly nodeArgs?: readonly string[];
  /** Wait for "sluice started" (default true); on timeout the process is killed and the error rethrown. */
  readonly waitStarted?: boolean;
  readonly startTimeoutMs?: number;
}

/** Spawns Sluice in a namespace of `topo`. */
export async function startSluice(topo: Topology, opts: StartSluiceOptions): Promise<SluiceProcess> {
  const role = opts.role ?? 'gw';
  const argv = [...(opts.wrapper ?? []), process.execPath, ...(opts.nodeArgs ?? []), SLUICE_BIN, ...opts.args];
  const child = topo.spawn(role, argv[0]!, argv.slice(1));
  const sluice = new SluiceProcess(child, `sluice ${opts.args.join(' ')} in ${topo.names[role]}`);
  if (opts.waitStarted ?? true) {
    try {
      await sluice.waitForStarted(opts.startTimeoutMs);
    } catch (err) {
      await sluice.stop('SIGKILL');
      throw err;
    }
  }
  return sluice;
}

/** Runs a Sluice CLI command (`check`, `rules` …) to completion in a namespace. */
export function runSluice(
  topo: Topology,
  args: readonly string[],
  opts: RunOptions & { role?: NamespaceRole } = {},
): Promise<CommandResult> {
  return topo.exec(opts.role ?? 'gw', process.execPath, [SLUICE_BIN, ...args], { timeoutMs: 15_000, ...opts });
}

let rulesHasApply: boolean | undefined;

/**
 * Installs the firewall a config needs in the gateway, the way a user would:
 * `sluice rules -c FILE --apply` when the CLI offers `--apply`, otherwise its
 * printed output (nft ruleset, then `ip` commands) applied by hand.
 */
export async function applySluiceRules(topo: Topology, configPath: string): Promise<void> {
  if (rulesHasApply === undefined) {
    const help = await runSluice(topo, ['rules', '--help'], { allowFailure: true });
    rulesHasApply = /--apply\b/.test(help.stdout + help.stderr);
  }
  if (rulesHasApply) {
    await runSluice(topo, ['rules', '-c', configPath, '--apply']);
    return;
  }
  const printed = await runSluice(topo, ['rules', '-c', configPath]);
  const { nft, commands } = splitRulesOutput(printed.stdout);
  if (!nft.trim()) throw new Error(`sluice rules -c ${configPath} printed no nft ruleset:\n${printed.stdout}${printed.stderr}`);
  await topo.installFirewall('gw', nft, commands);
}
