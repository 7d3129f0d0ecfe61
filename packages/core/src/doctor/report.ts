import type { CheckOutcome } from './runner';

const LABEL = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL' } as const;

/**
 * One line per check, `STATUS id: message`, then for a WARN or FAIL the
 * details and the fix, indented so the status column stays scannable:
 *
 * ```
 * FAIL policy-routing: missing ip -4 rule: fwmark 0x1 lookup 100
 *      fix: sluice rules -c /etc/sluice/config.yaml --apply
 * ```
 */
export function formatOutcome({ check, result }: CheckOutcome): string {
  const lines = [`${LABEL[result.status]} ${check.id}: ${result.message}`];
  if (result.status !== 'ok') {
    for (const d of result.details ?? []) lines.push(`     ${d}`);
    if (result.fix) lines.push(`     fix: ${result.fix}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The closing line: counts per status and what the exit code means. */
export function formatSummary(outcomes: readonly CheckOutcome[]): string {
  const count = (s: 'ok' | 'warn' | 'fail'): number => outcomes.filter((o) => o.result.status === s).length;
  return `${outcomes.length} checks: ${count('ok')} OK, ${count('warn')} WARN, ${count('fail')} FAIL\n`;
}
