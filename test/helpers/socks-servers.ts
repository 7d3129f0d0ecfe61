import { ChildWatch, TOPOLOGY_ADDRESSES, type NamespaceRole, type Topology } from '@sluice/testbed';
import { writeFile } from './sluice';
import { waitFor } from './wait';

/*
 * Real SOCKS servers (Debian's dante-server and microsocks) inside a
 * topology's namespaces, plus the few namespace tweaks the SOCKS suites need:
 * extra addresses to give a server a distinct outgoing address, a listening
 * check, and a "silent host" (SYNs dropped and counted) for dead upstreams.
 * Everything started here runs through `topo.spawn`, so `topo.destroy()`
 * kills it (dante's forked children too: they live in the same namespace).
 */

/** An address and port a server listens on. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/** Options for {@link danteConfig}. */
export interface DanteOptions {
  /** Listening addresses; IPv4 and IPv6 may be mixed. */
  readonly internal: readonly ListenAddress[];
  /**
   * Outgoing addresses, at most one per family: dante sends each connection
   * and relayed datagram from the one of the destination's family. This is
   * the address the far side sees.
   */
  readonly external: readonly string[];
  /** Client addresses (CIDRs) admitted; default any, both families. */
  readonly clientFrom?: readonly string[];
}

/**
 * A dante config following design.md's pitfalls: concrete `external:`
 * addresses, every command allowed, and `connect`/`disconnect` logged, so
 * {@link DanteServer.sessions} can tell who the client was.
 */
export function danteConfig(o: DanteOptions): string {
  const from = o.clientFrom ?? ['0.0.0.0/0', '::/0'];
  const lines = [
    'logoutput: stderr',
    ...o.internal.map((i) => `internal: ${i.address} port = ${i.port}`),
    ...o.external.map((e) => `external: ${e}`),
    'clientmethod: none',
    'socksmethod: none',
    'user.privileged: root',
    'user.unprivileged: nobody',
  ];
  // dante's rules are per family: 0.0.0.0/0 only matches IPv4, ::/0 only IPv6.
  for (const f of from) {
    const any = f.includes(':') ? '::/0' : '0.0.0.0/0';
    lines.push(`client pass {\n  from: ${f} to: ${any}\n}`);
  }
  for (const any of ['0.0.0.0/0', '::/0']) {
    lines.push(`socks pass {\n  from: ${any} to: ${any}\n  command: bind connect udpassociate bindreply udpreply\n  log: connect disconnect error\n}`);
  }
  return `${lines.join('\n')}\n`;
}

/** danted in a namespace; its stderr is its log. */
export class DanteServer extends ChildWatch {
  /**
   * dante's `pass` log lines for sessions it accepted (`tcp/connect`,
   * `tcp/udpassociate`, `udp/udpassociate` …), each naming the client's
   * address first, e.g. `… pass(1): tcp/connect [: 198.19.2.1.40512 198.19.2.2.1080 -> …`.
   */
  sessions(): string[] {
    return this.stderr.split('\n').filter((l) => /\bpass\(\d+\): (tcp|udp)\//.test(l));
  }
}

/**
 * Starts danted with `conf` in a namespace (default the remote) and waits
 * until it says it is running; the config and pid file go to `dir`.
 */
export async function startDante(topo: Topology, dir: string, name: string, conf: string, role: NamespaceRole = 'remote'): Promise<DanteServer> {
  const file = writeFile(dir, `${name}.conf`, conf);
  const d = new DanteServer(topo.spawn(role, 'danted', ['-f', file, '-p', `${dir}/${name}.pid`]), `danted ${name} in ${topo.names[role]}`);
  try {
    await d.waitUntil(() => (/ running/.test(d.stderr) ? true : undefined), 5000, `${name} running`);
  } catch (err) {
    await d.stop('SIGKILL');
    throw err;
  }
  return d;
}

/** Options for {@link startMicrosocks}. */
export interface MicrosocksOptions extends ListenAddress {
  /** RFC 1929 credentials (`-u`, `-P`); without them, no auth. */
  readonly user?: string;
  readonly password?: string;
  /** `-b`: the address its outgoing connections are bound to (what the far side sees). */
  readonly bind?: string;
}

/** Starts microsocks in a namespace (default the remote) and waits until it listens. */
export async function startMicrosocks(topo: Topology, o: MicrosocksOptions, role: NamespaceRole = 'remote'): Promise<ChildWatch> {
  const args = ['-i', o.address, '-p', String(o.port)];
  if (o.user !== undefined) args.push('-u', o.user, '-P', o.password ?? '');
  if (o.bind !== undefined) args.push('-b', o.bind);
  const m = new ChildWatch(topo.spawn(role, 'microsocks', args), `microsocks ${o.address}:${o.port} in ${topo.names[role]}`);
  try {
    await waitTcpListening(topo, role, o.port, m);
  } catch (err) {
    await m.stop('SIGKILL');
    throw err;
  }
  return m;
}

/** Waits (5 s at most) until something in `role` listens on TCP `port`; fails at once if `watch` exits. */
export async function waitTcpListening(topo: Topology, role: NamespaceRole, port: number, watch?: ChildWatch): Promise<void> {
  await waitFor(
    `a TCP listener on port ${port} in ${topo.names[role]}`,
    async () => {
      if (watch?.exitStatus) throw new Error(`${watch.label} exited\n${watch.describe(10)}`);
      const r = await topo.exec(role, 'ss', ['-Hltn', `sport = :${port}`], { allowFailure: true });
      return r.stdout.trim() !== '';
    },
    { timeoutMs: 5000, intervalMs: 50 },
  );
}

/**
 * Adds addresses to the main interface of a namespace (IPv4 as /32, IPv6 as
 * /128 without DAD), so a server can send from an address of its own that
 * nothing else in the topology uses.
 */
export async function addAddresses(topo: Topology, role: NamespaceRole, addresses: readonly string[]): Promise<void> {
  const dev = role === 'client' ? TOPOLOGY_ADDRESSES.client.dev : role === 'remote' ? TOPOLOGY_ADDRESSES.remote.dev : 'lo';
  for (const a of addresses) {
    const args = a.includes(':') ? ['-6', 'addr', 'add', `${a}/128`, 'dev', dev, 'nodad'] : ['addr', 'add', `${a}/32`, 'dev', dev];
    await topo.exec(role, 'ip', args);
  }
}

const SILENT_TABLE = 'sluice_test_silent';

/**
 * Makes TCP `port` of a namespace a silent host: SYNs to it are dropped and
 * counted, so a client's connect neither succeeds nor is refused and only a
 * timeout ends it. {@link readSilentDrops} tells when a SYN has arrived.
 */
export function installSilentPort(topo: Topology, port: number, role: NamespaceRole = 'remote'): Promise<void> {
  return topo.installFirewall(
    role,
    `table inet ${SILENT_TABLE} {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${port} counter drop
  }
}
`,
  );
}

/** SYNs (and retransmits) dropped so far by {@link installSilentPort}. */
export async function readSilentDrops(topo: Topology, role: NamespaceRole = 'remote'): Promise<number> {
  const r = await topo.exec(role, 'nft', ['-j', 'list', 'table', 'inet', SILENT_TABLE]);
  const m = /"counter":\s*\{\s*"packets":\s*(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no counter in nft table ${SILENT_TABLE}:\n${r.stdout}`);
  return Number(m[1]);
}
