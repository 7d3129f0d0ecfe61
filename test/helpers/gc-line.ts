/** Prefix of the stderr line {@link ./gc-on-signal} prints after each collection. */
export const GC_LINE_PREFIX = 'sluice-test-gc ';
