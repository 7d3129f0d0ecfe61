import { isNativeError, type NativeBinding, type SocketAddress } from '@sluice/native';
import type { Logger } from 'pino';
import type { Endpoint } from '../adapter/flow';
import type { FlowSink, Inbound } from '../adapter/inbound';
import { RateLimitedLog } from '../util/rate-limited-log';
import { TcpListener } from './tcp-listener';

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
  private readonly listener: TcpListener;
  private readonly warnings: RateLimitedLog;

  constructor(
    readonly options: RedirectInboundOptions,
    private readonly native: NativeBinding,
    private readonly sink: FlowSink,
    private readonly logger: Logger,
  ) {
    this.warnings = new RateLimitedLog(logger);
    this.listener = new TcpListener(native, logger);
  }

  get tag(): string {
    return this.options.tag;
  }

  /** Opens the listener; rejects with the native error (EPERM, EADDRINUSE…) and closes what it opened. */
  async start(): Promise<void> {
    const { tag, listen, port, reuse_port: reusePort } = this.options;
    // A transparent listener is an ordinary one for redirected connections (their destination is local).
    await this.listener.listen({ tag, address: listen, port, reusePort, acceptFds: this.sink.acceptsFds }, (conn, fd, src) => {
      const dst = this.originalDestination(fd, src);
      if (dst) this.sink.accept(conn, src, { address: dst.address, port: dst.port }, tag);
      else if (typeof conn === 'number') this.native.resetFd(conn);
      else conn.resetAndDestroy();
    });
    this.logger.info({ listen, port, network: ['tcp'] }, 'inbound listening');
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

  /** Stops accepting TCP connections; flows in progress are the flow sink's. */
  async stopAccepting(): Promise<void> {
    this.listener.close();
  }

  /** Same as {@link stopAccepting}: a redirect inbound holds no UDP socket. Idempotent. */
  async close(): Promise<void> {
    await this.stopAccepting();
  }
}
