import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { NativeBinding } from '@sluice/native';
import type { TcpConnectPlan } from '../adapter/capabilities';
import { spliceAvailable, spliceConnectRelay, spliceRelayEnds, type ConnectingRelay, type SpliceRelayOptions } from './splice-relay';
import { relayTcp, type TcpRelay } from './stream-relay';

/**
 * One end of a TCP flow as the relay receives it: a bare connected fd (a
 * natively accepted client, a natively dialled upstream) or a stream (a
 * `net.Socket`, or any Duplex an outbound made, such as a TLS tunnel).
 */
export type RelayEnd = number | Duplex;

/**
 * Carries TCP flows between their two ends, choosing the relay in one place:
 * the kernel splice relay when it is on and both ends are plain TCP (as fds
 * or as eligible sockets), the stream relay for anything else. Ends that are
 * bare fds are never turned into `net.Socket`s unless the stream relay needs
 * them.
 */
export class TcpRelayer {
  /** The binding, when the splice relay is on (config `relay.splice`). */
  private readonly splice: NativeBinding | undefined;

  constructor(
    private readonly opts: SpliceRelayOptions,
    splice: NativeBinding | undefined,
  ) {
    this.splice = splice;
  }

  /**
   * Whether ends may be bare fds: the splice relay is on and works here. The
   * inbound then accepts natively, and a flow whose outbound offers
   * `dialTcpFd` gets an fd upstream.
   */
  get acceptsFds(): boolean {
    const native = this.splice;
    return native !== undefined && typeof native.resetFd === 'function' && spliceAvailable(native);
  }

  /**
   * Starts relaying `client` and `upstream`; from here the relay owns both.
   * `replay`: bytes already read from the client (by a sniffer), written to
   * the upstream first, unchanged, whichever relay carries the flow.
   * Never throws: should even the stream relay not start (an fd that cannot
   * be adopted), the returned relay has already ended with the error.
   */
  start(client: RelayEnd, upstream: RelayEnd, replay?: Buffer): TcpRelay {
    const native = this.splice;
    if (native) {
      const spliced = spliceRelayEnds(client, upstream, this.opts, native, replay);
      if (spliced) return spliced;
    }
    let c: Duplex | undefined;
    try {
      c = typeof client === 'number' ? adoptFd(client) : client;
      const u = typeof upstream === 'number' ? adoptFd(upstream) : upstream;
      return relayTcp(c, u, this.opts, replay);
    } catch (err) {
      if (c) c.destroy();
      else this.close(client);
      this.close(upstream);
      return { result: Promise.resolve({ up: 0, down: 0, error: (err as Error).message }), abort() {}, bytes: () => ({ up: 0, down: 0 }) };
    }
  }

  /**
   * Connects the upstream `plan` describes and relays `client` (a bare fd)
   * to it in one native step, the connect bounded by `timeoutMs`. The relay
   * owns `client` from here on. Undefined, owning nothing, when the splice
   * relay is off or refuses: dial and {@link start} then.
   */
  connectAndStart(client: number, plan: TcpConnectPlan, timeoutMs: number): ConnectingRelay | undefined {
    const native = this.splice;
    if (native === undefined) return undefined;
    const connect = {
      address: plan.address,
      port: plan.port,
      mark: plan.mark,
      device: plan.device,
      localAddress: plan.localAddress,
      transparent: plan.transparent,
      timeoutMs,
    };
    return spliceConnectRelay(client, connect, this.opts, native);
  }

  /**
   * A bare fd as a `net.Socket`, for a step that must read from the client
   * before the relay (sniffing). The socket still qualifies for the splice
   * relay afterwards, which then takes a copy of its fd.
   */
  adopt(fd: number): net.Socket {
    return adoptFd(fd);
  }

  /** Tells the peer at `end` that the flow failed (a reset, not a FIN), and releases it. */
  reset(end: RelayEnd): void {
    if (typeof end === 'number') {
      if (this.splice && typeof this.splice.resetFd === 'function') this.splice.resetFd(end);
      else closeFdWith(this.splice, end);
      return;
    }
    if (end instanceof net.Socket && !end.destroyed && end.readyState !== 'opening') end.resetAndDestroy();
    else end.destroy();
  }

  /** Releases an end that was never used (a dial that finished after the flow gave up). */
  close(end: RelayEnd): void {
    if (typeof end === 'number') closeFdWith(this.splice, end);
    else end.destroy();
  }
}

/** A connected TCP fd as a stream, for the stream relay. */
function adoptFd(fd: number): net.Socket {
  return new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
}

function closeFdWith(native: NativeBinding | undefined, fd: number): void {
  if (native) native.closeFd(fd);
  else adoptFd(fd).destroy();
}
