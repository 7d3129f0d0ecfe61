import { readFileSync } from 'node:fs';
import type { SluiceConfig } from '../config/types';

/** The soft and hard `RLIMIT_NOFILE`. */
export interface FileLimit {
  readonly soft: number;
  readonly hard: number;
}

/** How the caps are shared: the workers of the pool, and how many of them share one process (threads). */
export interface WorkerShare {
  /** Workers in the pool (1 without a pool). */
  readonly workers: number;
  /** Workers running in this process: the pool's count in `thread` mode, else 1. They share its open-file limit. */
  readonly perProcess: number;
}

/** What one worker enforces, and where it came from. */
export interface ResolvedLimits {
  /** This worker's share of `limits.max_tcp_flows`. */
  readonly maxTcpFlows: number;
  /** The TCP cap for the whole of Sluice (configured, or this share × workers when derived). */
  readonly maxTcpFlowsTotal: number;
  /** Whether {@link maxTcpFlows} was derived from the open-file limit (`auto`). */
  readonly derived: boolean;
  /** This worker's share of `udp.max_sessions`, lowered to what its fds allow. */
  readonly maxUdpSessions: number;
  /** The fds this worker may use for flows and sessions (after {@link FD_BASE_RESERVE}). */
  readonly fdBudget: number;
  /** Set when a configured cap does not fit the open-file limit: the warning to log. */
  readonly warnings: readonly string[];
}

/**
 * Fds a worker keeps for itself before flows: stdio, the event loop's epoll
 * and wakeup fds, the addon's epoll set, listeners, log output. An idle
 * Sluice holds about 25 (the `idle` line of `npm run soak`); the rest is headroom.
 */
export const FD_BASE_RESERVE = 64;

/** Reply sockets the native UDP socket caches per UDP inbound (its `replyCacheSize` default). */
export const REPLY_SOCKETS_PER_UDP_INBOUND = 1024;

/**
 * The caps one worker enforces. Explicit caps are shared out, each worker
 * taking `ceil(cap / workers)`. The fds are budgeted so that a UDP flood
 * cannot take the ones TCP accepts need:
 *
 * - budget = (soft limit − {@link FD_BASE_RESERVE}) / workers in this process
 * - UDP sessions (one fd each, relayed natively or not): at most a quarter of
 *   the budget; `udp.max_sessions` is lowered to that when it is larger
 * - reply sockets: 1024 per UDP inbound, counted up to an eighth of the budget
 * - `max_tcp_flows: auto` = (budget − UDP sessions − reply sockets) / 2, two
 *   fds per flow (client and upstream; splice pipes are borrowed only while
 *   bytes are in flight and come out of the base reserve)
 */
export function resolveLimits(config: Pick<SluiceConfig, 'limits' | 'udp' | 'inbounds'>, files: FileLimit, share: WorkerShare): ResolvedLimits {
  const workers = Math.max(1, share.workers);
  const perProcess = Math.max(1, share.perProcess);
  const warnings: string[] = [];
  const fdBudget = Math.max(0, Math.floor((files.soft - FD_BASE_RESERVE) / perProcess));
  const udpShare = Math.ceil(config.udp.max_sessions / workers);
  const udpFds = Math.floor(fdBudget / 4);
  const maxUdpSessions = Math.max(1, Math.min(udpShare, udpFds));
  if (udpShare > maxUdpSessions) {
    warnings.push(
      `udp.max_sessions: ${udpShare} per worker do not fit the open-file limit (${files.soft}); this worker keeps at most ${maxUdpSessions} UDP sessions`,
    );
  }
  const udpInbounds = config.inbounds.filter((i) => i.network.includes('udp')).length;
  const replyFds = Math.min(REPLY_SOCKETS_PER_UDP_INBOUND * udpInbounds, Math.floor(fdBudget / 8));
  const fitting = Math.max(1, Math.floor((fdBudget - maxUdpSessions - replyFds) / 2));
  const configured = config.limits.max_tcp_flows;
  if (configured === 'auto') {
    return { maxTcpFlows: fitting, maxTcpFlowsTotal: fitting * workers, derived: true, maxUdpSessions, fdBudget, warnings };
  }
  const maxTcpFlows = Math.max(1, Math.ceil(configured / workers));
  if (maxTcpFlows > fitting) {
    warnings.push(
      `limits.max_tcp_flows: ${maxTcpFlows} per worker need more fds than the open-file limit (${files.soft}) leaves (about ${fitting}); past that, accepts wait for fds instead of being refused`,
    );
  }
  return { maxTcpFlows, maxTcpFlowsTotal: configured, derived: false, maxUdpSessions, fdBudget, warnings };
}

/**
 * The current `RLIMIT_NOFILE` from `/proc/self/limits` (Node has no
 * getrlimit), read before the native module raises it; undefined where
 * there is no such file.
 */
export function readFileLimit(path = '/proc/self/limits'): FileLimit | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const num = (v: string): number => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: num(m[1]!), hard: num(m[2]!) };
}
