import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ChildWatch, isAlive, listNamespaces, parsePids, runCommand, SLUICE_BIN, terminateAll } from '@sluice/testbed';

/** Demos started by the current test, for the cleanup that runs whether it passed or not. */
const started: { demo: ChildWatch; prefix: string }[] = [];

/** Starts `sluice demo` as a plain child process (it builds its own namespaces). */
function startDemo(): { demo: ChildWatch; prefix: string } {
  const child = spawn(process.execPath, [SLUICE_BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The default prefix is sldemo<pid>; the demo's pid is the child's.
  const run = { demo: new ChildWatch(child, 'sluice demo'), prefix: `sldemo${child.pid}` };
  started.push(run);
  return run;
}

/** Kills a demo that is still running and removes whatever namespaces and processes it left. */
async function cleanUp(run: { demo: ChildWatch; prefix: string }): Promise<void> {
  if (!run.demo.exitStatus) await run.demo.stop('SIGKILL');
  for (const ns of await listNamespaces(run.prefix)) {
    const r = await runCommand('ip', ['netns', 'pids', ns], { allowFailure: true });
    await terminateAll(parsePids(r.stdout), 1000);
    await runCommand('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}

const text = (w: ChildWatch): string => w.lines.map((l) => (typeof l.text === 'string' ? l.text : JSON.stringify(l))).join('\n');

describe('e2e: sluice demo', function () {
  this.timeout(60_000);
  afterEach(async function () {
    for (const run of started.splice(0)) await cleanUp(run);
  });

  it('runs IPv4 and IPv6 TCP and UDP through Sluice, prints each flow, and leaves nothing behind', async function () {
    const { demo, prefix } = startDemo();
    const status = await demo.exited;
    const out = text(demo);
    assert.equal(status.code, 0, `exit ${status.code}\n${demo.describe(80)}`);
    const rows = [
      /^\s*tcp\s+198\.18\.1\.2:\d+\s+→\s+198\.19\.2\.2:80\s+rule=final\s+outbound=direct\s+up=\d+B down=\d+B$/m,
      /^\s*tcp\s+\[2001:db8:1::2\]:\d+\s+→\s+\[2001:db8:2::2\]:80\s+rule=final\s+outbound=direct\s+up=\d+B down=\d+B$/m,
      /^\s*udp\s+198\.18\.1\.2:\d+\s+→\s+198\.19\.2\.2:7\s+rule=final\s+outbound=direct\s+up=5B down=\d+B$/m,
      /^\s*udp\s+\[2001:db8:1::2\]:\d+\s+→\s+\[2001:db8:2::2\]:7\s+rule=final\s+outbound=direct\s+up=5B down=\d+B$/m,
      /^\s*tcp\s+198\.18\.1\.2:\d+\s+→\s+203\.0\.113\.9:80\s+rule=\S+\s+outbound=deny\b/m,
    ];
    for (const row of rows) assert.match(out, row);
    assert.deepEqual(await listNamespaces(prefix), [], 'namespaces left behind');
  });

  it('cleans up everything when interrupted with SIGINT midway', async function () {
    const { demo, prefix } = startDemo();
    await demo.waitFor((l) => typeof l.text === 'string' && l.text.includes('sluice started'), 30_000, '"sluice started"');
    const pids: number[] = [];
    for (const ns of await listNamespaces(prefix)) {
      const r = await runCommand('ip', ['netns', 'pids', ns], { allowFailure: true });
      pids.push(...r.stdout.split(/\s+/).filter(Boolean).map(Number));
    }
    assert.ok(pids.length >= 3, `expected the servers and Sluice in the namespaces, found pids [${pids.join(', ')}]`);
    demo.child.kill('SIGINT');
    const status = await Promise.race([
      demo.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`demo still running 15 s after SIGINT\n${demo.describe()}`)), 15_000)),
    ]);
    assert.ok(status.code === 130 || status.signal === 'SIGINT', `exit ${JSON.stringify(status)}\n${demo.describe()}`);
    assert.deepEqual(await listNamespaces(prefix), [], 'namespaces left behind');
    assert.deepEqual(pids.filter(isAlive), [], 'processes left behind');
  });

  it('refuses to run without root, saying so', async function () {
    const r = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SLUICE_BIN, 'demo'], {
      allowFailure: true,
    });
    assert.equal(r.code, 1, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /must run as root: .*; run as root: sudo npx sluice demo$/m);
  });
});
