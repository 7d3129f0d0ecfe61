import * as fs from 'node:fs';
import type { NativeBinding, OutboundSocketOptions, SplicePoolStats, UdpDatagram, UdpSessionClosed, UdpTransparentSocketOptions } from '@sluice/native';
import { FdTable } from './fd-table';
import { mockNativeError } from './native-error';
import { MockListeners, acceptorClass, createTcpSocket, tcpDialClass, type OriginalDestinationFn } from './tcp';
import { createUdpSocket } from './udp-create';
import { MockUdpTransparentSocket } from './udp-socket';

export type { Arrival, OriginalDestinationFn } from './tcp';
export { MockUdpTransparentSocket, type MockReply } from './udp-socket';

/** Options of {@link createMockBinding}. */
export interface MockBindingOptions {
  /**
   * The emulated TPROXY lookup: the original destination of a connection or
   * datagram that reached a mock listener. Undefined (or returning undefined)
   * keeps the listener's own address, as a plain socket would report. Can be
   * changed later through {@link MockBinding.originalDestination}.
   */
  readonly originalDestination?: OriginalDestinationFn;
  /**
   * Accept TCP in the mock's `TcpAcceptor` (default true), the only way an
   * emulated destination reaches core: core accepts natively only where
   * splice works, so `spliceSupported()` then answers true, and every
   * `SpliceRelay` refuses (ENOSYS) so core relays in user space. With false,
   * `spliceSupported()` is false and core listens on the fd itself with a
   * `net.Server`: each flow's destination is then the listener's own address.
   */
  readonly acceptNatively?: boolean;
}

/**
 * A complete `NativeBinding` (from `@sluice/native`) built on ordinary Node sockets: no addon
 * is loaded and nothing needs root. Pass it as `createSluice(config, { native })`.
 * Besides the binding's members it exposes what a test needs to drive it.
 */
export interface MockBinding extends NativeBinding {
  /** Every UDP socket made through this binding, newest last. */
  readonly udpSockets: readonly MockUdpTransparentSocket[];
  /** Sets the emulated original-destination lookup (see {@link MockBindingOptions.originalDestination}). */
  setOriginalDestination(fn: OriginalDestinationFn | undefined): void;
  /** Delivers datagrams to the newest UDP socket as if received: any source, any original destination. */
  injectDatagrams(datagrams: readonly UdpDatagram[]): void;
}

const EMPTY_POOL: SplicePoolStats = { free: 0, freeGrown: 0, inUse: 0, opened: 0, reused: 0, closed: 0, failed: 0, maxFree: 0 };

/** The open-file limits, read (not raised: Node cannot call setrlimit) from `/proc/self/limits`. */
function fileLimits(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  return { soft: n(line?.[1]), hard: n(line?.[2]) };
}

/**
 * Makes a mock native binding. What it emulates, and what not:
 *
 * - `openTransparentListener`: an ordinary bound TCP socket on the requested
 *   address (no `IP_TRANSPARENT`: only local addresses, loopback in tests).
 * - `TcpAcceptor`: accepts on that socket and reports each
 *   connection with the destination from `originalDestination`.
 * - `UdpTransparentSocket`: see {@link MockUdpTransparentSocket}; replies
 *   leave from the mock's own address, the requested source is recorded.
 * - `TcpDial`, `createSocket`: ordinary sockets; `mark`, `device` and
 *   `transparent` are accepted and have no effect.
 * - `SpliceRelay` always refuses (ENOSYS); `splicePoolStats` is all zero.
 * - `originalDestination(fd)` and `localAddress(fd)` answer for fds this
 *   binding handed out; `raiseFileLimit` reports the limits without raising them.
 * - Node cannot duplicate or release an fd: each fd handed out stays named by
 *   the Node handle that made it, until the process exits. Use the mock in
 *   test processes, not in long-lived programs or worker threads.
 */
export function createMockBinding(options: MockBindingOptions = {}): MockBinding {
  const fds = new FdTable();
  const listeners = new MockListeners(fds);
  let lookup = options.originalDestination;
  const udpSockets: MockUdpTransparentSocket[] = [];
  const acceptNatively = options.acceptNatively !== false;
  const Acceptor = acceptorClass(listeners, fds, () => lookup);
  const udpContext = { originalDestination: () => lookup, sockets: udpSockets };

  class UdpTransparentSocket extends MockUdpTransparentSocket {
    constructor(o: UdpTransparentSocketOptions, onBatch: (d: UdpDatagram[]) => void, onClosed?: (s: UdpSessionClosed[]) => void) {
      super(o, onBatch, onClosed, udpContext);
    }
  }
  class SpliceRelay {
    constructor() {
      throw mockNativeError('ENOSYS', 'splice', 'the mock binding has no splice relay; relay in user space');
    }
  }

  const binding: MockBinding = {
    openTransparentListener: (o) => listeners.open(o),
    createSocket: (o: OutboundSocketOptions) => (o.type === 'tcp' ? createTcpSocket(o, fds) : createUdpSocket(o, fds)),
    originalDestination: (fd: number) => fds.get(fd, 'getsockopt(SO_ORIGINAL_DST)').originalDst ?? fds.get(fd, 'getsockname').local(),
    localAddress: (fd: number) => fds.get(fd, 'getsockname').local(),
    closeFd: (fd: number) => fds.close(fd, false, 'close'),
    resetFd: (fd: number) => fds.close(fd, true, 'close'),
    // The mock's fds are numbers only: nothing refers to a file that could change.
    reopenDevNull: () => undefined,
    raiseFileLimit: fileLimits,
    UdpTransparentSocket,
    SpliceRelay: SpliceRelay as unknown as NativeBinding['SpliceRelay'],
    spliceSupported: () => acceptNatively,
    splicePoolStats: () => ({ ...EMPTY_POOL }),
    splicePoolTrim: () => 0,
    TcpDial: tcpDialClass(fds),
    TcpAcceptor: Acceptor,
    udpSockets,
    setOriginalDestination: (fn) => void (lookup = fn),
    injectDatagrams: (datagrams) => {
      const last = udpSockets[udpSockets.length - 1];
      if (!last) throw new Error('mock binding: no UdpTransparentSocket has been made');
      last.inject(datagrams);
    },
  };
  return binding;
}
