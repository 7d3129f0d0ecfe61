import type { Endpoint } from '../adapter/flow';
import type { Outbound, PacketChannel } from '../adapter/outbound';
import { ErrorCode, SluiceError } from '../errors';
import { logFlowClosed } from '../flow/access-log';
import { describeError } from '../errors';
import { findAccessLine } from './access-line';
import { captureLogger } from './capture-logger';
import { dialWithTimeout, newFlow, type RunOptions, type RunRecord } from './harness-flow';
import { startUdpPeer, type UdpPeerHandler } from './peers';

/** Options of {@link runUdp}. */
export interface RunUdpOptions extends RunOptions {
  /** Handler of the default peer (ignored with `dst`); default: echo. */
  readonly server?: UdpPeerHandler;
  /** Stop once this many replies came (or at `timeoutMs`); without it, stop after `settleMs` without a reply. */
  readonly replies?: number;
  /** Quiet period that ends the run when `replies` is not given; default 200 ms. */
  readonly settleMs?: number;
  /** The client endpoint the flow claims (there is no client socket); default 127.0.0.1:50000. */
  readonly src?: Endpoint;
}

/** One datagram that came back, with the remote it came from. */
export interface UdpReply {
  readonly data: Buffer;
  readonly from: Endpoint;
}

/** What {@link runUdp} saw. */
export interface UdpRunResult extends RunRecord {
  readonly replies: readonly UdpReply[];
}

/**
 * Runs one UDP session through `outbound` as core does: opens its `dialUdp`
 * channel with core's connect timeout, sends `datagrams` towards `dst` (by
 * default a local echo server), and collects replies until `replies` came or
 * for a settle period. The session then ends as at shutdown (no error); a
 * failed dial, or a channel that closes by itself, puts the reason in the
 * access line's `error` as core does.
 */
export async function runUdp(outbound: Outbound, datagrams: readonly (Uint8Array | string)[], options: RunUdpOptions = {}): Promise<UdpRunResult> {
  const captured = options.logger ?? captureLogger();
  const peer = options.dst ? undefined : await startUdpPeer(options.server);
  try {
    const dst = options.dst ?? peer!.address;
    const ctx = newFlow('udp', options.src ?? { address: '127.0.0.1', port: 50000 }, dst, options, captured.logger);
    const startedAt = Date.now();
    const replies: UdpReply[] = [];
    let up = 0;
    let down = 0;
    let error: string | undefined;
    let channel: PacketChannel | undefined;
    try {
      if (!outbound.dialUdp) throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${outbound.tag}" does not carry udp`);
      channel = await dialWithTimeout(ctx, outbound.dialUdp(ctx), options.connectTimeoutMs ?? 10_000, (late) => late.close());
      const open = channel;
      await new Promise<void>((resolve) => {
        let settle: NodeJS.Timeout | undefined;
        const quiet = (): void => {
          if (options.replies !== undefined) return;
          clearTimeout(settle);
          settle = setTimeout(finish, options.settleMs ?? 200);
        };
        const deadline = setTimeout(() => finish(), options.timeoutMs ?? 10_000);
        function finish(): void {
          clearTimeout(settle);
          clearTimeout(deadline);
          resolve();
        }
        open.setReceiver({
          onPacket: (data, from) => {
            down += data.length;
            replies.push({ data, from });
            if (options.replies !== undefined && replies.length >= options.replies) finish();
            else quiet();
          },
          onClose: (err) => {
            error = err ? describeError(err) : 'upstream closed';
            finish();
          },
        });
        for (const d of datagrams) {
          const data = typeof d === 'string' ? Buffer.from(d) : Buffer.from(d);
          up += data.length;
          open.send(data, dst);
        }
        quiet();
      });
    } catch (err) {
      error = describeError(err);
    } finally {
      channel?.close();
    }
    logFlowClosed(captured.logger, ctx.flow, { rule: options.rule ?? 'test', outbound: outbound.tag, up, down, startedAt, error });
    const line = findAccessLine(captured.lines, ctx.flow.id);
    if (!line) throw new Error(`runUdp: no access line for flow ${ctx.flow.id} (is the logger's level above info?)`);
    return { flow: ctx.flow, replies, line, lines: captured.lines };
  } finally {
    await peer?.close();
  }
}
