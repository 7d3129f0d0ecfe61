import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ErrorCode, SluiceError } from '../errors';

/** How long a connection with no query in flight stays open for the next one (RFC 7766 §6.2.3 suggests seconds). */
export const DEFAULT_IDLE_MS = 10_000;

/** The connection closed (or failed) under a query; `reused` when it had answered others first, so a retry may work. */
class ConnectionLost extends Error {
  constructor(
    message: string,
    readonly reused: boolean,
  ) {
    super(message);
  }
}

interface Waiting {
  resolve(reply: Buffer): void;
  reject(err: Error): void;
}

/**
 * One open stream to the upstream: queries written as they come (two-byte
 * length, message; RFC 7766 pipelining), answers matched by ID in whatever
 * order they arrive. IDs are unique among the queries in flight on it.
 */
class PipelinedConnection {
  private readonly waiting = new Map<number, Waiting>();
  private buffered = Buffer.alloc(0);
  private idleTimer: NodeJS.Timeout | undefined;
  /** Answers received so far: a connection that has answered is one a server may have closed since (idle, limit). */
  private answered = 0;
  closed = false;

  constructor(
    private readonly stream: Duplex,
    private readonly idleMs: number,
    private readonly onClosed: (c: PipelinedConnection) => void,
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err: Error) => this.close(err.message));
    stream.on('end', () => this.close('closed by the upstream'));
    stream.on('close', () => this.close('closed'));
    this.armIdle();
  }

  /** Sends `query` (its ID replaced by one unique on this connection) and resolves with the answer, the query's ID restored. */
  ask(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ConnectionLost('connection closed', true));
    const reused = this.answered > 0;
    let id = randomInt(0, 0x10000);
    while (this.waiting.has(id)) id = (id + 1) & 0xffff;
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    framed.writeUInt16BE(id, 2);
    this.disarmIdle();
    return new Promise<Buffer>((resolve, reject) => {
      const finish = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.waiting.delete(id);
        if (this.waiting.size === 0) this.armIdle();
      };
      // A timed-out query leaves the connection to the others: only this query gives up.
      const onAbort = (): void => {
        finish();
        reject(new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream query timed out'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(id, {
        resolve: (reply) => {
          finish();
          reply.writeUInt16BE(query.readUInt16BE(0), 0);
          resolve(reply);
        },
        reject: (err) => {
          finish();
          reject(err instanceof ConnectionLost ? new ConnectionLost(err.message, reused) : err);
        },
      });
      this.stream.write(framed);
    });
  }

  /** Closes the stream; queries in flight fail with `reason`. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.disarmIdle();
    this.stream.destroy();
    this.onClosed(this);
    const lost = new ConnectionLost(`connection ${reason} before the answer`, false);
    for (const w of [...this.waiting.values()]) w.reject(lost);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 2 && this.buffered.length >= 2 + this.buffered.readUInt16BE(0)) {
      const len = this.buffered.readUInt16BE(0);
      const msg = this.buffered.subarray(2, 2 + len);
      this.buffered = this.buffered.subarray(2 + len);
      // A message shorter than a header, or to no query in flight (one that timed out), is dropped.
      if (msg.length < 12) continue;
      const w = this.waiting.get(msg.readUInt16BE(0));
      if (!w) continue;
      this.answered++;
      w.resolve(Buffer.from(msg));
    }
  }

  private armIdle(): void {
    this.disarmIdle();
    this.idleTimer = setTimeout(() => this.close('idle'), this.idleMs);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/**
 * The connection of a `tcp://` or `tls://` upstream, kept open between
 * queries and shared by all of them (pipelined), closed after `idleMs`
 * without a query in flight. A query that finds its reused connection closed
 * under it (the server's own idle timeout) is sent once more on a new one.
 */
export class StreamPipeline {
  private current: Promise<PipelinedConnection> | undefined;
  /** Connections opened so far (for tests and counters). */
  opened = 0;

  constructor(
    /** Opens a new stream to the upstream (TCP, or TLS over it); `signal` is the first waiting query's. */
    private readonly open: (signal: AbortSignal) => Promise<Duplex>,
    private readonly idleMs = DEFAULT_IDLE_MS,
  ) {}

  /** The answer to `query` (the query's ID is kept on the answer). */
  async exchange(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(signal);
      try {
        return await conn.ask(query, signal);
      } catch (err) {
        if (attempt === 0 && err instanceof ConnectionLost && err.reused) continue;
        throw err instanceof ConnectionLost ? new Error(err.message) : err;
      }
    }
  }

  /** Closes the open connection, if any (queries in flight fail). */
  close(): void {
    const c = this.current;
    this.current = undefined;
    void c?.then((conn) => conn.close('closed by Sluice'), () => {});
  }

  private connection(signal: AbortSignal): Promise<PipelinedConnection> {
    if (this.current) return this.current;
    this.opened++;
    const opening = this.open(signal).then((stream) => {
      const conn = new PipelinedConnection(stream, this.idleMs, () => {
        if (this.current === opening) this.current = undefined;
      });
      return conn;
    });
    this.current = opening;
    // A failed open is not kept: the next query tries again.
    opening.catch(() => {
      if (this.current === opening) this.current = undefined;
    });
    return opening;
  }
}
