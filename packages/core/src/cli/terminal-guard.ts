import * as tty from 'node:tty';
import { native } from '@sluice/native';

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
 * terminal and is not one any more (`isatty` is false once `TCGETS` fails
 * with EIO) is pointed at /dev/null.
 */
export function guardTerminalAtExit(): void {
  const terminals = [0, 1, 2].filter((fd) => tty.isatty(fd));
  if (terminals.length === 0) return;
  process.once('exit', () => {
    for (const fd of terminals) {
      if (tty.isatty(fd)) continue;
      try {
        native().reopenDevNull(fd);
      } catch {
        // Nothing else can be done while exiting; Node's own check decides then.
      }
    }
  });
}
