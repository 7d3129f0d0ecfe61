import * as net from 'node:net';
import { forEachAccepted, type NativeBinding, type TcpAcceptor } from '@sluice/native';
import type { Logger } from 'pino';
import type { Endpoint } from '../adapter/flow';
import type { AcceptedConnection } from '../adapter/inbound';
import { ErrorCode, SluiceError } from '../errors';

/**
 * One accepted connection: the connection (a bare fd, or a paused socket),
 * its fd (for getsockopt), the client, and the address it was accepted on
 * (the original destination under TPROXY; the listener's own under nat
 * redirect).
 */
export type OnTcpConnection = (conn: AcceptedConnection, fd: number, src: Endpoint, local: Endpoint) => void;

/** Where and how a {@link TcpListener} listens. */
export interface TcpListenerOptions {
  readonly tag: string;
  readonly address: string;
  readonly port: number;
  readonly reusePort: boolean;
  /** Accept in C++ and hand over bare fds (the flow sink can splice them), rather than `net.Socket`s. */
  readonly acceptFds: boolean;
}

/**
 * The TCP side every inbound type shares: a transparent listening socket
 * (the native one, for SO_REUSEPORT, which Node 20's net.Server cannot set),
 * accepted either natively in batches or through a paused `net.Server`.
 */
export class TcpListener {
  private server?: net.Server;
  private acceptor?: TcpAcceptor;

  constructor(
    private readonly native: NativeBinding,
    private readonly logger: Logger,
  ) {}

  /**
   * Opens the listener and starts accepting; `onConnection` owns each
   * connection. Rejects with the native error (EPERM, EADDRINUSE…) or a
   * `SLUICE_ERR_INBOUND`, having closed what it opened.
   */
  async listen(opts: TcpListenerOptions, onConnection: OnTcpConnection): Promise<void> {
    const { tag, address, port, reusePort } = opts;
    const fd = this.native.openTransparentListener({ address, port, reusePort, backlog: 4096, v6Only: net.isIPv6(address) });
    const handle = (conn: AcceptedConnection, connFd: number, src: Endpoint, local: Endpoint): void => {
      // The callee owns conn from here, also when it throws; the next connection still goes in.
      try {
        onConnection(conn, connFd, src, local);
      } catch (err) {
        this.logger.error({ err }, 'tcp connection handling failed');
      }
    };
    if (opts.acceptFds) {
      // Accepted in C++, a batch per wakeup: a flow the splice relay carries never gets a libuv stream or net.Socket.
      try {
        this.acceptor = new this.native.TcpAcceptor(fd, (batch) =>
          forEachAccepted(batch, (connFd, srcAddress, srcPort, dstAddress, dstPort) =>
            handle(connFd, connFd, { address: srcAddress, port: srcPort }, { address: dstAddress, port: dstPort }),
          ),
        );
      } catch (err) {
        this.native.closeFd(fd);
        throw new SluiceError(ErrorCode.INBOUND, `inbound ${tag}: cannot accept on fd ${fd}: ${(err as Error).message}`, { cause: err });
      }
      return;
    }
    // Paused so a native relay can take the fd before Node reads a byte; the stream relay resumes it.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
    server.on('connection', (socket: net.Socket) => {
      // Node has no public accessor for an accepted socket's fd; getsockopt needs it.
      const connFd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      const src = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      handle(socket, connFd, src, { address: socket.localAddress ?? '', port: socket.localPort ?? 0 });
    });
    // Accept errors (EMFILE and friends) must not kill the process; libuv retries.
    server.on('error', (err) => this.logger.error({ err }, 'tcp listener error'));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.native.closeFd(fd);
      throw new SluiceError(ErrorCode.INBOUND, `inbound ${tag}: cannot listen on fd ${fd}: ${(err as Error).message}`, { cause: err });
    }
    this.server = server;
  }

  /** Stops accepting; connections already handed over are their owners'. Idempotent. */
  close(): void {
    this.acceptor?.close();
    this.acceptor = undefined;
    const server = this.server;
    this.server = undefined;
    // close() stops accepting at once; its callback would wait for every open flow, which the drain handles.
    server?.close();
  }
}
