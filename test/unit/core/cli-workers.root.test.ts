import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitUntil } from './fakes';

const bin = path.resolve(__dirname, '..', '..', '..', '..', 'packages', 'core', 'bin', 'sluice.js');

describe('sluice run --workers', () => {
  for (const mode of ['process', 'thread']) it(`spreads flows over several ${mode} workers' event loops and stops them all on SIGTERM`, async function () {
    this.timeout(30000);
    const port = 21000 + (process.pid % 20000) + (mode === 'thread' ? 1 : 0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-workers-'));
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(
      file,
      `log: { level: info }\ninbounds: [{ tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp] }]\noutbounds: [{ tag: direct, type: direct }]\n`,
    );
    const child = spawn(process.execPath, [bin, 'run', '-c', file, '--workers', '2', '--worker-mode', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitUntil(() => lines.some((l) => l.msg === 'sluice started'), 'sluice started', 15000);
      // Each worker writes its own lines (asynchronously): its "worker started" may reach stdout after the pool's line.
      await waitUntil(() => lines.filter((l) => l.msg === 'worker started').length === 2, 'two "worker started" lines', 5000);
      // Straight connections to the listener are loops, refused by whichever worker accepted them.
      for (let i = 0; i < 40; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        await new Promise((r) => s.once('close', r).once('error', () => {}));
      }
      await waitUntil(() => lines.filter((l) => l.msg === 'flow closed').length === 40, '40 access-log lines');
      const threads = new Set(lines.filter((l) => l.msg === 'flow closed').map((l) => String(l.flowId).split('-')[0]));
      assert.equal(threads.size, 2, `flows were handled by ${[...threads].join(', ')}`);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.ok(lines.some((l) => l.msg === 'sluice stopped'));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
