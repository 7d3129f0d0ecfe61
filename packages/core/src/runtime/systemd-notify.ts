import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/** Environment variable through which systemd (`Type=notify`) names its notification socket. */
export const NOTIFY_SOCKET_ENV = 'NOTIFY_SOCKET';

/** Runs `systemd-notify` with these arguments and environment; rejects when it cannot be run or fails. */
export type NotifyCommand = (args: readonly string[], env: NodeJS.ProcessEnv) => Promise<void>;

/**
 * Tells the service manager about Sluice's state (the sd_notify protocol):
 * `READY=1` once the listeners are up, `RELOADING=1` … `READY=1` around a
 * reload, `STOPPING=1` on stop, and a human `STATUS=` line with each.
 */
export interface ServiceNotifier {
  /**
   * Sends the assignments (e.g. `{ READY: '1', STATUS: '…' }`) in one message
   * once the earlier ones are out; never rejects. `{}` sends nothing and
   * resolves when everything before it is out.
   */
  notify(state: Readonly<Record<string, string>>): Promise<void>;
}

/** Options of {@link createServiceNotifier}. */
export interface ServiceNotifierOptions {
  readonly logger: Logger;
  /** Read once; default `process.env`, from which `NOTIFY_SOCKET` is then removed. */
  readonly env?: NodeJS.ProcessEnv;
  /** How `systemd-notify` is run; tests pass a fake. */
  readonly command?: NotifyCommand;
}

/**
 * Runs systemd's own `systemd-notify` (package `systemd`, present wherever
 * systemd sets `NOTIFY_SOCKET`): Node has no unix datagram sockets, and a
 * native package would bring back the compiler this project's installs avoid.
 * systemd ≥ 246 makes `systemd-notify` wait until the manager has read the
 * message, so its short life does not lose it; the unit needs
 * `NotifyAccess=all` because the sender is a child of the main process.
 */
export const systemdNotifyCommand: NotifyCommand = (args, env) =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', [...args], { env, timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(Object.assign(err, { message: `systemd-notify: ${stderr.trim() || err.message}` }));
      else resolve();
    });
  });

/**
 * The notifier for this process: one that sends to `NOTIFY_SOCKET` when the
 * service manager set it (a path, or `@name` in the abstract namespace, which
 * `systemd-notify` resolves), otherwise one that does nothing. The variable is
 * removed from `process.env` (as `sd_notify(unset_environment=1)` does) so
 * worker processes and plugins' children do not speak for the service.
 * Messages go out one at a time, in order; a failure is logged once as a
 * warning and never stops Sluice.
 */
export function createServiceNotifier(opts: ServiceNotifierOptions): ServiceNotifier {
  const env = opts.env ?? process.env;
  const socket = env[NOTIFY_SOCKET_ENV];
  if (!socket) return { notify: () => Promise.resolve() };
  if (env === process.env) delete process.env[NOTIFY_SOCKET_ENV];
  const command = opts.command ?? systemdNotifyCommand;
  const childEnv = { ...env, [NOTIFY_SOCKET_ENV]: socket };
  let queue = Promise.resolve();
  let warned = false;
  return {
    notify(state) {
      const args = Object.entries(state).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`);
      if (args.length === 0) return queue;
      queue = queue.then(() =>
        command(args, childEnv).catch((err: unknown) => {
          if (warned) return;
          warned = true;
          opts.logger.warn({ err, socket }, 'cannot notify the service manager (is systemd-notify installed?); it may not see Sluice as ready');
        }),
      );
      return queue;
    },
  };
}
