import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { startControlFixture, type ControlFixture } from './control-fixture';

interface Connection {
  id: string;
  upload: number;
  download: number;
  metadata: { network: string; sourcePort: string };
}

describe('control: a UDP session the inbound relays natively counts its bytes while it runs', function () {
  let f: ControlFixture;
  before(async function () {
    // The mock binding's socket keeps a session table of its own, as the addon does: sessions are handed to it.
    f = await startControlFixture({ config: () => ({ relay: { native_udp: true } }) });
  });
  after(async function () {
    await f.close();
  });

  it('/connections and /metrics show the relayed datagrams before the session ends', async function () {
    const client = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const socket = f.mock.udpSockets[0]!;
      await socket.bound;
      let replies = 0;
      client.on('message', () => replies++);
      client.send('ping', f.inboundPort, '127.0.0.1');
      while (socket.stats().sessions === 0 || replies < 1) await new Promise((r) => setTimeout(r, 10));
      // Attached: these datagrams never reach JavaScript's session table.
      for (let i = 0; i < 5; i++) client.send('more!', f.inboundPort, '127.0.0.1');
      while (replies < 6) await new Promise((r) => setTimeout(r, 10));
      assert.equal(socket.stats().sessions, 1, 'the session is still attached');
      const port = String(client.address().port);
      const { connections } = (await (await f.api('/connections')).json()) as { connections: Connection[] };
      const c = connections.find((x) => x.metadata.network === 'udp' && x.metadata.sourcePort === port);
      assert.ok(c, JSON.stringify(connections));
      assert.equal(c.upload, 4 + 5 * 5);
      assert.equal(c.download, 4 + 5 * 5);
      const metrics = await (await f.api('/metrics')).text();
      const up = /^sluice_bytes_total\{direction="up",outbound="out"\} (\d+)$/m.exec(metrics);
      assert.equal(Number(up?.[1]), 4 + 5 * 5, metrics);
      assert.ok(!f.lines.some((l) => l.msg === 'flow closed' && l.src === `127.0.0.1:${port}`), 'the session has not ended');
    } finally {
      client.close();
    }
  });
});
