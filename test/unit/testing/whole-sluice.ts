import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { createSluice, defineOutbound, definePlugin, formatEndpoint, parseConfig, type SluicePlugin } from '@sluice/core';
import { captureLogger, createMockBinding, startTcpPeer, startUdpPeer, type LogLine, type MockBinding } from '@sluice/core/testing';
import { DirectOutbound, directOptions } from '@sluice/plugin-direct';

/** What {@link runWholeSluice} saw, as JSON. */
export interface WholeSluiceResult {
  uid: number | undefined;
  tcpReply: string;
  udpReply: string;
  tcpDst: string;
  udpDst: string;
  replySources: string[];
  lines: LogLine[];
  /** Native addons in require.cache at the end. */
  addons: string[];
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `direct` built on the mock binding, so its fd fast paths (TcpDial, createSocket) run on the mock too. */
function mockDirectPlugin(mock: MockBinding): SluicePlugin {
  return definePlugin({
    name: 'mock-direct',
    sluice: '*',
    outbounds: [defineOutbound({ type: 'mock-direct', options: directOptions, create: (options, deps) => new DirectOutbound(deps.tag, options, () => mock) })],
  });
}

/**
 * A whole Sluice on the mock binding, with its default relay settings: a
 * TCP connection and a UDP datagram to its listener, whose emulated original
 * destinations are two local servers, relayed by a `direct` outbound.
 */
export async function runWholeSluice(): Promise<WholeSluiceResult> {
  const tcpPeer = await startTcpPeer((s) => s.on('data', (d: Buffer) => s.end(`re:${d.toString()}`)));
  const udpPeer = await startUdpPeer((d, from, sock) => sock.send(`re:${d.toString()}`, from.port, from.address));
  const mock = createMockBinding({ originalDestination: ({ network }) => (network === 'tcp' ? tcpPeer.address : udpPeer.address) });
  const port = await freePort();
  const config = parseConfig(
    JSON.stringify({
      log: { level: 'info' },
      inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port }],
      outbounds: [{ tag: 'out', type: 'mock-direct' }],
      route: { rules: [], final: 'out' },
    }),
    { baseDir: __dirname },
  );
  const { logger, lines } = captureLogger('info');
  const sluice = createSluice(config, { logger, native: mock, plugins: [mockDirectPlugin(mock)] });
  await sluice.start();
  const client = dgram.createSocket('udp4');
  try {
    const tcpReply = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ port, host: '127.0.0.1' }, () => s.write('ping'));
      s.on('data', (d: Buffer) => chunks.push(d)).on('error', reject).on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const reply = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
    await mock.udpSockets[0]!.bound;
    client.send('hello', port, '127.0.0.1');
    const udpReply = await reply;
    return {
      uid: process.getuid?.(),
      tcpReply,
      udpReply,
      tcpDst: formatEndpoint(tcpPeer.address),
      udpDst: formatEndpoint(udpPeer.address),
      replySources: mock.udpSockets[0]!.sent.map((r) => formatEndpoint(r.from)),
      lines,
      addons: [],
    };
  } finally {
    client.close();
    await sluice.stop(1000);
    await tcpPeer.close();
    await udpPeer.close();
  }
}
