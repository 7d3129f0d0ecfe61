import { Duplex } from 'node:stream';

/**
 * A Duplex standing in for a socket to a server: `bytes` are what the server
 * sends, already buffered in `chunks` pieces (so reads cross chunk
 * boundaries), then a FIN when `end`. What the client writes is dropped.
 */
export function serverStream(bytes: Buffer, cuts: readonly number[], end: boolean): Duplex {
  const stream = new Duplex({
    read() {},
    write(_chunk, _enc, cb) {
      cb();
    },
  });
  let at = 0;
  for (const cut of [...cuts].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)) {
    if (cut > at) stream.push(bytes.subarray(at, cut));
    at = cut;
  }
  if (at < bytes.length) stream.push(bytes.subarray(at));
  if (end) stream.push(null);
  return stream;
}

/** Everything still buffered in a paused stream's readable side. */
export function buffered(stream: Duplex): Buffer {
  const parts: Buffer[] = [];
  for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null) parts.push(c);
  return Buffer.concat(parts);
}
