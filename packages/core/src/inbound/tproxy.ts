import * as net from 'node:net';
import type { FastAcceptor, NativeBinding, UdpDatagram, UdpTransparentSocket } from '@sluice/native';
import type { Logger } from 'pino';
import type { InboundConfig } from '../config/types';
import { ErrorCode, SluiceError } from '../errors';
import type { TcpFlowHandler } from '../flow/tcp-flows';
import type { NativeUdpRelay, UdpFlowHandler, UdpReplySink } from '../flow/udp-sessions';
import { addressFamily } from '../util/endpoint';

/** Where an inbound sends what it accepts. */
export interface InboundHandlers {
  readonly tcp: TcpFlowHandler;
  readonly udp: UdpFlowHandler;
}

/**
 * A `tproxy` inbound: a transparent TCP listener (adopted by a `net.Server`)
 * and a transparent UDP socket on the same address and port. The kernel's
 * TPROXY rule delivers foreign-addressed traffic here; each accepted socket's
 * local address and each datagram's `IP_ORIGDSTADDR` is the original destination.
 */
export class TproxyInbound {
  private server?: net.Server;
  private acceptor?: FastAcceptor;
  private udp?: UdpTransparentSocket;

  constructor(
    readonly config: InboundConfig,
    private readonly native: NativeBinding,
    private readonly handlers: InboundHandlers,
    private readonly logger: Logger,
  ) {}

  get tag(): string {
    return this.config.tag;
  }

  /** Opens the sockets; rejects with the native error (EPERM, EADDRINUSE…) and closes what it opened. */
  async start(): Promise<void> {
    const { listen, port, network, reuse_port: reusePort } = this.config;
    try {
      if (network.includes('tcp')) await this.startTcp(listen, port, reusePort);
      if (network.includes('udp')) this.startUdp(listen, port, reusePort);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info({ listen, port, network }, 'inbound listening');
  }

  private async startTcp(address: string, port: number, reusePort: boolean): Promise<void> {
    const fd = this.native.openTransparentListener({ address, port, reusePort, backlog: 4096, v6Only: addressFamily(address) === 6 });
    const tcp = this.handlers.tcp;
    if (typeof this.native.FastAcceptor === 'function' && tcp.acceptsFds) {
      // Accepted in C++, a batch per wakeup: a flow the splice relay carries never gets a libuv stream or net.Socket.
      const tag = this.config.tag;
      try {
        this.acceptor = new this.native.FastAcceptor(fd, (batch) => {
          for (let i = 0; i + 4 < batch.length; i += 5) {
            const connFd = batch[i] as number;
            try {
              tcp.handleFd(connFd, { address: batch[i + 1] as string, port: batch[i + 2] as number }, { address: batch[i + 3] as string, port: batch[i + 4] as number }, tag);
            } catch (err) {
              this.logger.error({ err }, 'tcp connection handling failed');
            }
          }
        });
      } catch (err) {
        this.native.closeFd(fd);
        throw new SluiceError(ErrorCode.INBOUND, `inbound ${tag}: cannot accept on fd ${fd}: ${(err as Error).message}`, { cause: err });
      }
      return;
    }
    // Paused so a native relay can take the fd before Node reads a byte; the stream relay resumes it.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
    server.on('connection', (socket: net.Socket) => this.handlers.tcp.handle(socket, this.config.tag));
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
      throw new SluiceError(ErrorCode.INBOUND, `inbound ${this.config.tag}: cannot listen on fd ${fd}: ${(err as Error).message}`, { cause: err });
    }
    this.server = server;
  }

  private startUdp(address: string, port: number, reusePort: boolean): void {
    const tag = this.config.tag;
    const udp = this.handlers.udp;
    const native = this.native;
    const relayOptions = udp.nativeRelayOptions;
    let sock: UdpTransparentSocket | undefined;
    const relay: NativeUdpRelay | undefined = relayOptions && {
      attach: (id, src, dst, fd, queued) => {
        if (!sock) {
          native.closeFd(fd);
          throw new SluiceError(ErrorCode.SHUTDOWN, `inbound ${tag} is closed`);
        }
        return sock.attachSession(id, src.address, src.port, dst.address, dst.port, fd, queued);
      },
      detach: (id) => sock?.detachSession(id),
      discard: (fd) => native.closeFd(fd),
    };
    const sink: UdpReplySink = {
      send: (data: Buffer, fa: string, fp: number, ta: string, tp: number): boolean => sock?.send(data, fa, fp, ta, tp) ?? false,
      relay,
    };
    const options = {
      address,
      port,
      reusePort,
      v6Only: addressFamily(address) === 6,
      ...(relayOptions && { sessionIdleMs: relayOptions.idleMs, maxSessions: relayOptions.maxSessions }),
    };
    sock = new native.UdpTransparentSocket(
      options,
      (batch: UdpDatagram[]) => {
        for (const d of batch) {
          try {
            udp.onDatagram(tag, sink, d.data, { address: d.srcAddress, port: d.srcPort }, { address: d.dstAddress, port: d.dstPort });
          } catch (err) {
            this.logger.error({ err }, 'udp datagram handling failed');
          }
        }
      },
      (ended) => udp.onNativeSessionsClosed(ended),
    );
    this.udp = sock;
  }

  /** Stops accepting; flows in progress are left to the handlers. */
  async close(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    // Natively relayed sessions end with the socket; their counts go to the access log.
    if (udp) this.handlers.udp.onNativeSessionsClosed(udp.close());
    this.acceptor?.close();
    this.acceptor = undefined;
    const server = this.server;
    this.server = undefined;
    // close() stops accepting at once; its callback would wait for every open flow, which the drain handles.
    server?.close();
  }
}
