import * as net from 'node:net';
import type { NativeBinding, UdpDatagram, UdpTransparentSocket } from '@sluice/native';
import type { Logger } from 'pino';
import type { Endpoint } from '../adapter/flow';
import type { DatagramPort, FlowSink, Inbound, UdpSessionEnd, UdpSessionRelay } from '../adapter/inbound';
import { ErrorCode, SluiceError } from '../errors';
import { TcpListener } from './tcp-listener';

/** What a `tproxy` inbound is opened with (the config entry's fields it uses). */
export interface TproxyInboundOptions {
  readonly tag: string;
  readonly listen: string;
  readonly port: number;
  readonly network: readonly ('tcp' | 'udp')[];
  /** SO_REUSEPORT, so several event loops (workers) share the address. */
  readonly reuse_port: boolean;
}

/**
 * The datagram side of a `tproxy` inbound: replies are sent from any address
 * through its transparent socket, and, when the flow sink asks for it, the
 * socket's native session table is offered as the {@link UdpSessionRelay}.
 * One object the inbound owns, so the flow sink never holds the socket.
 */
/** Where {@link TproxyDatagramPort.bytes} has the addon write a session's counts: one array, not one per read. */
const scratch = new Float64Array(2);

class TproxyDatagramPort implements DatagramPort, UdpSessionRelay {
  socket: UdpTransparentSocket | undefined;
  readonly sessionRelay: UdpSessionRelay | undefined;

  constructor(
    readonly inbound: string,
    private readonly native: NativeBinding,
    offerRelay: boolean,
  ) {
    this.sessionRelay = offerRelay ? this : undefined;
  }

  sendReply(data: Buffer, from: Endpoint, to: Endpoint): boolean {
    try {
      return this.socket?.send(data, from.address, from.port, to.address, to.port) ?? false;
    } catch {
      return false;
    }
  }

  attach(id: number, src: Endpoint, dst: Endpoint, fd: number, queued: readonly Buffer[]): readonly UdpSessionEnd[] {
    const socket = this.socket;
    if (!socket) {
      this.native.closeFd(fd);
      throw new SluiceError(ErrorCode.SHUTDOWN, `inbound ${this.inbound} is closed`);
    }
    return socket.attachSession(id, src.address, src.port, dst.address, dst.port, fd, queued as Buffer[]);
  }

  detach(id: number): UdpSessionEnd | undefined {
    return this.socket?.detachSession(id);
  }

  discard(fd: number): void {
    this.native.closeFd(fd);
  }

  oldest(): { id: number; idleMs: number } | undefined {
    return this.socket?.oldestSession();
  }

  bytes(id: number): { up: number; down: number } | undefined {
    const socket = this.socket;
    // An addon built before readSessionBytes existed: counts come at the session's end only.
    if (!socket || typeof socket.readSessionBytes !== 'function') return undefined;
    return socket.readSessionBytes(id, scratch, 0) ? { up: scratch[0]!, down: scratch[1]! } : undefined;
  }
}

/**
 * A `tproxy` inbound: a transparent TCP listener and a transparent UDP socket
 * on the same address and port. The kernel's TPROXY rule delivers
 * foreign-addressed traffic here; each accepted connection's local address
 * and each datagram's `IP_ORIGDSTADDR` is the original destination. What it
 * accepts goes to the {@link FlowSink}; it knows nothing else of flows.
 */
export class TproxyInbound implements Inbound {
  private readonly listener: TcpListener;
  private port?: TproxyDatagramPort;

  constructor(
    readonly options: TproxyInboundOptions,
    private readonly native: NativeBinding,
    private readonly sink: FlowSink,
    private readonly logger: Logger,
  ) {
    this.listener = new TcpListener(native, logger);
  }

  get tag(): string {
    return this.options.tag;
  }

  /** Opens the sockets; rejects with the native error (EPERM, EADDRINUSE…) and closes what it opened. */
  async start(): Promise<void> {
    const { listen, port, network, reuse_port: reusePort } = this.options;
    try {
      if (network.includes('tcp')) await this.startTcp(listen, port, reusePort);
      if (network.includes('udp')) this.startUdp(listen, port, reusePort);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info({ listen, port, network }, 'inbound listening');
  }

  private startTcp(address: string, port: number, reusePort: boolean): Promise<void> {
    const tag = this.options.tag;
    // Under TPROXY the address a connection was accepted on is its original destination.
    return this.listener.listen({ tag, address, port, reusePort, acceptFds: this.sink.acceptsFds }, (conn, _fd, src, dst) =>
      this.sink.accept(conn, src, dst, tag),
    );
  }

  private startUdp(address: string, port: number, reusePort: boolean): void {
    const sink = this.sink;
    const limits = sink.sessionRelayLimits;
    const dgram = new TproxyDatagramPort(this.options.tag, this.native, limits !== undefined);
    const options = {
      address,
      port,
      reusePort,
      v6Only: net.isIPv6(address),
      ...(limits && { sessionIdleMs: limits.idleMs, maxSessions: limits.maxSessions }),
    };
    dgram.socket = new this.native.UdpTransparentSocket(
      options,
      (batch: UdpDatagram[]) => {
        for (const d of batch) {
          try {
            sink.onDatagram(d.data, { address: d.srcAddress, port: d.srcPort }, { address: d.dstAddress, port: d.dstPort }, dgram);
          } catch (err) {
            this.logger.error({ err }, 'udp datagram handling failed');
          }
        }
      },
      (ended) => sink.onSessionsEnded(ended),
    );
    this.port = dgram;
  }

  /** Stops accepting TCP connections; the UDP socket stays open for the sessions' replies (new ones are the sink's to refuse). */
  async stopAccepting(): Promise<void> {
    this.listener.close();
  }

  /** Stops accepting and closes the UDP socket; TCP flows in progress are left to the flow sink. */
  async close(): Promise<void> {
    await this.stopAccepting();
    const socket = this.port?.socket;
    if (this.port) this.port.socket = undefined;
    this.port = undefined;
    // Sessions the socket relays end with it; their counts go to the access log.
    if (socket) this.sink.onSessionsEnded(socket.close());
  }
}
