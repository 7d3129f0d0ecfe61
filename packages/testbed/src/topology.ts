import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { NAMESPACE_ROLES, TOPOLOGY_ADDRESSES, type NamespaceRole, type TopologyAddresses } from './addresses';
import { runCommand, splitCommandLine, type CommandResult, type RunOptions } from './exec';
import { finalDropRuleset, removeFinalDropRuleset } from './firewall';
import { Namespace } from './namespace';

/** Options for {@link createTopology}. */
export interface TopologyOptions {
  /**
   * Unique per run (for example `sl${process.pid}`): namespaces are named
   * `<prefix>-client`, `<prefix>-gw` and `<prefix>-remote`. Letters, digits,
   * `_` and `-`, at most 24 characters.
   */
  readonly prefix: string;
  /** Receives a line per setup step, for debugging. */
  readonly log?: (line: string) => void;
}

const EXIT_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Three network namespaces wired client ─ gw ─ remote (see
 * {@link TOPOLOGY_ADDRESSES}), with helpers to run processes in them. Only
 * the namespaces it created are ever changed; the host's network config is
 * never touched.
 */
export class Topology {
  /** Namespace names by role. */
  readonly names: Readonly<Record<NamespaceRole, string>>;
  readonly addresses: TopologyAddresses = TOPOLOGY_ADDRESSES;
  /** The namespaces by role; each is created by {@link build}. */
  readonly namespaces: Readonly<Record<NamespaceRole, Namespace>>;
  private readonly created: Namespace[] = [];
  private destroying: Promise<void> | undefined;
  private unhook: (() => void) | undefined;

  /** Use {@link createTopology}; the constructor alone creates nothing. */
  constructor(readonly prefix: string, private readonly log: (line: string) => void = () => undefined) {
    if (!/^[A-Za-z0-9_-]{1,24}$/.test(prefix)) throw new Error(`bad topology prefix ${JSON.stringify(prefix)}`);
    this.names = { client: `${prefix}-client`, gw: `${prefix}-gw`, remote: `${prefix}-remote` };
    this.namespaces = {
      client: new Namespace(this.names.client, log),
      gw: new Namespace(this.names.gw, log),
      remote: new Namespace(this.names.remote, log),
    };
  }

