import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitUntil } from './fakes';

const bin = path.resolve(__dirname, '..', '..', '..', '..', 'packages', 'core', 'bin', 'sluice.js');

/** `sluice run --workers 2` (processes) on a loopback port, with its JSON lines collected. */
function runPool(port: number): { child: ChildProcess; lines: Record<string, unknown>[]; exited: Promise<number | null>; dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-supervise-'));
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `log: { level: info }\ninbounds: [{ tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp] }]\noutbounds: [{ tag: direct, type: direct }]\n`);
  const child = spawn(process.execPath, [bin, 'run', '-c', file, '--workers', '2', '--worker-mode', 'process'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exited, dir, file };
}

/** One connection straight to the listener: a loop, refused (reset) by whichever worker accepts it. */
function poke(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('close', () => resolve()).once('error', () => {});
  });
}

describe('sluice run --workers: supervision', function () {
  this.timeout(60_000);

  it('a worker killed with SIGKILL under load is logged and replaced while the other keeps serving', async () => {
    const port = 23000 + (process.pid % 20000);
    const pool = runPool(port);
    try {
      await waitUntil(() => pool.lines.filter((l) => l.msg === 'worker started').length === 2, 'two workers', 15_000);
      const pids = pool.lines.filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
      // Load: connections keep arriving while the worker dies.
      let load = true;
      let made = 0;
      const loader = (async () => {
        while (load) {
          await poke(port);
          made++;
        }
      })();
      await waitUntil(() => made > 20, 'load');
      process.kill(pids[0]!, 'SIGKILL');
      await waitUntil(() => pool.lines.some((l) => l.msg === 'worker exited (signal SIGKILL)' && l.signal === 'SIGKILL'), 'the exit line', 10_000);
      const servedAfterKill = (): number => pool.lines.filter((l) => l.msg === 'flow closed' && l.pid === pids[1]).length;
      const before = servedAfterKill();
      await waitUntil(() => servedAfterKill() > before + 10, 'the other worker serving meanwhile', 10_000);
      await waitUntil(() => pool.lines.some((l) => l.msg === 'worker restarted'), 'a restarted worker', 15_000);
      // The pool's line comes over IPC, the worker's own "worker started" over its stdout pipe: either may be read first.
      const freshPid = (): number | undefined => pool.lines.filter((l) => l.msg === 'worker started').map((l) => l.pid as number).find((p) => !pids.includes(p));
      await waitUntil(() => freshPid() !== undefined, 'a new worker process started', 15_000);
      const fresh = freshPid();
      await waitUntil(() => pool.lines.some((l) => l.msg === 'flow closed' && l.pid === fresh), 'the new worker serving', 15_000);
      load = false;
      await loader;
    } finally {
      pool.child.kill('SIGTERM');
    }
    assert.equal(await pool.exited, 0);
    fs.rmSync(pool.dir, { recursive: true, force: true });
  });

  it('gives up on a worker that keeps dying and exits non-zero with the reason', async () => {
    const port = 23001 + (process.pid % 20000);
    const pool = runPool(port);
    try {
      await waitUntil(() => pool.lines.filter((l) => l.msg === 'worker started').length === 2, 'two workers', 15_000);
      const pid = pool.lines.find((l) => l.msg === 'worker started')!.pid as number;
      // Restarts load the config again: with the file gone, every restart fails.
      fs.rmSync(pool.file);
      process.kill(pid, 'SIGKILL');
      const code = await pool.exited;
      assert.equal(code, 1);
      assert.ok(pool.lines.some((l) => l.msg === 'worker pool failed'), 'a fatal line says why');
      assert.ok(pool.lines.filter((l) => l.msg === 'worker restart failed').length >= 1);
    } finally {
      pool.child.kill('SIGKILL');
      fs.rmSync(pool.dir, { recursive: true, force: true });
    }
  });
});
