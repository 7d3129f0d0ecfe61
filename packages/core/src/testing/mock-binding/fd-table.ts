import type { SocketAddress } from '@sluice/native';
import { mockNativeError } from './native-error';

/**
 * What the mock knows of an fd it handed out: the Node object that made it
 * (and still names it), how to close it, and, for accepted connections, the
 * emulated original destination.
 */
export interface FdOwner {
  /** `getsockname()` as the owning handle saw it. */
  local(): SocketAddress;
  /** Closes the fd through its owner (gracefully, or with a reset). */
  close(reset: boolean): void;
  /** The emulated `SO_ORIGINAL_DST` / TPROXY destination of an accepted connection. */
  readonly originalDst?: SocketAddress;
}

/**
 * The fds the mock binding handed out, by number. Node cannot `dup()` nor
 * give up an fd, so each fd stays named by the Node handle that created it;
 * the mock closes it through that handle (`closeFd`, `resetFd`). Once the
 * code under test adopts an fd (`new net.Socket({ fd })`), the adopter owns
 * it and the mock forgets it at the next `closeFd`/`resetFd` of that number
 * or when the number is handed out again.
 */
export class FdTable {
  private readonly owners = new Map<number, FdOwner>();

  add(fd: number, owner: FdOwner): number {
    this.owners.set(fd, owner);
    return fd;
  }

  get(fd: number, syscall: string): FdOwner {
    const owner = this.owners.get(fd);
    if (!owner) throw mockNativeError('EBADF', syscall, `fd ${fd} was not handed out by this mock binding`);
    return owner;
  }

  /** Closes `fd` through its owner and forgets it. */
  close(fd: number, reset: boolean, syscall: string): void {
    const owner = this.get(fd, syscall);
    this.owners.delete(fd);
    owner.close(reset);
  }
}
