import { fail, ok, warn } from '../result';
import type { CheckResult } from '../types';
import type { ProbeOutcome } from './scripts';

/** The probe's addresses: 198.51.100.0/29 (TEST-NET-2, RFC 5737), two /30 links. */
export const PROBE_NET = {
  /** The host's end of the client link. */
  hostClientSide: '198.51.100.1',
  client: '198.51.100.2',
  /** The host's end of the server link: what the server sees when Sluice re-originates the flow. */
  hostServerSide: '198.51.100.5',
  server: '198.51.100.6',
  /** Covers both links; nothing else is ever routed. */
  range: '198.51.100.0/29',
  port: 7,
} as const;

/**
 * Reads what the probe client saw. TCP: a completed handshake means a socket
 * accepted the SYN for an address nobody on the host owns, which only a
 * TPROXY capture (or a nat redirect to a local listener) does; the server's answer tells whether Sluice also relayed
 * it. UDP has no handshake, so only the answer tells: from the host's address
 * is through Sluice, from the client's is past it, none is unknown.
 */
export function probeVerdict(outcome: ProbeOutcome, configPath: string): CheckResult {
  const lines: string[] = [];
  let worst: 'ok' | 'warn' | 'fail' = 'ok';
  const rank = { ok: 0, warn: 1, fail: 2 } as const;
  const note = (status: 'ok' | 'warn' | 'fail', line: string): void => {
    lines.push(line);
    if (rank[status] > rank[worst]) worst = status;
  };
  const { tcp, udp } = outcome;
  if (tcp) {
    if (tcp.reply === PROBE_NET.client) note('fail', 'TCP went past Sluice: the probe server saw the client\'s own address (forwarded, not captured)');
    else if (tcp.reply === PROBE_NET.hostServerSide) note('ok', 'TCP captured and relayed by Sluice');
    else if (tcp.connected) note('ok', 'TCP captured by Sluice (accepted; your rules sent it somewhere other than the probe server)');
    else note('fail', `TCP SYN not accepted (${tcp.error ?? 'closed'}): nothing captured it`);
  }
  if (udp) {
    if (udp.reply === PROBE_NET.client) note('fail', 'UDP went past Sluice: the probe server saw the client\'s own address');
    else if (udp.reply === PROBE_NET.hostServerSide) note('ok', 'UDP captured and relayed by Sluice');
    else note('warn', `UDP got no answer (${udp.error ?? 'empty'}): captured and routed elsewhere, or dropped`);
  }
  const message = lines.join('; ');
  if (worst === 'ok') return ok(message);
  const fix = `run sluice doctor -c ${configPath} without --probe and fix what it reports (rules applied, Sluice running, firewall.interfaces)`;
  return worst === 'warn' ? warn(message, fix) : fail(message, fix);
}
