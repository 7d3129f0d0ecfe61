/**
 * Throwaway network-namespace topologies (client ─ gw ─ remote) for the
 * end-to-end tests, `sluice demo` and benchmarks: build one with
 * {@link createTopology}, run servers and clients in it with the probe
 * helpers, run Sluice in the gateway with {@link startSluice}, and remove
 * everything with `destroy()`. Linux only; needs root (CAP_SYS_ADMIN and
 * CAP_NET_ADMIN) to create namespaces.
 *
 * @packageDocumentation
 */
export * from './addresses';
export * from './exec';
export * from './firewall';
export * from './probe';
export * from './sluice';
export * from './topology';
export * from './watch';
