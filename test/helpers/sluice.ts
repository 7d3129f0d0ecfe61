import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { demoConfig, formatExit, type DemoConfigOptions, type FlowLog, type SluiceProcess, type Topology } from '@sluice/testbed';

export { applySluiceRules, runSluice, startSluice, SLUICE_BIN, type FlowLog, type SluiceProcess } from '@sluice/testbed';

/** Optional keys of the contract config. */
export type ConfigExtras = DemoConfigOptions;

/**
 * The e2e contract config is the demo's (TPROXY to a loopback listener works
 * for forwarded IPv4 and IPv6 packets; checked with socat's ip-transparent
 * listener): one definition for both.
 */
export const contractConfig = (x: ConfigExtras = {}): string => demoConfig(x);

/** A fresh temporary directory for one suite's files. */
export function makeTmpDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'sluice-e2e-'));
}

/** Writes `text` to `dir/name` and returns the path. */
export function writeFile(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

const MARK_TABLE = 'sluice_test_mark';

/** Adds an nft counter in the gateway's output hook for packets carrying `mark`. */
export async function installMarkCounter(topo: Topology, mark: number): Promise<void> {
  await topo.installFirewall(
    'gw',
    `table inet ${MARK_TABLE} {
  chain output {
    type filter hook output priority 0; policy accept;
    meta mark 0x${mark.toString(16)} counter
  }
}
`,
  );
}

/** Packets counted so far by {@link installMarkCounter}'s rule. */
export async function readMarkCounter(topo: Topology): Promise<number> {
  const r = await topo.exec('gw', 'nft', ['-j', 'list', 'table', 'inet', MARK_TABLE]);
  let packets: number | undefined;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const c = o.counter as Record<string, unknown> | undefined;
      if (c && typeof c.packets === 'number') packets = c.packets;
      else Object.values(o).forEach(walk);
    }
  };
  walk(JSON.parse(r.stdout));
  if (packets === undefined) throw new Error(`no counter in nft table ${MARK_TABLE}:\n${r.stdout}`);
  return packets;
}

/** Renders access-log lines for assertion messages. */
export function describeFlows(flows: readonly FlowLog[]): string {
  return flows.length ? flows.map((f) => JSON.stringify(f)).join('\n') : '(no access-log lines)';
}

/**
 * Asserts that `sluice` (started without waiting) exits 1 within 10 s, says
 * CAP_NET_ADMIN, and never claimed to have started.
 */
export async function assertRefusedForCapNetAdmin(sluice: SluiceProcess): Promise<void> {
  const status = await Promise.race([
    sluice.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running after 10 s\n${sluice.describe()}`)), 10_000)),
  ]);
  assert.equal(status.code, 1, `exit ${formatExit(status)}\n${sluice.describe()}`);
  const output = sluice.stderr + sluice.lines.map((l) => JSON.stringify(l)).join('\n');
  assert.match(output, /CAP_NET_ADMIN/, sluice.describe());
  assert.equal(sluice.lines.some((l) => l.msg === 'sluice started'), false, 'it claimed to have started');
}
