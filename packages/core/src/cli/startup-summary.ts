import type { Logger } from 'pino';
import type { SluiceConfig } from '../config/types';
import type { LogFormat } from '../logger-pretty';

/** One line of the startup summary: a JSON line's message and fields, and the same said for a person. */
export interface SummaryLine {
  /** `msg` of the JSON line: `inbound ready`, `rules loaded`, `outbounds ready`. */
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly text: string;
}

/** An address and port as a person writes it: `[::1]:15002`. */
function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * What `sluice run` says once it serves: one line per inbound (address,
 * networks, sniffing), the rule count, and the outbounds with their types.
 * Sniffing is `off` unless an inbound carries a `sniff` flag; groups and a
 * control URL get their lines when those exist.
 */
export function startupSummary(config: SluiceConfig): SummaryLine[] {
  const lines: SummaryLine[] = config.inbounds.map((i) => {
    const sniff = (i as { readonly sniff?: unknown }).sniff === true;
    const address = endpoint(i.listen, i.port);
    return {
      msg: 'inbound ready',
      fields: { inbound: i.tag, type: i.type, address, network: i.network, sniff },
      text: `inbound ${i.tag}: ${i.type} on ${address}, ${i.network.join('+')}, sniff ${sniff ? 'on' : 'off'}`,
    };
  });
  const rules = config.route.rules.length;
  lines.push({
    msg: 'rules loaded',
    fields: { rules, final: config.route.final },
    text: `${rules} rule${rules === 1 ? '' : 's'}, final: ${config.route.final}`,
  });
  const outbounds = config.outbounds.map((o) => ({ tag: o.tag, type: o.type }));
  lines.push({
    msg: 'outbounds ready',
    fields: { outbounds },
    text: `outbounds: ${outbounds.map((o) => `${o.tag} (${o.type})`).join(', ')}`,
  });
  return lines;
}

/** Logs the {@link startupSummary}: JSON lines with fields, or one plain sentence each for pino-pretty. */
export function logStartupSummary(logger: Logger, config: SluiceConfig, format: LogFormat): void {
  for (const line of startupSummary(config)) {
    if (format === 'pretty') logger.info(line.text);
    else logger.info(line.fields, line.msg);
  }
}
