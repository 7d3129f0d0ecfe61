import { runProbe, type NamespaceRole, type Topology } from '@sluice/testbed';

/**
 * A port that is free on `host` inside a namespace right now (the kernel's
 * choice for port 0). Servers started by the helpers bind port 0 themselves
 * and report it; this is for things that need the number up front, such as a
 * config file.
 */
export async function freePort(
  topo: Topology,
  role: NamespaceRole,
  host: string,
  network: 'tcp' | 'udp' = 'tcp',
): Promise<number> {
  const ev = await runProbe(topo, role, ['free-port', '--host', host, '--network', network]);
  if (ev.ok !== true || typeof ev.port !== 'number') throw new Error(`free-port probe said ${JSON.stringify(ev)}`);
  return ev.port as number;
}
