import { ok, warn } from '../result';
import type { DoctorCheck, CheckResult } from '../types';

/** TCP flows the limit must leave room for besides the UDP sessions (each costs 2 fds: client and upstream). */
export const TCP_FLOW_FLOOR = 4096;
/** fds a Sluice process holds besides its flows: listeners, pipes, the log, node's own. */
export const BASE_FDS = 64;

/** Soft and hard "Max open files" from /proc/self/limits (`unlimited` as Infinity). */
export function parseOpenFileLimits(limits: string): { soft: number; hard: number } | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) return undefined;
  const n = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

/**
 * The open-file limit against the configured flow limits. `sluice run` raises
 * its soft limit to the hard one at start, so the hard limit is what counts;
 * doctor reads its own, which the shell or unit that starts Sluice also gives
 * `sluice run`. Each UDP session holds one fd (`udp.max_sessions`), each TCP
 * flow two.
 */
export const openFilesCheck: DoctorCheck = {
  id: 'open-files',
  title: 'the open-file limit covers udp.max_sessions and a TCP floor',
  async run(ctx): Promise<CheckResult> {
    const limits = parseOpenFileLimits((await ctx.readFile('/proc/self/limits')) ?? '');
    if (!limits) return warn('cannot read "Max open files" from /proc/self/limits');
    const sessions = ctx.config.udp.max_sessions;
    const need = BASE_FDS + sessions + 2 * TCP_FLOW_FLOOR;
    const tcpRoom = Math.max(0, Math.floor((limits.hard - BASE_FDS - sessions) / 2));
    const have = `soft ${limits.soft}, hard ${limits.hard}`;
    if (limits.hard >= need) {
      return ok(`${have}: room for ${sessions} UDP sessions and ${Number.isFinite(tcpRoom) ? tcpRoom : 'unlimited'} TCP flows${limits.soft < need ? ' (sluice run raises the soft limit to the hard one)' : ''}`);
    }
    const target = Math.max(65536, need);
    return warn(
      `${have}: ${sessions} UDP sessions (udp.max_sessions) leave room for only ${tcpRoom} TCP flows (2 fds each; want ${TCP_FLOW_FLOOR}); beyond that flows fail with EMFILE`,
      `LimitNOFILE=${target} in the systemd unit, or ulimit -Hn ${target}; ulimit -n ${target} before sluice run (or lower udp.max_sessions)`,
    );
  },
};
