import * as assert from 'node:assert/strict';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { useE2E } from '../helpers/env';

const PORT = 7070;

describe('e2e: shutdown drains UDP sessions too', function () {
  // drain_ms is long enough for the delayed reply below.
  const env = useE2E({ tag: 'shut', sluice: false, drainMs: 3000 });

  it('a UDP reply that arrives during the drain still reaches the client, and the session gets its access line', async function () {
    // Answers each datagram half a second later.
    const script = `const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => setTimeout(() => s.send('pong\\n', r.port, r.address), 500));
s.bind(${PORT}, () => console.log('ready'));`;
    const server = env.topo.spawn('remote', process.execPath, ['-e', script]);
    await new Promise((r) => server.stdout!.once('data', r));
    try {
      const sluice = await env.startSluice();
      const client = env.topo.spawn('client', 'socat', ['-T', '3', '-', `UDP4:${A.remote.v4}:${PORT}`], { stdio: ['pipe', 'pipe', 'pipe'] });
      let reply = '';
      client.stdout!.on('data', (d: Buffer) => (reply += d.toString()));
      const done = new Promise<void>((r) => client.once('exit', () => r()));
      client.stdin!.write('ping\n');
      // The session exists once Sluice has routed it; then stop Sluice while the reply is still on its way.
      await sluice.waitFor((l) => l.msg === 'flow closed' || l.msg === 'sluice started', 1000, 'started');
      await new Promise((r) => setTimeout(r, 100));
      sluice.child.kill('SIGTERM');
      await done;
      assert.equal(reply, 'pong\n', `the reply sent during the drain was lost\n${sluice.describe()}`);
      const status = await sluice.exited;
      assert.equal(status.code, 0);
      const line = sluice.flows().find((f) => f.network === 'udp' && f.dst === `${A.remote.v4}:${PORT}`);
      assert.ok(line, `no access line for the UDP session\n${sluice.describe()}`);
      assert.equal(line.down, 5);
      client.kill('SIGKILL');
    } finally {
      server.kill('SIGKILL');
    }
  });
});
