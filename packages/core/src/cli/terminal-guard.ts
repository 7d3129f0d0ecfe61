import * as tty from 'node:tty';
import { native, type NativeBinding } from '@sluice/native';

/** What {@link guardTerminalAtExit} needs; injectable for tests. */
export interface TerminalGuardDeps {
  /** Whether fd is a terminal now (`tty.isatty`: false once a terminal has hung up, as `TCGETS` then fails with EIO). */
  readonly isatty: (fd: number) => boolean;
  /** The binding whose `reopenDevNull` repoints an fd; called only at exit, and only when needed. */
  readonly native: () => Pick<NativeBinding, 'reopenDevNull'>;
  /** Where the `exit` listener goes (default `process`). */
  readonly onExit: (listener: () => void) => void;
}

const defaultDeps: TerminalGuardDeps = {
  isatty: (fd) => tty.isatty(fd),
  native,
  onExit: (listener) => process.once('exit', listener),
};

/**
 * Lets `sluice run` exit with its own code after its terminal went away.
 *
 * Node 20 records which of fds 0–2 are terminals at start and, as the process
 * exits, restores their settings with `tcsetattr()`; when that fails with
 * anything but EPERM it aborts (nodejs/node#51519; later majors ignore the
 * error, nodejs/node#58200), and on this machine the abort's own backtrace
 * dump then crashes with SIGSEGV. A terminal that hung up (an ssh session
 * that dropped, a killed `script` or tmux) fails with EIO, and Sluice outlives
 * that hangup by design (SIGHUP reloads the config), so its eventual stop,
 * however clean, would end in a crash. Node skips an fd that no longer
 * refers to the file it referred to at start, so at exit every fd that was a
 * terminal and is not one any more is pointed at /dev/null. Returns the fds
 * watched (none when no stdio fd is a terminal).
 */
export function guardTerminalAtExit(deps: TerminalGuardDeps = defaultDeps): number[] {
  const terminals = [0, 1, 2].filter((fd) => deps.isatty(fd));
  if (terminals.length === 0) return terminals;
  deps.onExit(() => {
    for (const fd of terminals) {
      if (deps.isatty(fd)) continue;
      try {
        deps.native().reopenDevNull(fd);
      } catch {
        // Nothing else can be done while exiting; Node's own check decides then.
      }
    }
  });
  return terminals;
}
