/**
 * Preloaded (`node --expose-gc --require …/gc-on-signal.js`) into the Sluice
 * processes of the reliability suites: on SIGUSR2 it runs a full garbage
 * collection and prints one stderr line with the heap and RSS after it.
 *
 * Why: right after a flood, how much of the flood's garbage V8 has collected
 * (and how many heap pages it still holds) varies from run to run by tens of
 * MiB, so an RSS bound taken at an arbitrary moment fails on a noisy machine
 * without a leak. Measured after a full collection, what remains is what
 * Sluice still references: a leak shows, garbage does not.
 *
 * Not a module of the product: only these tests load it.
 */
import { GC_LINE_PREFIX } from './gc-line';

const collect = (globalThis as { gc?: () => void }).gc;
if (typeof collect === 'function') {
  let seq = 0;
  process.on('SIGUSR2', () => {
    // One collection frees the garbage, but V8 gives the pages it no longer needs back only over the next
    // few; collect until the committed heap stops shrinking (bounded).
    let committed = Infinity;
    for (let i = 0; i < 8 && process.memoryUsage().heapTotal < committed; i++) {
      committed = process.memoryUsage().heapTotal;
      collect();
    }
    const m = process.memoryUsage();
    process.stderr.write(`${GC_LINE_PREFIX}${JSON.stringify({ seq: ++seq, heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss })}\n`);
  });
}
