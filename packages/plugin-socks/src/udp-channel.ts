import type { Duplex } from 'node:stream';
import { ErrorCode, SluiceError, type Destination, type Endpoint, type FlowContext, type PacketChannel, type PacketReceiver } from '@sluice/core';
import { normalizeIp } from './ip';
import { decodeUdpFrame, encodeUdpFrame } from './udp-frame';

type Logger = FlowContext['logger'];

/** The pieces of one UDP ASSOCIATE session. */
export interface SocksUdpSession {
  /** The TCP connection that carried the ASSOCIATE; the association lives as long as it does. */
  readonly control: Duplex;
  /**
   * Where framed datagrams travel: a plain UDP socket, or the `via`
   * outbound's own channel, which wraps them once more for its relay.
   */
  readonly carrier: PacketChannel;
  /**
   * The server's UDP relay endpoint, from the ASSOCIATE reply, as an IP (a
   * name resolved, a wildcard replaced by the server's address). Datagrams go
   * there, and only datagrams from exactly there are accepted.
   */
  readonly relay: Endpoint;
  readonly logger: Logger;
  /**
   * Frame a destination's `host` (ATYP domain) instead of its address. Only
   * for a flow the client addressed to a fake IP (the flow's `addressedTo`):
   * core answers such a client from the fake address whatever address the
   * relay reports, so the relay may resolve the name itself. Default false.
   */
  readonly sendHost?: boolean;
}

/** Counters of one session, logged at debug when it closes. */
export interface SocksUdpStats {
  sent: number;
  received: number;
  dropped: number;
}

/**
 * A {@link PacketChannel} through a SOCKS5 UDP relay. Each datagram gets the
 * SOCKS UDP header addressed to its destination and goes to the relay through
 * the carrier; each reply is checked to come from the relay's address and
 * port (never the port alone: anyone can send from a port), unwrapped, and
 * delivered with the remote that really sent it. Broken frames are counted
 * and dropped, never thrown. Closing the channel closes the control
 * connection and the carrier; either of those going away closes the channel.
 */
export class SocksUdpChannel implements PacketChannel {
  /** Counters for this session (also logged at debug on close). */
  readonly stats: SocksUdpStats = { sent: 0, received: 0, dropped: 0 };
  private receiver?: PacketReceiver;
  private closed = false;
  /** Why the channel closed by itself before anyone was listening; told to the receiver when it is set. */
  private earlyFailure?: Error;

  /** Where datagrams go, and the only source accepted: an IP and port, fixed for the session. */
  readonly relay: Endpoint;

  constructor(private readonly session: SocksUdpSession) {
    const { control, carrier } = session;
    this.relay = { address: normalizeIp(session.relay.address), port: session.relay.port };
    carrier.setReceiver({
      onPacket: (frame, from) => this.onFrame(frame, from),
      onClose: (err) => this.fail(err ?? new SluiceError(ErrorCode.UPSTREAM, 'socks: udp path closed')),
    });
    // Nothing is expected on the control connection after the reply; drain it so its end is seen.
    control.on('data', () => undefined);
    control.on('end', () => this.fail(new SluiceError(ErrorCode.UPSTREAM, 'socks: udp control connection closed')));
    control.on('close', () => this.fail(new SluiceError(ErrorCode.UPSTREAM, 'socks: udp control connection closed')));
    control.on('error', (err) => this.fail(new SluiceError(ErrorCode.UPSTREAM, 'socks: udp control connection failed', { cause: err })));
    control.resume();
    // Gone between the reply and now: its 'end'/'close' will not come again.
    if (control.destroyed || control.readableEnded) this.fail(new SluiceError(ErrorCode.UPSTREAM, 'socks: udp control connection closed'));
  }

  send(data: Buffer, dst: Destination): void {
    if (this.closed) return;
    // The IP, not dst.host, unless the client sent to a fake IP: a relay that resolved the name could
    // answer from another address than the one the client sent to, and the reply would not reach it.
    const address = this.session.sendHost === true && dst.host !== undefined ? dst.host : dst.address;
    let frame: Buffer;
    try {
      frame = encodeUdpFrame({ address, port: dst.port }, data);
    } catch (err) {
      this.drop('unencodable', err);
      return;
    }
    this.stats.sent++;
    this.session.carrier.send(frame, this.relay);
  }

  setReceiver(receiver: PacketReceiver): void {
    this.receiver = receiver;
    const early = this.earlyFailure;
    if (early) {
      this.earlyFailure = undefined;
      queueMicrotask(() => receiver.onClose(early));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  private onFrame(frame: Buffer, from: Endpoint): void {
    if (this.closed) return;
    const relay = this.relay;
    if (from.port !== relay.port || normalizeIp(from.address) !== relay.address) {
      this.drop('not from the relay');
      return;
    }
    const decoded = decodeUdpFrame(frame);
    if (!decoded.ok) {
      this.drop(decoded.reason);
      return;
    }
    if (!this.receiver) {
      this.drop('no receiver yet');
      return;
    }
    this.stats.received++;
    this.receiver.onPacket(decoded.data, decoded.from);
  }

  private drop(reason: string, err?: unknown): void {
    this.stats.dropped++;
    this.session.logger.debug({ reason, err, dropped: this.stats.dropped }, 'socks: udp datagram dropped');
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    if (this.receiver) this.receiver.onClose(err);
    else this.earlyFailure = err;
  }

  private release(): void {
    this.session.carrier.close();
    this.session.control.destroy();
    this.session.logger.debug({ ...this.stats }, 'socks: udp session closed');
  }
}
