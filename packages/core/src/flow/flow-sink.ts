import type { Endpoint } from '../adapter/flow';
import type { AcceptedConnection, DatagramPort, FlowSink, UdpSessionEnd } from '../adapter/inbound';
import type { LiveFlow } from './live-flow';
import type { TcpFlows } from './tcp-flows';
import type { UdpSessions } from './udp-sessions';

/** The {@link FlowSink} inbounds are given: TCP connections to {@link TcpFlows}, datagrams to {@link UdpSessions}. */
export class Flows implements FlowSink {
  constructor(
    readonly tcp: TcpFlows,
    readonly udp: UdpSessions,
  ) {}

  get acceptsFds(): boolean {
    return this.tcp.acceptsFds;
  }

  get sessionRelayLimits(): { idleMs: number; maxSessions: number } | undefined {
    return this.udp.sessionRelayLimits;
  }

  accept(conn: AcceptedConnection, src: Endpoint, dst: Endpoint, inbound: string): void {
    this.tcp.accept(conn, src, dst, inbound);
  }

  onDatagram(data: Buffer, src: Endpoint, dst: Endpoint, port: DatagramPort): void {
    this.udp.onDatagram(data, src, dst, port);
  }

  onSessionsEnded(ends: readonly UdpSessionEnd[]): void {
    this.udp.onSessionsEnded(ends);
  }

  /** Every TCP flow and UDP session in progress. */
  *liveFlows(): IterableIterator<LiveFlow> {
    yield* this.tcp.liveFlows();
    yield* this.udp.liveFlows();
  }

  /** Open TCP flows and UDP sessions. */
  get active(): { tcp: number; udp: number } {
    return { tcp: this.tcp.size, udp: this.udp.size };
  }
}
