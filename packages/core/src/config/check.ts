import type { OutboundDefinition } from '../adapter/plugin';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { ConfigError, type ConfigIssue } from '../errors';
import { planOutbounds, type PlannedOutbound } from '../outbound/registry';
import type { SluiceConfig } from './types';
import { checkLocalModeMarks, checkUdpReach } from './egress';
import { checkCapturedInterfaces, readHostInterfaces, type HostInterfaces } from './host-interfaces';
import { hasHostBits, parseCidr } from './net';
import { unreachableRuleWarnings } from './rule-warnings';

/**
 * What checking a config found besides its errors. Warnings are problems
 * that do not stop Sluice but make it misbehave; each is a `path: message`
 * like an error. `sluice check` prints them as `warning: path: message`,
 * `sluice run` and `createSluice` log them as warn lines.
 */
export interface ConfigCheck {
  readonly warnings: readonly ConfigIssue[];
}

/** What {@link inspectConfig} returns: the outbound plan it made, and the warnings. */
export interface InspectedConfig extends ConfigCheck {
  readonly plan: PlannedOutbound[];
}

/** Options of {@link inspectConfig}. */
export interface InspectOptions {
  /** The host's interfaces; default: read from this host (os.networkInterfaces(), /proc/net). */
  readonly host?: HostInterfaces;
}

/** `bypass_cidr` entries with host bits set: meant as their network, which is what the ruleset gets. */
function bypassCidrWarnings(config: SluiceConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  config.firewall.bypass_cidr.forEach((cidr, i) => {
    if (!hasHostBits(cidr)) return;
    const c = parseCidr(cidr)!;
    const bytes = Array.from(c.bytes);
    const net = c.family === 4 ? bytes.join('.') : ipaddr.fromByteArray(bytes).toString();
    out.push({ path: `firewall.bypass_cidr[${i}]`, message: `${cidr} has host bits set; it means ${net}/${c.prefix}, which is what the ruleset gets` });
  });
  return out;
}

/**
 * The checks that need the plugins' parsed options or the host, run on a
 * config that {@link normalizeConfig} accepted: every outbound's options
 * parse and its `via` resolves (the plan), local mode's marks (errors), and
 * the warnings. `sluice check`, `sluice run` and `createSluice` all come
 * through here, so that one check covers all three.
 *
 * @throws {ConfigError} listing every error found.
 */
export function inspectConfig(config: SluiceConfig, definitions: ReadonlyMap<string, OutboundDefinition>, opts: InspectOptions = {}): InspectedConfig {
  const plan = planOutbounds(config.outbounds, definitions);
  const errors = checkLocalModeMarks(config, plan);
  if (errors.length > 0) throw new ConfigError(errors);
  const warnings = [
    ...bypassCidrWarnings(config),
    ...checkCapturedInterfaces(config.firewall, opts.host ?? readHostInterfaces()),
    ...checkUdpReach(config, plan),
    ...unreachableRuleWarnings(config),
  ];
  return { plan, warnings };
}

/** Formats a warning for a person: `warning: path: message`. */
export function formatWarning(w: ConfigIssue): string {
  return `warning: ${w.path ? `${w.path}: ` : ''}${w.message}`;
}

/** Logs each warning as one warn line, `path: message`, with the path also as `key`. */
export function logWarnings(logger: Logger, warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) logger.warn({ key: w.path }, `${w.path ? `${w.path}: ` : ''}${w.message}`);
}
