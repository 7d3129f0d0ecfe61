import * as net from 'node:net';
import type { Outbound } from '../adapter/outbound';
import { logFlowClosed } from '../flow/access-log';
import { describeError } from '../errors';
import { relayTcp, type TcpRelayResult } from '../relay/stream-relay';
import { unmapAddress } from '../util/endpoint';
import { findAccessLine } from './access-line';
import { captureLogger } from './capture-logger';
import { dialWithTimeout, newFlow, type RunOptions, type RunRecord } from './harness-flow';
import { startTcpPeer, type TcpPeerHandler } from './peers';

/** Options of {@link runTcp}. */
export interface RunTcpOptions extends RunOptions {
  /** Handler of the default peer (ignored with `dst`); default: echo. */
  readonly server?: TcpPeerHandler;
  /** Like `timeouts.tcp_idle_ms`; default 0 (none). */
  readonly idleMs?: number;
}

/** What {@link runTcp} saw. */
export interface TcpRunResult extends RunRecord {
  /** Every byte the client received until the connection closed. */
  readonly reply: Buffer;
}

/** Two ends of a real loopback TCP connection: the application's and the inbound's. */
async function loopbackConnection(): Promise<{ client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
  client.on('error', () => {});
  const socket = await accepted;
  server.close();
  socket.on('error', () => {});
  return { client, accepted: socket };
}

/**
 * Runs one TCP flow through `outbound` as core does, without root or an
 * inbound: a real loopback connection plays the accepted client; the
 * outbound dials `dst` (by default a local echo server) through its
 * `dialTcp` with core's connect timeout; core's stream relay joins the two.
 * The client writes `bytes`, half-closes, and collects the reply until the
 * connection closes. Returns the reply and the `flow closed` line core's
 * access log writes (a failed dial gives the line with its `error`).
 */
export async function runTcp(outbound: Outbound, bytes: Uint8Array | string, options: RunTcpOptions = {}): Promise<TcpRunResult> {
  const captured = options.logger ?? captureLogger();
  const peer = options.dst ? undefined : await startTcpPeer(options.server);
  try {
    const dst = options.dst ?? peer!.address;
    const { client, accepted } = await loopbackConnection();
    const ctx = newFlow('tcp', { address: unmapAddress(accepted.remoteAddress ?? ''), port: accepted.remotePort ?? 0 }, dst, options, captured.logger);
    const startedAt = Date.now();
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    let result: TcpRelayResult;
    try {
      const upstream = await dialWithTimeout(ctx, outbound.dialTcp(dst, ctx), options.connectTimeoutMs ?? 10_000, (late) => late.destroy());
      const relay = relayTcp(accepted, upstream, { idleMs: options.idleMs ?? 0 });
      client.end(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
      const timer = setTimeout(() => relay.abort('harness timeout'), options.timeoutMs ?? 10_000);
      result = await relay.result;
      clearTimeout(timer);
    } catch (err) {
      // As core does: the client sees a reset, as it would without a proxy.
      accepted.resetAndDestroy();
      result = { up: accepted.bytesRead, down: accepted.bytesWritten, error: describeError(err) };
    }
    logFlowClosed(captured.logger, ctx.flow, { rule: options.rule ?? 'test', outbound: outbound.tag, startedAt, ...result });
    await clientClosed;
    const line = findAccessLine(captured.lines, ctx.flow.id);
    if (!line) throw new Error(`runTcp: no access line for flow ${ctx.flow.id} (is the logger's level above info?)`);
    return { flow: ctx.flow, reply: Buffer.concat(chunks), line, lines: captured.lines };
  } finally {
    await peer?.close();
  }
}
