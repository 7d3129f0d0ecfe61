import type { NativeBinding } from '@sluice/native';
import type { Logger } from 'pino';
import type { Endpoint, FlowClosedEvent, FlowRoutedEvent } from '../adapter/flow';
import type { FlowSink } from '../adapter/inbound';
import type { Outbound } from '../adapter/outbound';
import type { FlowRouter, HostResolver, RoutingHook } from '../adapter/router';
import type { FlowListener } from '../flow/access-log';
import { DEFAULTS } from '../config/defaults';
import { Dispatcher, RouteTable } from '../flow/dispatch';
import { Flows } from '../flow/flow-sink';
import { LoopGuard } from '../flow/loop-guard';
import { TcpFlows } from '../flow/tcp-flows';
import type { SniffSettings } from '../flow/tcp-sniff';
import { UdpSessions } from '../flow/udp-sessions';
import { TcpRelayer } from '../relay/relay';

/** Options of {@link createFlowHarness}. */
export interface FlowHarnessOptions {
  /** The outbounds flows may be routed to. */
  readonly outbounds: readonly Outbound[];
  /** A router, or one outbound tag that every flow goes to (rule `final`). Default: the first outbound. */
  readonly route?: FlowRouter | string;
  readonly hook?: RoutingHook;
  readonly hookTimeoutMs?: number;
  /** Names flows before routing, as the DNS resolver does. */
  readonly hosts?: HostResolver;
  /** Where the access log and warnings go (e.g. a capturing logger). */
  readonly logger: Logger;
  readonly connectTimeoutMs?: number;
  /** TCP idle timeout; 0 (default) disables it. */
  readonly tcpIdleMs?: number;
  readonly udpIdleMs?: number;
  /** UDP sessions at once, both tables and every port together. */
  readonly maxSessions?: number;
  /** TCP flows at once; past it new connections are reset. Default: no cap. */
  readonly maxTcpFlows?: number;
  readonly maxPending?: number;
  readonly maxPendingBytes?: number;
  readonly maxPendingTotal?: number;
  /** A real binding turns the kernel splice relay on (bare-fd connections are then accepted). */
  readonly splice?: NativeBinding;
  /** Hand sessions to a port's session relay when it offers one (default true). */
  readonly sessionRelay?: boolean;
  /**
   * Inbound tags whose TCP flows are sniffed (as `sniff: true`), with their
   * `sniff_timeout_ms` (default 300) and `override_destination` (default false).
   */
  readonly sniff?: Readonly<Record<string, { readonly timeoutMs?: number; readonly overrideDestination?: boolean }>>;
  /** UDP sessions of these inbounds (by tag) are sniffed for a QUIC server name before routing, as with `sniff: true`. */
  readonly udpSniff?: ReadonlyMap<string, { readonly timeoutMs: number; readonly overrideDestination: boolean }>;
  /** Sluice's own listeners, for the loop guard. */
  readonly listeners?: readonly Endpoint[];
}

/** The flow machinery of one Sluice, driven directly: what an inbound talks to. */
export interface FlowHarness {
  /** Hand it connections and datagrams as an inbound would. */
  readonly sink: FlowSink;
  /** `flow` and `flow:closed` events, in order. */
  readonly routed: FlowRoutedEvent[];
  readonly closed: FlowClosedEvent[];
  /** Open TCP flows and UDP sessions. */
  readonly active: { tcp: number; udp: number };
  /** Cuts every TCP flow (as shutdown does after the drain). */
  abortAll(reason: string): void;
  /** Ends every UDP session. */
  closeAll(reason?: string): void;
}

/**
 * Builds the flow machinery (routing, dial with timeout, relay choice, UDP
 * sessions, access log) around given outbounds, without inbounds or
 * sockets of its own: for tests of outbounds, routing hooks and custom
 * inbounds that want to hand flows over exactly as the `tproxy` inbound does.
 */
export function createFlowHarness(opts: FlowHarnessOptions): FlowHarness {
  const outbounds = new Map(opts.outbounds.map((o) => [o.tag, o]));
  const route = opts.route ?? opts.outbounds[0]?.tag ?? '';
  const router: FlowRouter = typeof route === 'string' ? { route: () => ({ rule: 'final', outbound: route }) } : route;
  const routed: FlowRoutedEvent[] = [];
  const closed: FlowClosedEvent[] = [];
  const listener: FlowListener = {
    wantsRouted: true,
    wantsClosed: true,
    routed: (e) => void routed.push(e),
    closed: (e) => void closed.push(e),
  };
  const dispatcher = new Dispatcher(new RouteTable(router, outbounds), { hook: opts.hook, hookTimeoutMs: opts.hookTimeoutMs, logger: opts.logger, hosts: opts.hosts });
  const loopGuard = new LoopGuard(opts.listeners ?? []);
  const relayer = new TcpRelayer({ idleMs: opts.tcpIdleMs ?? 0 }, opts.splice);
  const tcp = new TcpFlows(dispatcher, loopGuard, relayer, opts.logger, { connectTimeoutMs: opts.connectTimeoutMs ?? 10_000, maxFlows: opts.maxTcpFlows, sniff: sniffSettings(opts.sniff) }, listener);
  const udp = new UdpSessions(
    dispatcher,
    loopGuard,
    opts.logger,
    {
      connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      idleMs: opts.udpIdleMs ?? 60_000,
      maxSessions: opts.maxSessions ?? 10_000,
      maxPending: opts.maxPending,
      maxPendingBytes: opts.maxPendingBytes,
      maxPendingTotal: opts.maxPendingTotal,
      sessionRelay: opts.sessionRelay,
      sniff: opts.udpSniff,
    },
    listener,
  );
  const flows = new Flows(tcp, udp);
  return {
    sink: flows,
    routed,
    closed,
    get active() {
      return flows.active;
    },
    abortAll: (reason) => tcp.abortAll(reason),
    closeAll: (reason) => udp.closeAll(reason),
  };
}

function sniffSettings(sniff: FlowHarnessOptions['sniff']): ReadonlyMap<string, SniffSettings> | undefined {
  if (sniff === undefined) return undefined;
  return new Map(Object.entries(sniff).map(([tag, s]) => [tag, { timeoutMs: s.timeoutMs ?? DEFAULTS.inbound.sniff_timeout_ms, overrideDestination: s.overrideDestination ?? DEFAULTS.inbound.override_destination }]));
}
