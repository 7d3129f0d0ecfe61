/**
 * Sluice's network-namespace test bed (private; never published): throwaway
 * namespaces ({@link Namespace}) and client ─ gw ─ remote topologies
 * ({@link createTopology}), probe servers and clients to run in them, Sluice
 * run in the gateway ({@link startSluice}), and the `sluice demo` runner
 * ({@link runDemo}), which core's `sluice demo` command loads at run time.
 * Everything is removed with `destroy()`, or at the latest when the process
 * exits. Linux only; needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
 *
 * @packageDocumentation
 */
export * from './addresses';
export * from './exec';
export * from './firewall';
export * from './local-host';
export * from './namespace';
export * from './probe';
export { isAlive, parsePids, terminateAll } from './processes';
export * from './sluice';
export * from './topology';
export * from './watch';
export { runDemo, type DemoOptions } from './demo/run-demo';
export { demoConfig, type DemoConfigOptions } from './demo/demo-config';
export { formatFlowTable } from './demo/flow-table';
export {
  ensureDemoDependencies,
  findCommand,
  DEMO_TOOLS,
  type DemoTool,
  type DemoDependencyOptions,
  type DependencyCommandRunner,
} from './demo/dependencies';
