import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Endpoint } from '../adapter/flow';

/** A running destination server; `close()` stops it and every connection it holds. */
export interface Peer {
  readonly address: Endpoint;
  /** Stops the server and closes every connection it holds. */
  close(): Promise<void>;
}

/** Handles one TCP connection of a {@link startTcpPeer} server. */
export type TcpPeerHandler = (socket: net.Socket) => void;

/** Handles one datagram of a {@link startUdpPeer} server; reply with `socket.send(…, from.port, from.address)`. */
export type UdpPeerHandler = (data: Buffer, from: Endpoint, socket: dgram.Socket) => void;

/** Echoes every byte and ends its side when the client ends (half-close aware). */
export const tcpEcho: TcpPeerHandler = (socket) => socket.pipe(socket);

/** Sends every datagram back to its sender. */
export const udpEcho: UdpPeerHandler = (data, from, socket) => socket.send(data, from.port, from.address);

/** A TCP server on `host` (default 127.0.0.1), an ephemeral port, running `handler` (default {@link tcpEcho}). */
export async function startTcpPeer(handler: TcpPeerHandler = tcpEcho, host = '127.0.0.1'): Promise<Peer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    handler(socket);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: { address: host, port },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A UDP server on `host` (default 127.0.0.1), an ephemeral port, running `handler` (default {@link udpEcho}). */
export async function startUdpPeer(handler: UdpPeerHandler = udpEcho, host = '127.0.0.1'): Promise<Peer> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (data, rinfo) => handler(data, { address: rinfo.address, port: rinfo.port }, socket));
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(0, host, () => resolve()));
  return {
    address: { address: host, port: socket.address().port },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
