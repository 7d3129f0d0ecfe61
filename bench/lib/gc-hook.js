'use strict';
/**
 * Preloaded into Sluice by bench/memory.js (`node --expose-gc --require
 * bench/lib/gc-hook.js …`): SIGUSR2 runs a full garbage collection, so that an
 * RSS reading does not depend on where the V8 heap happens to be in its GC
 * cycle (the young generation alone moves RSS as it fills and empties).
 * Only the main thread's heap; worker threads (`workers:`) are not collected.
 */
process.on('SIGUSR2', () => {
  if (typeof global.gc !== 'function') return;
  // Twice: the first pass can leave garbage that only the finalizers it ran made unreachable.
  global.gc();
  global.gc();
});
