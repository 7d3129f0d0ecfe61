import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import pino, { type Logger } from 'pino';
import { waitFor } from '../../helpers/wait';
import { Writable } from 'node:stream';
import type { DatagramPort, Destination, Endpoint, FlowContext, FlowMetadata, Outbound, PacketChannel, PacketReceiver, UdpSessionRelay } from '@sluice/core';

/** A logger whose JSON lines are collected in `lines`. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines };
}

/** A connected pair of real TCP sockets on loopback (allowHalfOpen on both). */
export async function socketPair(): Promise<{ a: net.Socket; b: net.Socket; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const b = await accepted;
  await new Promise<void>((r) => (a.connecting ? a.once('connect', () => r()) : r()));
  server.close();
  return { a, b, close: () => server.close() };
}

/** A channel recording what was sent, whose replies the test injects. */
export class FakeChannel implements PacketChannel {
  sent: { data: Buffer; dst: Destination }[] = [];
  receiver?: PacketReceiver;
  closed = false;
  send(data: Buffer, dst: Destination): void {
    this.sent.push({ data, dst });
  }
  setReceiver(r: PacketReceiver): void {
    this.receiver = r;
  }
  close(): void {
    this.closed = true;
  }
  reply(data: Buffer, from: Endpoint): void {
    this.receiver?.onPacket(data, from);
  }
}

/** The datagram side of an inbound as the flow machinery sees it: records replies, may offer a session relay. */
export class FakeDatagramPort implements DatagramPort {
  replies: { data: string; from: string; to: string }[] = [];
  constructor(
    readonly inbound: string,
    readonly sessionRelay?: UdpSessionRelay,
  ) {}
  sendReply(data: Buffer, from: Endpoint, to: Endpoint): boolean {
    this.replies.push({ data: data.toString(), from: `${from.address}:${from.port}`, to: `${to.address}:${to.port}` });
    return true;
  }
}

/** An outbound whose behaviour each test sets. */
export class FakeOutbound implements Outbound {
  readonly type = 'fake';
  networks: readonly ('tcp' | 'udp')[] = ['tcp', 'udp'];
  tcpDials: Destination[] = [];
  channels: FakeChannel[] = [];
  onDialTcp: (dst: Destination, ctx: FlowContext) => Promise<Duplex> = () => Promise.reject(new Error('no tcp'));
  onDialUdp: (ctx: FlowContext) => Promise<PacketChannel> = async () => {
    const c = new FakeChannel();
    this.channels.push(c);
    return c;
  };
  closed = false;
  constructor(readonly tag: string) {}
  dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    this.tcpDials.push(dst);
    return this.onDialTcp(dst, ctx);
  }
  dialUdp(ctx: FlowContext): Promise<PacketChannel> {
    return this.onDialUdp(ctx);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A flow for router and handler tests. */
export function flow(over: Partial<FlowMetadata> = {}): FlowMetadata {
  return {
    id: 't1',
    network: 'tcp',
    inbound: 'in4',
    src: { address: '198.18.1.2', port: 40000 },
    dst: { address: '198.19.2.2', port: 80 },
    ...over,
  };
}

/** Resolves when `cond()` is true; rejects with `what` after `ms` (the shared {@link waitFor}, synchronous form). */
export async function waitUntil(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  await waitFor(what, () => cond() || undefined, { timeoutMs: ms, intervalMs: 10 });
}
