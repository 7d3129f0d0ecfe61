import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { runCommand, type CommandResult, type RunOptions } from './exec';
import { parsePids, terminateAll, tryKill } from './processes';

/** How long {@link Namespace.destroy} lets processes exit on SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

/** Namespaces this process created and has not deleted yet. */
const live = new Set<Namespace>();
let exitHookInstalled = false;

/**
 * Last resort when a process ends between create() and destroy() (a crashed
 * suite, an uncaught error): never leave a namespace behind. Nothing
 * asynchronous runs in an 'exit' listener, hence the synchronous cleanup.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const ns of [...live]) ns.destroySync();
  });
}

/**
 * One throwaway network namespace with `lo` up and IPv6 duplicate address
 * detection off, and the processes started in it. The one implementation of
 * namespace creation, command execution and cleanup: {@link Topology} is three
 * of these wired together, and the native tests use single ones.
 *
 * Only a namespace this object created is ever changed or deleted. Deleted by
 * {@link destroy}, or at the latest when the process exits.
 */
export class Namespace {
  private readonly children = new Set<ChildProcess>();
  private state: 'new' | 'live' | 'gone' = 'new';
  private destroying: Promise<void> | undefined;

  /** Names only; {@link create} makes the namespace. */
  constructor(readonly name: string, private readonly log: (line: string) => void = () => undefined) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error(`bad namespace name ${JSON.stringify(name)}`);
  }

  /**
   * Creates the namespace. Fails, leaving it alone, when a namespace of that
   * name already exists; if a later setup step fails, deletes it again.
   */
  async create(): Promise<this> {
    if (this.state !== 'new') throw new Error(`namespace ${this.name} was already created`);
    this.log(`ip netns add ${this.name}`);
    await runCommand('ip', ['netns', 'add', this.name]);
    this.state = 'live';
    live.add(this);
    installExitHook();
    try {
      await runCommand('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
      // DAD would leave fresh IPv6 addresses "tentative" (unusable) for a second or two.
      await this.exec('sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    } catch (err) {
      // The setup error is the one worth reporting; a cleanup failure would hide it.
      await this.destroy().catch(() => undefined);
      throw err;
    }
    return this;
  }

  /** The argv prefix that runs a command inside the namespace: `ip netns exec <name>`. */
  get execArgv(): readonly string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /** Runs a command inside the namespace to completion. */
  exec(cmd: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult> {
    this.assertLive();
    return runCommand('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /**
   * Starts a long-running process inside the namespace. `ip netns exec` execs
   * the command in place, so the child's pid is the command's pid. The process
   * is killed by {@link destroy}.
   */
  spawn(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    this.assertLive();
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    // A spawn failure is reported by 'exit'/'error' to whoever watches; do not crash the host process.
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /** Runs a shell script inside the namespace (`sh -e`) and resolves with its stdout. */
  async sh(script: string): Promise<string> {
    return (await this.exec('sh', ['-ec', script])).stdout;
  }

  /** Loads an nft ruleset (`nft -f -`) inside the namespace. */
  async nft(ruleset: string): Promise<string> {
    return (await this.exec('nft', ['-f', '-'], { input: ruleset })).stdout;
  }

  /** Packets counted so far by the named nft counter object. */
  async counter(family: string, table: string, name: string): Promise<number> {
    const { stdout } = await this.exec('nft', ['-j', 'list', 'counter', family, table, name]);
    const entry = (JSON.parse(stdout) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((e) => e.counter);
    if (entry?.counter === undefined) throw new Error(`no counter ${family} ${table} ${name} in ${this.name}`);
    return entry.counter.packets;
  }

  /** Pids of every process currently inside the namespace. */
  async pids(): Promise<number[]> {
    if (this.state !== 'live') return [];
    const r = await runCommand('ip', ['netns', 'pids', this.name], { allowFailure: true });
    return parsePids(r.stdout);
  }

  /**
   * Kills every process in the namespace (SIGTERM, then SIGKILL after a grace
   * period) and deletes it. Idempotent; concurrent calls share one run.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  /** Cleanup for where nothing asynchronous runs (`process.on('exit')`): SIGKILL everything and delete. */
  destroySync(): void {
    if (this.state !== 'live') return;
    this.state = 'gone';
    live.delete(this);
    let out = '';
    try {
      out = execFileSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // Namespace already gone.
    }
    for (const pid of parsePids(out)) tryKill(pid, 'SIGKILL');
    for (const child of this.children) if (child.pid) tryKill(child.pid, 'SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }

  private assertLive(): void {
    if (this.state !== 'live' || this.destroying) throw new Error(`namespace ${this.name} is not live`);
  }

  private async doDestroy(): Promise<void> {
    if (this.state !== 'live') return;
    const pids = new Set(await this.pids());
    for (const child of this.children) if (child.pid && child.exitCode === null) pids.add(child.pid);
    await terminateAll(pids, KILL_GRACE_MS);
    this.log(`ip netns del ${this.name}`);
    const r = await runCommand('ip', ['netns', 'del', this.name], { allowFailure: true });
    this.state = 'gone';
    live.delete(this);
    if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(`ip netns del ${this.name}: ${r.stderr.trim()}`);
  }
}
