import type { DoctorCheck, CheckResult, CheckStatus, DoctorContext } from './types';

/** One check's outcome, as the report prints it. */
export interface CheckOutcome {
  readonly check: DoctorCheck;
  readonly result: CheckResult;
}

const RANK: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

/**
 * Runs the checks one after another (several create and delete throwaway
 * namespaces, and their output is read in order). A check that throws is a
 * FAIL with its message: doctor itself must never crash on a strange system.
 */
export async function runChecks(checks: readonly DoctorCheck[], ctx: DoctorContext, onResult?: (o: CheckOutcome) => void): Promise<CheckOutcome[]> {
  const out: CheckOutcome[] = [];
  for (const check of checks) {
    let result: CheckResult;
    try {
      result = await check.run(ctx);
    } catch (err) {
      result = { status: 'fail', message: `check failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    const outcome = { check, result };
    out.push(outcome);
    onResult?.(outcome);
  }
  return out;
}

/** 0 when every check is OK, 1 when the worst is a WARN, 2 when any FAILs. */
export function exitCodeOf(outcomes: readonly CheckOutcome[]): 0 | 1 | 2 {
  return outcomes.reduce<0 | 1 | 2>((worst, o) => Math.max(worst, RANK[o.result.status]) as 0 | 1 | 2, 0);
}