  /** Runs a command inside a namespace to completion (via `ip netns exec`). */
  exec(role: NamespaceRole, cmd: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult> {
    this.assertLive();
    return this.namespaces[role].exec(cmd, args, opts);
  }

  /**
   * Starts a long-running process inside a namespace. `ip netns exec` execs
   * the command in place, so the child's pid is the command's pid. The process
   * is killed by {@link destroy}.
   */
  spawn(role: NamespaceRole, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    this.assertLive();
    return this.namespaces[role].spawn(cmd, args, opts);
  }

  /**
   * Loads an nft ruleset (`nft -f -`) in a namespace, then runs `upCmds`
   * (such as `ip rule add fwmark 1 lookup 100`) there in order.
   */
  async installFirewall(role: NamespaceRole, nftText: string, upCmds: readonly string[] = []): Promise<void> {
    if (nftText.trim()) await this.exec(role, 'nft', ['-f', '-'], { input: nftText });
    for (const line of upCmds) {
      const argv = splitCommandLine(line);
      if (argv.length === 0) continue;
      // These would reach outside the namespace the command runs in.
      if (argv.some((a) => a === 'netns' || a === '-n' || a === '-netns')) {
        throw new Error(`refusing to run a namespace-switching command: ${line}`);
      }
      await this.exec(role, argv[0], argv.slice(1));
    }
  }

  /** Adds the gateway's final drop for forwarded traffic, so nothing can bypass Sluice unnoticed. */
  installFinalDrop(): Promise<void> {
    return this.installFirewall('gw', finalDropRuleset());
  }

  /** Removes the final drop again, making the gateway a plain router. */
  removeFinalDrop(): Promise<void> {
    return this.installFirewall('gw', removeFinalDropRuleset());
  }

  /** Pids of every process currently inside a namespace. */
  pids(role: NamespaceRole): Promise<number[]> {
    return this.namespaces[role].pids();
  }

  /**
   * Kills every process in the namespaces (SIGTERM, then SIGKILL after a
   * grace period) and deletes them. Idempotent; concurrent calls share one run.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  /**
   * Registers cleanup for SIGINT, SIGTERM and SIGHUP (process exit is always
   * covered, by {@link Namespace}). After cleanup on a signal, the signal is
   * re-raised when nothing else listens for it, so the process still dies the
   * way the sender expected.
   */
  destroyOnExit(): this {
    if (this.unhook || this.destroying) return this;
    const onSignal = (sig: NodeJS.Signals): void => {
      // A failed delete cannot be reported from here; the signal must still end the process.
      void this.destroy()
        .catch(() => undefined)
        .finally(() => {
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
    };
    for (const s of EXIT_SIGNALS) process.on(s, onSignal);
    this.unhook = () => {
      for (const s of EXIT_SIGNALS) process.removeListener(s, onSignal);
    };
    return this;
  }

  /** Last-resort cleanup for `process.on('exit')`, where nothing asynchronous runs: SIGKILL and delete. */
  destroySync(): void {
    for (const ns of this.created.splice(0)) ns.destroySync();
  }

  /** @internal Builds the namespaces; called once by {@link createTopology}. */
  async build(): Promise<void> {
    const a = this.addresses;
    const n = this.names;
    const ip = (...args: string[]): Promise<CommandResult> => {
      this.log(`ip ${args.join(' ')}`);
      return runCommand('ip', args);
    };
    const sysctl = (role: NamespaceRole, ...settings: string[]): Promise<CommandResult> =>
      this.exec(role, 'sysctl', ['-qw', ...settings]);
    for (const role of NAMESPACE_ROLES) {
      // Counted before create(), which deletes a half-made namespace itself and leaves a foreign one alone.
      this.created.push(this.namespaces[role]);
      await this.namespaces[role].create();
    }
    // Set before the gateway's interfaces exist so they inherit it; TPROXY'd
    // packets are addressed to foreign IPs and strict reverse-path checks drop them.
    await sysctl('gw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    await sysctl('gw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
    await ip('-n', n.client, 'link', 'add', a.client.dev, 'type', 'veth', 'peer', 'name', a.gwLan.dev, 'netns', n.gw);
    await ip('-n', n.remote, 'link', 'add', a.remote.dev, 'type', 'veth', 'peer', 'name', a.gwWan.dev, 'netns', n.gw);
    const sides: [NamespaceRole, keyof TopologyAddresses][] = [
      ['client', 'client'],
      ['gw', 'gwLan'],
      ['gw', 'gwWan'],
      ['remote', 'remote'],
    ];
    for (const [role, key] of sides) {
      const i = a[key];
      await ip('-n', n[role], 'addr', 'add', `${i.v4}/${i.v4PrefixLen}`, 'dev', i.dev);
      await ip('-n', n[role], '-6', 'addr', 'add', `${i.v6}/${i.v6PrefixLen}`, 'dev', i.dev, 'nodad');
      await ip('-n', n[role], 'link', 'set', i.dev, 'up');
    }
    await sysctl('gw', `net.ipv4.conf.${a.gwLan.dev}.rp_filter=0`, `net.ipv4.conf.${a.gwWan.dev}.rp_filter=0`);
    await ip('-n', n.client, 'route', 'add', 'default', 'via', a.gwLan.v4);
    await ip('-n', n.client, '-6', 'route', 'add', 'default', 'via', a.gwLan.v6);
    await ip('-n', n.remote, 'route', 'add', 'default', 'via', a.gwWan.v4);
    await ip('-n', n.remote, '-6', 'route', 'add', 'default', 'via', a.gwWan.v6);
  }

  private assertLive(): void {
    if (this.destroying) throw new Error(`topology ${this.prefix} is destroyed`);
  }

  private async doDestroy(): Promise<void> {
    try {
      // In parallel, so the namespaces share one SIGTERM grace period.
      const results = await Promise.allSettled(this.created.splice(0).map((ns) => ns.destroy()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      this.unhook?.();
      this.unhook = undefined;
    }
  }
}

/**
 * Creates a client ─ gw ─ remote topology. If any step fails, whatever was
 * already created is removed before the error is rethrown. Fails (and
 * leaves it alone) if a namespace of that name already exists.
 */
export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  const topo = new Topology(opts.prefix, opts.log);
  try {
    await topo.build();
  } catch (err) {
    // The build error is the one worth reporting; a cleanup failure would hide it.
    await topo.destroy().catch(() => undefined);
    throw err;
  }
  return topo;
}

/** Names of the network namespaces that exist now, optionally only those starting with `prefix`. */
export async function listNamespaces(prefix = ''): Promise<string[]> {
  const r = await runCommand('ip', ['netns', 'list'], { allowFailure: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.length > 0 && name.startsWith(prefix));
}
