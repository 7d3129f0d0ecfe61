import * as assert from 'node:assert/strict';
import type { Topology } from '@sluice/testbed';

/** One `dig +short` query from the client namespace. */
export interface DigQuery {
  readonly server: string;
  readonly name: string;
  readonly type: 'A' | 'AAAA';
  readonly tcp: boolean;
  /** `-b`: the source address, optionally `address#port`. */
  readonly source: string;
  readonly port?: number;
}

/**
 * Runs `dig` in the client namespace and returns its answer lines; a failing dig fails the test with its
 * output and `context` (for example Sluice's last log lines).
 */
export async function digFromClient(topo: Topology, q: DigQuery, context = ''): Promise<string[]> {
  const args = ['-b', q.source, '-p', String(q.port ?? 53), '+short', '+time=3', '+tries=1', q.tcp ? '+tcp' : '+notcp', `@${q.server}`, q.name, q.type];
  const r = await topo.exec('client', 'dig', args, { allowFailure: true, timeoutMs: 10_000 });
  assert.equal(r.code, 0, `dig ${args.join(' ')}: exit ${r.code}: ${r.stdout}${r.stderr}\n${context}`);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}
