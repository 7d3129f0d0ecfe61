import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { container } from 'tsyringe';
import { createSluice, parseConfig, registerPlugins, createOutbounds, definitionsByType, planOutbounds } from '@sluice/core';
import { native, type NativeBinding, type UdpDatagram, type UdpTransparentSocketOptions } from '@sluice/native';
import { createFlowHarness } from '@sluice/core/testing';
import { captureLogger, waitUntil } from './fakes';

/** Stands in for the native transparent UDP socket: the test injects datagrams and reads replies. */
class FakeUdpSocket {
  static last?: FakeUdpSocket;
  readonly fd = -1;
  sent: { data: string; from: string; to: string }[] = [];
  closed = false;
  constructor(
    readonly options: UdpTransparentSocketOptions,
    readonly onBatch: (d: UdpDatagram[]) => void,
  ) {
    FakeUdpSocket.last = this;
  }
  send(data: Buffer, fa: string, fp: number, ta: string, tp: number): boolean {
    this.sent.push({ data: data.toString(), from: `${fa}:${fp}`, to: `${ta}:${tp}` });
    return true;
  }
  close(): [] {
    this.closed = true;
    return [];
  }
  stats() {
    return { received: 0, batches: 0, sent: this.sent.length, sendDropped: 0, receiveDropped: 0, replySockets: 0 };
  }
}

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');

describe('Sluice (whole app, real TCP listener, fake UDP socket)', () => {
  it('starts, relays UDP through direct (JavaScript path), refuses a loop, and stops with access-log lines', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const port = 20000 + (process.pid % 20000);
    const config = parseConfig(
      JSON.stringify({
        log: { level: 'info' },
        inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port }],
        outbounds: [{ tag: 'direct', type: 'direct' }],
        route: { rules: [], final: 'direct' },
        // The datagram path through JavaScript: this fake has no native session relay.
        relay: { native_udp: false },
      }),
      { baseDir: repoRoot },
    );
    const { logger, lines } = captureLogger();
    const binding: NativeBinding = { ...native(), UdpTransparentSocket: FakeUdpSocket as unknown as NativeBinding['UdpTransparentSocket'] };
    const sluice = createSluice(config, { logger, native: binding });
    await sluice.start();
    try {
      assert.ok(lines.some((l) => l.msg === 'sluice started'));
      const udp = FakeUdpSocket.last!;
      const ePort = echo.address().port;
      udp.onBatch([{ data: Buffer.from('ping'), srcAddress: '127.0.0.9', srcPort: 5353, dstAddress: '127.0.0.1', dstPort: ePort }]);
      await waitUntil(() => udp.sent.length === 1, 'UDP reply');
      assert.deepEqual(udp.sent[0], { data: 're:ping', from: `127.0.0.1:${ePort}`, to: '127.0.0.9:5353' });

      // Connecting straight to the listener makes the original destination the listener itself.
      const c = net.connect({ port, host: '127.0.0.1' });
      await new Promise((r) => c.once('error', r).once('close', r));
      await waitUntil(() => lines.some((l) => l.msg === 'refused a flow to sluice itself (loop)'), 'loop refusal');
    } finally {
      await sluice.stop(100);
      echo.close();
    }
    assert.ok(FakeUdpSocket.last!.closed, 'UDP socket closed on stop');
    const udpLine = lines.find((l) => l.msg === 'flow closed' && l.network === 'udp');
    assert.ok(udpLine, 'UDP session logged at stop');
    assert.equal(udpLine.up, 4);
    assert.equal(udpLine.down, 7);
    assert.ok(lines.some((l) => l.msg === 'sluice stopped'));
  });

  it('fails to start with EADDRINUSE and leaves nothing open', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const config = parseConfig(
      JSON.stringify({ inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port, network: ['tcp'] }], outbounds: [{ tag: 'direct', type: 'direct' }] }),
      { baseDir: repoRoot },
    );
    const { logger } = captureLogger();
    const sluice = createSluice(config, { logger });
    await assert.rejects(sluice.start(), { code: 'EADDRINUSE' });
    blocker.close();
  });
});

describe('third-party plugin loaded by path from config', () => {
  it('registers its outbound type and carries a TCP flow', async () => {
    const c = container.createChildContainer();
    registerPlugins(c, ['./examples/plugin-echo'], repoRoot);
    const plan = planOutbounds([{ tag: 'e', type: 'echo', raw: { tag: 'e', type: 'echo', prefix: '>' }, path: 'outbounds[0]' }], definitionsByType(c));
    const { logger, lines } = captureLogger();
    const outs = createOutbounds(plan, c, logger);
    const h = createFlowHarness({ outbounds: [...outs.values()], route: 'e', logger, connectTimeoutMs: 1000 });
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
      h.sink.accept(s, { address: s.remoteAddress!, port: s.remotePort! }, { address: s.localAddress!, port: s.localPort! }, 'in'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    client.on('data', (d: Buffer) => (got += d.toString()));
    client.end('hello');
    await new Promise((r) => client.once('end', r));
    server.close();
    assert.equal(got, '>hello');
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
    assert.throws(() => planOutbounds([{ tag: 'e', type: 'echo', raw: { tag: 'e', type: 'echo', prefix: 3 }, path: 'outbounds[0]' }], definitionsByType(c)), /outbounds\[0\]\.prefix: must be a string/);
  });
});
