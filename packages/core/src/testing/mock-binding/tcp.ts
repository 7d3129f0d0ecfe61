import * as net from 'node:net';
import * as util from 'node:util';
import type {
  AcceptedBatch,
  TcpAcceptor,
  NativeError,
  OutboundSocketOptions,
  SocketAddress,
  TcpDial,
  TcpDialOptions,
  TransparentListenerOptions,
} from '@sluice/native';
import type { FdTable } from './fd-table';
import { fromNodeError, mockNativeError } from './native-error';

/** A libuv TCP handle as `net._createServerHandle` returns it (not public API; stable since Node 0.x, used by `cluster`). */
interface TcpHandle {
  readonly fd: number;
  getsockname(out: Record<string, unknown>): number;
  close(): void;
}

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6) => TcpHandle | number;

/** A socket's fd, from its libuv handle. */
function fdOf(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw mockNativeError('EBADF', 'fd', 'the socket has no fd');
  return fd;
}

function handleAddress(handle: TcpHandle): SocketAddress {
  const out: Record<string, unknown> = {};
  handle.getsockname(out);
  return { address: String(out.address), port: Number(out.port) };
}

/**
 * A bound, not yet listening TCP socket whose fd no libuv watcher polls, so
 * the code under test can `listen({ fd })` on it or adopt it. Node's only way
 * to make one is the handle factory `cluster` uses; an errno becomes a NativeError.
 */
export function boundTcpHandle(address: string, port: number, syscall: string): TcpHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw mockNativeError('ENOSYS', syscall, 'this Node has no net._createServerHandle');
  const handle = create(address, port, net.isIPv6(address) ? 6 : 4);
  if (typeof handle === 'number') throw mockNativeError(util.getSystemErrorName(handle), syscall, `cannot bind ${address}:${port}`);
  return handle;
}

/** The listening sockets the mock opened, by fd: the acceptor listens on the same handle. */
export class MockListeners {
  readonly byFd = new Map<number, TcpHandle>();

  constructor(private readonly fds: FdTable) {}

  /** `NativeBinding.openTransparentListener` without `IP_TRANSPARENT`: an ordinary bound socket. */
  open(options: TransparentListenerOptions): number {
    const handle = boundTcpHandle(options.address, options.port, 'bind');
    this.byFd.set(handle.fd, handle);
    return this.fds.add(handle.fd, {
      local: () => handleAddress(handle),
      close: () => {
        this.byFd.delete(handle.fd);
        handle.close();
      },
    });
  }
}

/** Where an emulated connection or datagram arrived, for {@link MockBindingOptions.originalDestination}. */
export interface Arrival {
  readonly network: 'tcp' | 'udp';
  /** The peer's address. */
  readonly src: SocketAddress;
  /** The mock listener's own address, which the peer sent to. */
  readonly local: SocketAddress;
}

/** Maps an arrival to its emulated original destination; undefined keeps `local`. */
export type OriginalDestinationFn = (arrival: Arrival) => SocketAddress | undefined;

/**
 * Builds the mock's `TcpAcceptor` class: a `net.Server` on the
 * listener's handle accepts with `pauseOnConnect` (so no watcher polls the
 * new fd and the callee may adopt it) and reports each connection as a batch
 * of one, with the destination from `originalDestination`.
 */
export function acceptorClass(
  listeners: MockListeners,
  fds: FdTable,
  originalDestination: () => OriginalDestinationFn | undefined,
): new (listenFd: number, onBatch: (batch: AcceptedBatch) => void) => TcpAcceptor {
  return class MockTcpAcceptor implements TcpAcceptor {
    private server?: net.Server;

    constructor(listenFd: number, onBatch: (batch: AcceptedBatch) => void) {
      const handle = listeners.byFd.get(listenFd);
      if (!handle) throw mockNativeError('EBADF', 'accept4', `fd ${listenFd} is not a listener of this mock binding`);
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true });
      server.on('connection', (socket: net.Socket) => {
        const src = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
        const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
        const dst = originalDestination()?.({ network: 'tcp', src, local }) ?? local;
        const fd = fds.add(fdOf(socket), {
          local: () => local,
          close: (reset) => (reset ? socket.resetAndDestroy() : socket.destroy()),
          originalDst: dst,
        });
        const batch: AcceptedBatch = { fds: Int32Array.of(fd), endpoints: [src.address, src.port, dst.address, dst.port] };
        try {
          onBatch(batch);
        } finally {
          // As the addon does: a connection the callee did not take is reset, never lost.
          if (batch.fds[0] !== -1) fds.close(fd, true, 'accept4');
        }
      });
      server.on('error', () => {});
      server.listen(handle as unknown as net.ListenOptions);
      listeners.byFd.delete(listenFd);
      this.server = server;
    }

    close(): boolean {
      const server = this.server;
      if (!server) return false;
      this.server = undefined;
      server.close();
      return true;
    }
  };
}

/**
 * Builds the mock's `TcpDial`: `net.connect`, paused so that once connected
 * no watcher polls the fd, then the fd is handed over. `mark` and `device`
 * are accepted and ignored (loopback needs neither).
 */
export function tcpDialClass(fds: FdTable): new (options: TcpDialOptions, callback: (err: NativeError | null, fd?: number) => void) => TcpDial {
  return class MockTcpDial implements TcpDial {
    private socket?: net.Socket;

    constructor(options: TcpDialOptions, callback: (err: NativeError | null, fd?: number) => void) {
      if (!net.isIP(options.address)) throw mockNativeError('EINVAL', 'connect', `"${options.address}" is not an IP literal`);
      const socket = new net.Socket({ allowHalfOpen: true });
      socket.pause();
      this.socket = socket;
      socket.once('connect', () => {
        this.socket = undefined;
        socket.removeAllListeners('error');
        const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
        callback(null, fds.add(fdOf(socket), { local: () => local, close: (reset) => (reset ? socket.resetAndDestroy() : socket.destroy()) }));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        this.socket = undefined;
        socket.destroy();
        callback(fromNodeError(err, 'connect'));
      });
      socket.connect({ host: options.address, port: options.port, localAddress: options.localAddress, noDelay: true });
    }

    cancel(): boolean {
      const socket = this.socket;
      if (!socket) return false;
      this.socket = undefined;
      socket.removeAllListeners();
      socket.destroy();
      return true;
    }
  };
}

/** `createSocket({ type: 'tcp' })`: a socket bound to `localAddress` (or the wildcard), ready for `new net.Socket({ fd }).connect()`. */
export function createTcpSocket(options: OutboundSocketOptions, fds: FdTable): number {
  const address = options.localAddress ?? (options.family === 6 ? '::' : '0.0.0.0');
  const handle = boundTcpHandle(address, options.localPort ?? 0, 'bind');
  return fds.add(handle.fd, { local: () => handleAddress(handle), close: () => handle.close() });
}
