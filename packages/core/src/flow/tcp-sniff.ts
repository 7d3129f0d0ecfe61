import type { Socket } from 'node:net';
import type { SniffOutcome } from '../sniff/outcome';
import { StreamSniffer } from '../sniff/stream-sniffer';

/** How an inbound with `sniff: true` sniffs its TCP flows (its config keys). */
export interface SniffSettings {
  /** `sniff_timeout_ms`: how long a client that has sent nothing or an incomplete message may hold routing. */
  readonly timeoutMs: number;
  /** `override_destination`: outbounds are given the sniffed name to dial. */
  readonly overrideDestination: boolean;
}

/** What reading a flow's first bytes gave: the outcome (`found` or `none`) and every byte read, to replay. */
export interface FirstBytes {
  readonly outcome: SniffOutcome;
  readonly bytes: Buffer;
}

/** The sniff settings of the inbounds that sniff, by tag; undefined when none does (no lookup per flow then). */
export function sniffingInbounds(
  inbounds: readonly { readonly tag: string; readonly sniff: boolean; readonly sniff_timeout_ms: number; readonly override_destination: boolean }[],
): ReadonlyMap<string, SniffSettings> | undefined {
  const sniffing = inbounds.filter((i) => i.sniff);
  if (sniffing.length === 0) return undefined;
  return new Map(sniffing.map((i) => [i.tag, { timeoutMs: i.sniff_timeout_ms, overrideDestination: i.override_destination }]));
}

const NONE: SniffOutcome = { kind: 'none' };

/**
 * Reads `socket`'s first bytes until the sniffer has an answer, the client
 * half-closes, or `timeoutMs` passes (a silent client, or an incomplete
 * message), then leaves the socket paused and calls `done` once. Bytes that
 * arrive after the answer stay in the socket's buffer, behind the ones
 * handed to `done`. Returns a function that stops reading without calling
 * `done` (the flow was torn down meanwhile).
 */
export function readFirstBytes(socket: Socket, timeoutMs: number, done: (first: FirstBytes) => void): () => void {
  const sniffer = new StreamSniffer();
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
  };
  const finish = (outcome: SniffOutcome): void => {
    if (stopped) return;
    stop();
    done({ outcome, bytes: sniffer.bytes });
  };
  const onData = (chunk: Buffer): void => {
    const outcome = sniffer.push(chunk);
    if (outcome.kind !== 'more') finish(outcome);
  };
  // A client that half-closes has sent all it will before the reply: route on what there is.
  const onEnd = (): void => finish(NONE);
  const timer = setTimeout(() => finish(NONE), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  // An accepted socket arrives paused (pauseOnConnect), and a 'data' listener does not resume it.
  socket.resume();
  return stop;
}
