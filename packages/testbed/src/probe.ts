import * as path from 'node:path';
import type { NamespaceRole } from './addresses';
import type { Topology } from './topology';
import { ChildWatch, type JsonLine } from './watch';

/** Path of the probe script; see `probe-main.ts` for its commands and events. */
export const PROBE_SCRIPT = path.join(__dirname, 'probe-main.js');

/** One event a probe printed: `{ event: 'listening', port: 80, … }`. */
export type ProbeEvent = JsonLine & { readonly event?: string };

/** A probe process in a namespace, with the events it has printed so far. */
export class ProbeProcess extends ChildWatch {
  /** Events named `event` seen so far. */
  eventsNamed(event: string): ProbeEvent[] {
    return this.lines.filter((l) => l.event === event);
  }

  /** Resolves with the first event named `event` (past or future) for which `pred` holds. */
  waitForEvent(event: string, pred: (e: ProbeEvent) => boolean = () => true, timeoutMs = 5000): Promise<ProbeEvent> {
    return this.waitFor((l) => l.event === event && pred(l), timeoutMs, `event "${event}"`);
  }
}

/** Spawns the probe script in a namespace with `args` (`['http-server', '--host', …]`). */
export function spawnProbe(topo: Topology, role: NamespaceRole, args: readonly string[]): ProbeProcess {
  const child = topo.spawn(role, process.execPath, [PROBE_SCRIPT, ...args]);
  return new ProbeProcess(child, `probe ${args[0] ?? ''} in ${topo.names[role]}`);
}

/** Starts a server probe and waits for its `listening` event (which carries the bound `port`). */
export async function startProbe(
  topo: Topology,
  role: NamespaceRole,
  args: readonly string[],
  timeoutMs = 5000,
): Promise<ProbeProcess> {
  const probe = spawnProbe(topo, role, args);
  try {
    await probe.waitForEvent('listening', undefined, timeoutMs);
  } catch (err) {
    await probe.stop();
    throw err;
  }
  return probe;
}

/** Runs a client probe to its `result` event and returns it (`ok: false` results resolve too). */
export async function runProbe(
  topo: Topology,
  role: NamespaceRole,
  args: readonly string[],
  timeoutMs = 10_000,
): Promise<ProbeEvent> {
  const probe = spawnProbe(topo, role, args);
  try {
    return await probe.waitForEvent('result', undefined, timeoutMs);
  } finally {
    await probe.stop();
  }
}

/** Deterministic payload, so a receiver can check content as well as length. */
export function patternBytes(size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = 97 + (i % 26);
  return buf;
}
