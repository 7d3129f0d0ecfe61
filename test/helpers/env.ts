import { rmSync } from 'node:fs';
import { createTopology, type SluiceProcess, type Topology } from '@sluice/testbed';
import { applySluiceRules, contractConfig, makeTmpDir, startSluice, writeFile, type ConfigExtras } from './sluice';

/** Options for {@link useE2E}. */
export interface E2EOptions extends ConfigExtras {
  /** Short and unique within a run: becomes part of the namespace names. */
  readonly tag: string;
  /** Apply `sluice rules` and the final drop in the gateway (default true). */
  readonly firewall?: boolean;
  /** Start `sluice run` in the gateway in `before` (default true). */
  readonly sluice?: boolean;
}

/** A namespace prefix unique to this process and suite. */
export function uniquePrefix(tag: string): string {
  return `sl${process.pid}${tag}`;
}

/**
 * One suite's world: a topology, a temp dir with the contract config, the
 * gateway firewall from `sluice rules` plus the final drop, and (optionally)
 * a running Sluice. Fields are set by the `before` hook {@link useE2E} installs.
 */
export class E2EEnv {
  topo!: Topology;
  tmp!: string;
  configPath!: string;
  sluice: SluiceProcess | undefined;

  constructor(readonly opts: E2EOptions) {}

  /** Builds everything; on failure, whatever was built is left for {@link teardown}. */
  async setup(): Promise<void> {
    this.tmp = makeTmpDir();
    this.configPath = writeFile(this.tmp, 'sluice.yaml', contractConfig(this.opts));
    this.topo = await createTopology({ prefix: uniquePrefix(this.opts.tag) });
    // If mocha is interrupted, the namespaces and their processes still go.
    this.topo.destroyOnExit();
    if (this.opts.firewall ?? true) {
      await applySluiceRules(this.topo, this.configPath);
      await this.topo.installFinalDrop();
    }
    if (this.opts.sluice ?? true) await this.startSluice();
  }

  /**
   * Starts `sluice run -c <config>` in the gateway and waits for "sluice
   * started"; `nodeArgs` go to node before the script.
   */
  async startSluice(configPath = this.configPath, nodeArgs: readonly string[] = []): Promise<SluiceProcess> {
    this.sluice = await startSluice(this.topo, { args: ['run', '-c', configPath], nodeArgs });
    return this.sluice;
  }

  /** Stops Sluice with SIGTERM (SIGKILL if it hangs past 10 s). */
  async stopSluice(): Promise<void> {
    const s = this.sluice;
    this.sluice = undefined;
    if (!s || s.exitStatus) return;
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000);
    await s.stop('SIGTERM');
    clearTimeout(timer);
  }

  /** Stops Sluice, destroys the topology and removes the temp dir; safe after a partial setup. */
  async teardown(): Promise<void> {
    try {
      await this.stopSluice();
    } finally {
      await this.topo?.destroy();
      if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
    }
  }
}

/**
 * Registers mocha hooks that set up an {@link E2EEnv} before the suite and
 * tear it down after it (mocha runs `after` hooks even when `before` failed).
 * When a test fails, Sluice's recent log is printed to help find out why.
 */
export function useE2E(opts: E2EOptions): E2EEnv {
  const env = new E2EEnv(opts);
  before(async function () {
    this.timeout(60_000);
    await env.setup();
  });
  afterEach(function () {
    const t = this.currentTest;
    // Skip when the failure message already carries the log (ChildWatch errors do).
    if (t?.state === 'failed' && env.sluice && !t.err?.message.includes('--- sluice')) {
      process.stderr.write(`${env.sluice.describe(30)}\n`);
    }
  });
  after(async function () {
    this.timeout(30_000);
    await env.teardown();
  });
  return env;
}
