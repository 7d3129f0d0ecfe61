import * as dgram from 'node:dgram';
import * as util from 'node:util';
import type { OutboundSocketOptions } from '@sluice/native';
import type { FdTable } from './fd-table';
import { dgramHandle } from './dgram-handle';
import { mockNativeError } from './native-error';

function check(rc: number, syscall: string, what: string): void {
  if (rc < 0) throw mockNativeError(util.getSystemErrorName(rc), syscall, what);
}

/**
 * `createSocket({ type: 'udp' })`: bound (to `localAddress`, or the wildcard)
 * and, with `connectAddress`, connected, synchronously as the addon does, so
 * the fd can go to `dgram.bind({ fd })` or a session relay at once.
 */
export function createUdpSocket(options: OutboundSocketOptions, fds: FdTable): number {
  const v6 = options.family === 6;
  const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
  // dgram only binds asynchronously; the addon's createSocket returns a bound (and connected) fd at once.
  const handle = dgramHandle(socket);
  if (!handle) throw mockNativeError('ENOSYS', 'socket', 'cannot reach the dgram handle of this Node');
  const address = options.localAddress ?? (v6 ? '::' : '0.0.0.0');
  const port = options.localPort ?? 0;
  try {
    check(v6 ? handle.bind6(address, port, 0) : handle.bind(address, port, 0), 'bind', `${address}:${port}`);
    if (options.connectAddress !== undefined) {
      const p = options.connectPort ?? 0;
      check(v6 ? handle.connect6(options.connectAddress, p) : handle.connect(options.connectAddress, p), 'connect', `${options.connectAddress}:${p}`);
    }
  } catch (err) {
    socket.close();
    throw err;
  }
  return fds.add(handle.fd, {
    local: () => {
      const out: Record<string, unknown> = {};
      handle.getsockname(out);
      return { address: String(out.address), port: Number(out.port) };
    },
    close: () => socket.close(),
  });
}
