import type { Topology } from '@sluice/testbed';
import { runSluice } from './sluice';

/** One run of `sluice doctor` in the gateway: exit code, and the status line of each check by id. */
export interface DoctorRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly lines: ReadonlyMap<string, string>;
}

/** Runs `sluice doctor -c configPath` in the gateway namespace and parses its check lines. */
export async function runDoctor(topo: Topology, configPath: string, ...extra: string[]): Promise<DoctorRun> {
  const r = await runSluice(topo, ['doctor', '-c', configPath, ...extra], { allowFailure: true, timeoutMs: 60_000 });
  const lines = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(OK  |WARN|FAIL) ([a-z-]+): /.exec(line);
    if (m) lines.set(m[2]!, line);
  }
  return { code: r.code, stdout: r.stdout + r.stderr, lines };
}

/** The ids of the checks that are not OK. */
export function notOk(run: DoctorRun): string[] {
  return [...run.lines].filter(([, l]) => !l.startsWith('OK')).map(([id]) => id);
}
