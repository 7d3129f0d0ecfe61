import * as net from 'node:net';
import type { Duplex } from 'node:stream';

/** How a relayed TCP flow ended. */
export interface TcpRelayResult {
  /** Bytes from the client towards the remote. */
  readonly up: number;
  /** Bytes from the remote back to the client. */
  readonly down: number;
  /** Why it ended when it did not end by both sides closing cleanly. */
  readonly error?: string;
}

/** Options of {@link relayTcp}. */
export interface TcpRelayOptions {
  /** No byte either way for this long closes the flow; 0 disables. */
  readonly idleMs: number;
}

/** A handle on a running relay; `result` settles once both sides are closed. */
export interface TcpRelay {
  readonly result: Promise<TcpRelayResult>;
  /** Ends the flow now (shutdown, drain timeout), recording `reason`. */
  abort(reason: string): void;
  /** Bytes moved so far, counted as `result` counts them (from the client side); polled by the control API. */
  bytes(): { readonly up: number; readonly down: number };
}

function destroyHard(stream: Duplex): void {
  // A reset tells the peer the flow failed instead of pretending a clean end.
  if (stream instanceof net.Socket && !stream.destroyed && typeof stream.resetAndDestroy === 'function' && stream.readyState !== 'opening') {
    stream.resetAndDestroy();
  } else {
    stream.destroy();
  }
}

/**
 * Pipes `client` and `upstream` into each other. Each side's EOF is passed on
 * as a write shutdown of the other (half-close), `pipe()` provides
 * backpressure, and an error or idle timeout on either side tears both down.
 * Both streams must have been created with `allowHalfOpen: true`.
 * `replay`: bytes already read from the client (by a sniffer), written to
 * the upstream before anything else. A client that has already ended is
 * fine: pipe() passes its end on, and the flow ends when the client closes.
 */
export function relayTcp(client: Duplex, upstream: Duplex, opts: TcpRelayOptions, replay?: Buffer): TcpRelay {
  let error: string | undefined;
  let counted: { up: number; down: number } | undefined;
  const clientSocket = client instanceof net.Socket ? client : undefined;
  if (!clientSocket) {
    // Generic streams (tests, embedders) have no byte counters of their own.
    const c = { up: 0, down: 0 };
    client.on('data', (chunk: Buffer) => void (c.up += chunk.length));
    upstream.on('data', (chunk: Buffer) => void (c.down += chunk.length));
    if (replay !== undefined) c.up += replay.length;
    counted = c;
  }

  let idleTimer: NodeJS.Timeout | undefined;
  if (opts.idleMs > 0) {
    if (clientSocket) {
      // Every byte either way is read from or written to the client socket, so its own timer sees all activity.
      clientSocket.setTimeout(opts.idleMs, () => fail('idle timeout'));
    } else {
      idleTimer = setTimeout(() => fail('idle timeout'), opts.idleMs);
      const touch = (): void => void idleTimer?.refresh();
      client.on('data', touch);
      upstream.on('data', touch);
    }
  }

  let closed = 0;
  let settle!: (r: TcpRelayResult) => void;
  const result = new Promise<TcpRelayResult>((resolve) => (settle = resolve));

  function fail(reason: string): void {
    error ??= reason;
    destroyHard(client);
    destroyHard(upstream);
  }

  const onClosed = (): void => {
    if (++closed < 2) return;
    if (idleTimer) clearTimeout(idleTimer);
    const up = clientSocket ? clientSocket.bytesRead : counted!.up;
    const down = clientSocket ? clientSocket.bytesWritten : counted!.down;
    settle(error === undefined ? { up, down } : { up, down, error });
  };

  // Both write sides shut down and both read sides at EOF: the flow is done.
  let finished = 0;
  const onFinishedOrEnded = (): void => {
    if (++finished === 4) {
      client.destroy();
      upstream.destroy();
    }
  };
  for (const [stream, name, other] of [
    [client, 'client', upstream],
    [upstream, 'upstream', client],
  ] as const) {
    stream.once('end', onFinishedOrEnded);
    stream.once('finish', onFinishedOrEnded);
    stream.on('error', (err: NodeJS.ErrnoException) => fail(`${name}: ${err.code ?? err.message}`));
    stream.once('close', () => {
      // A side that vanished without an orderly end takes the other side down too.
      if (!other.destroyed) {
        if (stream.readableEnded && stream.writableFinished) return onClosed();
        other.destroy();
      }
      onClosed();
    });
  }
  if (replay !== undefined && replay.length > 0) upstream.write(replay);
  client.pipe(upstream);
  upstream.pipe(client);

  return {
    result,
    abort(reason) {
      fail(reason);
    },
    bytes: () => (clientSocket ? { up: clientSocket.bytesRead, down: clientSocket.bytesWritten } : { up: counted!.up, down: counted!.down }),
  };
}
