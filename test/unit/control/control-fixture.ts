import * as net from 'node:net';
import { createSluice, parseConfig, type Sluice } from '@sluice/core';
import { captureLogger, createMockBinding, startTcpPeer, startUdpPeer, type LogLine, type MockBinding, type Peer } from '@sluice/core/testing';
import WebSocket from 'ws';

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A running Sluice with the control API, on the mock binding, and an echo server its flows reach. */
export interface ControlFixture {
  readonly sluice: Sluice;
  readonly lines: LogLine[];
  /** `http://127.0.0.1:<port>` of the control API. */
  readonly base: string;
  readonly apiPort: number;
  /** The tproxy inbound's port: a TCP connection there is a flow to {@link echo}. */
  readonly inboundPort: number;
  readonly echo: Peer;
  /** The UDP echo server UDP flows reach. */
  readonly udpEcho: Peer;
  readonly mock: MockBinding;
  readonly secret: string | undefined;
  /** fetch with the secret as a Bearer token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** A WebSocket to `path`, `?token=` added when there is a secret. */
  ws(path: string): WebSocket;
  close(): Promise<void>;
}

/** Options of {@link startControlFixture}. */
export interface ControlFixtureOptions {
  readonly secret?: string | null;
  readonly control?: Record<string, unknown>;
  /** Top-level config keys replacing the fixture's (`outbounds`, `route`, `dns`…); `echoPort` is the TCP echo server's port. */
  readonly config?: (echoPort: number) => Record<string, unknown>;
}

/**
 * Starts a whole Sluice on the mock binding with `control` on loopback: an
 * inbound whose flows go, by a `dst_port` rule, to a `direct` outbound `out`
 * and on to a local echo server; a `block` outbound `blocker` besides.
 */
export async function startControlFixture(opts: ControlFixtureOptions = {}): Promise<ControlFixture> {
  const echo = await startTcpPeer((s) => s.pipe(s));
  const udpEcho = await startUdpPeer((d, from, sock) => sock.send(d, from.port, from.address));
  const mock = createMockBinding({ originalDestination: ({ network }) => (network === 'tcp' ? echo.address : udpEcho.address) });
  const inboundPort = await freePort();
  const apiPort = await freePort();
  const secret = opts.secret === null ? undefined : (opts.secret ?? 's3cret token');
  const config = parseConfig(
    JSON.stringify({
      log: { level: 'info' },
      inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: inboundPort, network: ['tcp', 'udp'] }],
      // UDP sessions stay in JavaScript (the mock inbound has no native session table to hand them to).
      relay: { native_udp: false },
      outbounds: [
        { tag: 'out', type: 'direct' },
        { tag: 'blocker', type: 'block' },
      ],
      route: { rules: [{ dst_port: echo.address.port, outbound: 'out' }], final: 'out' },
      control: { listen: `127.0.0.1:${apiPort}`, ...(secret !== undefined ? { secret } : {}), ...opts.control },
      ...opts.config?.(echo.address.port),
    }),
    { baseDir: __dirname },
  );
  const { logger, lines } = captureLogger('info');
  // The inbound runs on the mock binding (no TPROXY needed); the real `direct` outbound dials the echo server.
  const sluice = createSluice(config, { logger, native: mock });
  await sluice.start();
  const base = `http://127.0.0.1:${apiPort}`;
  const sockets = new Set<WebSocket>();
  return {
    sluice,
    lines,
    base,
    apiPort,
    inboundPort,
    echo,
    udpEcho,
    mock,
    secret,
    api: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (secret !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${secret}`);
      return fetch(base + path, { ...init, headers });
    },
    ws: (path) => {
      const url = new URL(`ws://127.0.0.1:${apiPort}${path}`);
      if (secret !== undefined) url.searchParams.set('token', secret);
      const s = new WebSocket(url);
      sockets.add(s);
      return s;
    },
    close: async () => {
      for (const s of sockets) s.terminate();
      await sluice.stop(500);
      await echo.close();
      await udpEcho.close();
    },
  };
}

/** The next message of `socket`, parsed as JSON. */
export function nextMessage<T = unknown>(socket: WebSocket, accept: (m: T) => boolean = () => true): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData): void => {
      const m = JSON.parse(data.toString()) as T;
      if (!accept(m)) return;
      socket.off('message', onMessage);
      resolve(m);
    };
    socket.on('message', onMessage);
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** A TCP client connected through the inbound, with the echo's first reply received (so the flow is relayed). */
export async function openFlow(port: number, payload = 'hello'): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => s.write(payload));
    s.once('data', () => resolve());
    s.once('error', reject);
  });
  return s;
}
