import * as net from 'node:net';
import { forEachAccepted, isNativeError, type NativeBinding, type SocketAddress, type TcpAcceptor } from '@sluice/native';
import type { Logger } from 'pino';
import type { Endpoint } from '../adapter/flow';
import type { AcceptedConnection, FlowSink, Inbound } from '../adapter/inbound';
import { ErrorCode, SluiceError } from '../errors';
import { RateLimitedLog } from '../util/rate-limited-log';

/** What a `redirect` inbound is opened with (the config entry's fields it uses). */
export interface RedirectInboundOptions {
  readonly tag: string;
  readonly listen: string;
  readonly port: number;
  /** SO_REUSEPORT, so several event loops (workers) share the address. */
  readonly reuse_port: boolean;
}

/**
 * A `redirect` inbound: a TCP listener for connections that an nftables nat
 * `redirect` rule rewrote to this host, for kernels or setups without
 * TPROXY. The kernel changed each connection's destination to the listener,
 * so the original one comes from conntrack (`SO_ORIGINAL_DST`,
 * `IP6T_SO_ORIGINAL_DST`). A connection that was not redirected (a client
 * dialling the listener's port itself) has none: it is reset, with a
 * rate-limited warning. TCP only: nat keeps no original destination a UDP
 * socket could read. Same {@link FlowSink} contract as the tproxy inbound.
 */
export class RedirectInbound implements Inbound {
  private server?: net.Server;
  private acceptor?: TcpAcceptor;
  private readonly warnings: RateLimitedLog;

  constructor(
    readonly options: RedirectInboundOptions,
    private readonly native: NativeBinding,
    private readonly sink: FlowSink,
    private readonly logger: Logger,
  ) {
    this.warnings = new RateLimitedLog(logger);
  }

  get tag(): string {
    return this.options.tag;
  }

  /** Opens the listener; rejects with the native error (EPERM, EADDRINUSE…) and closes what it opened. */
  async start(): Promise<void> {
    const { listen, port, reuse_port: reusePort } = this.options;
    // A transparent listener is an ordinary one for redirected connections (their destination is local);
    // the native one is used for SO_REUSEPORT, which Node 20's net.Server cannot set.
    const fd = this.native.openTransparentListener({ address: listen, port, reusePort, backlog: 4096, v6Only: net.isIPv6(listen) });
    try {
      if (this.sink.acceptsFds) this.acceptNatively(fd);
      else await this.acceptSockets(fd);
    } catch (err) {
      this.native.closeFd(fd);
      throw new SluiceError(ErrorCode.INBOUND, `inbound ${this.tag}: cannot accept on fd ${fd}: ${(err as Error).message}`, { cause: err });
    }
    this.logger.info({ listen, port, network: ['tcp'] }, 'inbound listening');
  }

  private acceptNatively(fd: number): void {
    this.acceptor = new this.native.TcpAcceptor(fd, (batch) =>
      forEachAccepted(batch, (connFd, srcAddress, srcPort) => {
        const src = { address: srcAddress, port: srcPort };
        const dst = this.originalDestination(connFd, src);
        if (dst) this.hand(connFd, src, dst);
        else this.native.resetFd(connFd);
      }),
    );
  }

  private async acceptSockets(fd: number): Promise<void> {
    // Paused so a native relay can take the fd before Node reads a byte; the stream relay resumes it.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
    server.on('connection', (socket: net.Socket) => {
      const src = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      // Node has no public accessor for an accepted socket's fd; getsockopt needs it.
      const connFd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      const dst = this.originalDestination(connFd, src);
      if (dst) this.hand(socket, src, dst);
      else socket.resetAndDestroy();
    });
    // Accept errors (EMFILE and friends) must not kill the process; libuv retries.
    server.on('error', (err) => this.logger.error({ err }, 'tcp listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** The destination before nat redirect, or undefined (logged) when conntrack has none for the connection. */
  private originalDestination(fd: number, src: Endpoint): SocketAddress | undefined {
    try {
      return this.native.originalDestination(fd);
    } catch (err) {
      const code = isNativeError(err) ? err.code : 'error';
      this.warnings.warn(
        `original-dst ${code}`,
        { inbound: this.tag, src: `${src.address}:${src.port}`, err },
        'connection reset: no original destination (was it redirected by the nat rule of `sluice rules`?)',
      );
      return undefined;
    }
  }

  private hand(conn: AcceptedConnection, src: Endpoint, dst: SocketAddress): void {
    // The sink owns conn from here, also when it throws; the next connection still goes in.
    try {
      this.sink.accept(conn, src, { address: dst.address, port: dst.port }, this.tag);
    } catch (err) {
      this.logger.error({ err }, 'tcp connection handling failed');
    }
  }

  /** Stops accepting TCP connections; flows in progress are the flow sink's. */
  async stopAccepting(): Promise<void> {
    this.acceptor?.close();
    this.acceptor = undefined;
    const server = this.server;
    this.server = undefined;
    // close() stops accepting at once; its callback would wait for every open flow, which the drain handles.
    server?.close();
  }

  /** Same as {@link stopAccepting}: a redirect inbound holds no UDP socket. Idempotent. */
  async close(): Promise<void> {
    await this.stopAccepting();
  }
}
