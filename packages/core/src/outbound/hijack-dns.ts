import { Duplex } from 'node:stream';
import type { Endpoint, FlowContext } from '../adapter/flow';
import type { Outbound, PacketChannel, PacketReceiver } from '../adapter/outbound';
import { ErrorCode, SluiceError } from '../errors';

/** The tag rules name to send a flow's DNS queries to the built-in resolver (`outbound: hijack-dns`). */
export const HIJACK_DNS = 'hijack-dns';

/** Queries answered at once per TCP flow; more are read only once some are answered (as the resolver's own listener). */
const TCP_MAX_INFLIGHT = 32;

/** What the hijack needs of the resolver: one query in wire format, its answer out (never rejects for a bad query). */
export interface DnsQueryHandler {
  /** The answer to `query` from `source.client` (FORMERR for a malformed query, SERVFAIL when the upstream fails). */
  handle(query: Buffer, source: { readonly client: Endpoint; readonly transport: 'udp' | 'tcp' }): Promise<Buffer>;
}

/**
 * The built-in `hijack-dns` outbound: the flow's DNS queries are answered by
 * Sluice's resolver instead of going anywhere. UDP: each datagram is a
 * query, and its answer goes back as if from the flow's original
 * destination (the client sees its resolver answer). TCP: length-prefixed
 * messages (RFC 7766), answered as they complete. Present in every route
 * table of a config with a `dns` section.
 */
export class HijackDnsOutbound implements Outbound {
  readonly type = HIJACK_DNS;
  readonly tag = HIJACK_DNS;
  readonly networks = ['tcp', 'udp'] as const;

  /** `resolver` is asked at each dial: the resolver starts after the route table is built. */
  constructor(private readonly resolver: () => DnsQueryHandler | undefined) {}

  private handler(): DnsQueryHandler {
    const r = this.resolver();
    if (!r) throw new SluiceError(ErrorCode.CONFIG, 'hijack-dns: the DNS resolver is not running (the dns section takes effect at a restart)');
    return r;
  }

  async dialTcp(_dst: unknown, ctx: FlowContext): Promise<Duplex> {
    return new DnsTcpSession(this.handler(), ctx.flow.src);
  }

  async dialUdp(ctx: FlowContext): Promise<PacketChannel> {
    const { address, port } = ctx.flow.dst;
    return new DnsPacketChannel(this.handler(), ctx.flow.src, { address, port });
  }

  async close(): Promise<void> {}
}

/** One hijacked UDP session: each datagram sent is a query, each answer comes back from `replyFrom`. */
class DnsPacketChannel implements PacketChannel {
  private receiver: PacketReceiver | undefined;
  private closed = false;

  constructor(
    private readonly resolver: DnsQueryHandler,
    private readonly client: Endpoint,
    private readonly replyFrom: Endpoint,
  ) {}

  send(data: Buffer): void {
    if (this.closed) return;
    // handle() answers FORMERR for a bad query and never rejects; a rejection would be a resolver bug, lost like a datagram.
    this.resolver.handle(data, { client: this.client, transport: 'udp' }).then(
      (answer) => {
        if (!this.closed) this.receiver?.onPacket(answer, this.replyFrom);
      },
      () => {},
    );
  }

  setReceiver(receiver: PacketReceiver): void {
    this.receiver = receiver;
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * One hijacked TCP flow, as the stream the relay writes the client's bytes
 * to and reads the answers from: two-byte length, message; answers in the
 * order they complete (pipelining). A client's half-close ends the stream
 * once every query it sent is answered.
 */
class DnsTcpSession extends Duplex {
  private buffered = Buffer.alloc(0);
  private inflight = 0;
  /** The write callback held while {@link TCP_MAX_INFLIGHT} queries are being answered. */
  private held: (() => void) | undefined;
  private ended = false;

  constructor(
    private readonly resolver: DnsQueryHandler,
    private readonly client: Endpoint,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 2 && this.buffered.length >= 2 + this.buffered.readUInt16BE(0)) {
      const len = this.buffered.readUInt16BE(0);
      const query = Buffer.from(this.buffered.subarray(2, 2 + len));
      this.buffered = this.buffered.subarray(2 + len);
      this.ask(query);
    }
    if (this.inflight >= TCP_MAX_INFLIGHT) this.held = () => callback();
    else callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.ended = true;
    this.maybeEnd();
    callback();
  }

  private ask(query: Buffer): void {
    this.inflight++;
    this.resolver.handle(query, { client: this.client, transport: 'tcp' }).then(
      (answer) => {
        this.inflight--;
        if (this.destroyed) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(answer.length);
        this.push(Buffer.concat([len, answer]));
        const held = this.held;
        this.held = undefined;
        held?.();
        this.maybeEnd();
      },
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** After the client's half-close and the last answer, the stream ends (the relay closes the flow). */
  private maybeEnd(): void {
    if (this.ended && this.inflight === 0) this.push(null);
  }
}
