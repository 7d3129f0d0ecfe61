import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import type { Endpoint, FlowContext, PacketChannel, PacketReceiver, SluiceError } from '@sluice/core';
import type { NativeBinding } from '@sluice/native';
import { aborted } from './errors';
import { normalizeIp } from './ip';

type Logger = FlowContext['logger'];

/**
 * Runs `dial` under a deadline: it gets a signal that fires when `outer` does
 * or after `ms`, and the returned promise settles no later than that, even if
 * `dial` ignores its signal (a third-party `via`). A result that arrives after
 * the deadline is handed to `dispose`, so nothing leaks.
 */
export function withDeadline<T>(
  ms: number,
  outer: AbortSignal,
  dial: (signal: AbortSignal) => Promise<T>,
  dispose: (late: T) => void,
  onTimeout: () => SluiceError,
  mapError: (err: unknown) => SluiceError,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (outer.aborted) return reject(aborted(outer));
    const ctl = new AbortController();
    let done = false;
    let timedOut = false;
    // A plain listener rather than AbortSignal.any(): flow signals are short-lived and this one is removed when done.
    const onOuter = (): void => ctl.abort(outer.reason);
    const onAbort = (): void => {
      if (done) return;
      finish();
      reject(timedOut ? onTimeout() : aborted(outer));
    };
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort(onTimeout());
    }, ms);
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuter);
      ctl.signal.removeEventListener('abort', onAbort);
    };
    outer.addEventListener('abort', onOuter, { once: true });
    ctl.signal.addEventListener('abort', onAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = dial(ctl.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (value) => {
        if (done) return dispose(value);
        finish();
        resolve(value);
      },
      (err: unknown) => {
        if (done) return;
        finish();
        reject(mapError(err));
      },
    );
  });
}

/**
 * Socket options Node cannot set (`mark`, `interface` of a socks outbound
 * without `via`): sockets with them are made by the native module, as the
 * `direct` outbound makes its own, and adopted by Node.
 */
export interface SocketPlacement {
  readonly mark?: number;
  readonly device?: string;
  readonly createSocket: NativeBinding['createSocket'];
}

/** A TCP socket with `placement`'s options, adopted by Node and connecting to `ip`, in one tick (libuv must not poll an unconnected fd). */
function placedTcp(ip: string, port: number, placement: SocketPlacement): net.Socket {
  const family = net.isIPv6(ip) ? 6 : 4;
  const fd = placement.createSocket({ type: 'tcp', family, mark: placement.mark, device: placement.device });
  const sock = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  sock.connect({ host: ip, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
  return sock;
}

/**
 * Opens a TCP connection; destroys it and rejects when `signal` fires first.
 * Half-open allowed, so the relay can pass a FIN from upstream on while the
 * client keeps sending; no-delay because a proxy must not add Nagle waits on
 * top of the client's; keep-alive so a UDP control connection to a vanished
 * server is noticed.
 */
export async function connectTcp(host: string, port: number, signal: AbortSignal, placement?: SocketPlacement): Promise<net.Socket> {
  // A native socket needs an address before connect; a name is resolved first.
  const ip = placement && net.isIP(host) === 0 ? (await lookup(host)).address : host;
  if (signal.aborted) throw signal.reason;
  return new Promise((resolve, reject) => {
    const sock = placement
      ? placedTcp(ip, port, placement)
      : net.connect({ host, port, allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    const onAbort = (): void => {
      sock.destroy();
      reject(signal.reason);
    };
    const onError = (err: Error): void => {
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      reject(err);
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      sock.off('error', onError);
      resolve(sock);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A {@link PacketChannel} over a plain UDP socket: the datagram path to a SOCKS
 * relay when there is no `via`. Bound to `localAddress` when given, because
 * servers such as dante accept relay traffic only from the control
 * connection's client address.
 */
class DgramChannel implements PacketChannel {
  private receiver?: PacketReceiver;
  private closed = false;

  constructor(
    private readonly sock: dgram.Socket,
    private readonly logger: Logger,
  ) {
    sock.on('message', (msg, rinfo) => this.receiver?.onPacket(msg, { address: normalizeIp(rinfo.address), port: rinfo.port }));
    sock.on('error', (err) => this.fail(err));
  }

  send(data: Buffer, dst: Endpoint): void {
    if (this.closed) return;
    try {
      this.sock.send(data, dst.port, dst.address, (err) => {
        if (err) this.logger.debug({ err, bytes: data.length }, 'socks: udp send to relay failed');
      });
    } catch (err) {
      this.logger.debug({ err }, 'socks: udp send to relay failed');
    }
  }

  setReceiver(receiver: PacketReceiver): void {
    this.receiver = receiver;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.receiver?.onClose(err);
  }
}

/**
 * Opens a UDP socket for datagrams to `relay`, bound to `localAddress` when it
 * is of the same family, with `placement`'s options when given.
 */
export function openDgramChannel(relay: Endpoint, localAddress: string | undefined, logger: Logger, placement?: SocketPlacement): Promise<PacketChannel> {
  const family = net.isIPv6(relay.address) ? 6 : 4;
  const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  const address = localAddress !== undefined && net.isIP(localAddress) === family ? localAddress : undefined;
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      sock.close();
      reject(err);
    };
    sock.once('error', onError);
    const bound = (): void => {
      sock.off('error', onError);
      resolve(new DgramChannel(sock, logger));
    };
    if (!placement) return sock.bind({ address, port: 0 }, bound);
    let fd: number;
    try {
      fd = placement.createSocket({
        type: 'udp',
        family,
        mark: placement.mark,
        device: placement.device,
        localAddress: address ?? (family === 6 ? '::' : '0.0.0.0'),
        localPort: 0,
      });
    } catch (err) {
      sock.close();
      return reject(err);
    }
    sock.bind({ fd }, bound);
  });
}

/**
 * One address for `host`, canonical (IPv4-mapped un-mapped): of `family` when
 * the name has one, else the resolver's first.
 */
export async function resolveHost(host: string, family?: 4 | 6): Promise<string> {
  const all = await lookup(host, { all: true });
  const pick = all.find((a) => a.family === family) ?? all[0];
  if (pick === undefined) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
  return normalizeIp(pick.address);
}
