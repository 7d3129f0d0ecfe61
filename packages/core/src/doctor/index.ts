/**
 * `sluice doctor`: checks the running system against a config. Each check is
 * a {@link DoctorCheck} in its own file under `checks/`; {@link runChecks} runs them
 * against a {@link DoctorContext} (the real machine: {@link systemContext}).
 */
export * from './types';
export { DOCTOR_CHECKS } from './checks';
export * from './checks';
export { probeCheck, probeInterfaceName } from './probe/probe-check';
export { probeVerdict, PROBE_NET } from './probe/verdict';
export type { ProbeOutcome, TcpOutcome, UdpOutcome } from './probe/scripts';
export { runChecks, exitCodeOf, type CheckOutcome } from './runner';
export { formatOutcome, formatSummary } from './report';
export { systemContext } from './system-context';
export { withScratchNamespace, ScratchNamespaceError, type ScratchNamespace } from './scratch-netns';
export { parseProcNet, type ProcNetSocket } from './proc-net';
export { effectiveCapabilities } from './checks/cap-net-admin';
export { parseOpenFileLimits, TCP_FLOW_FLOOR, BASE_FDS } from './checks/open-files';
export { iptablesCaptureRules, earlierPreroutingChains } from './checks/foreign-rules';
export { unmarkedOutbounds } from './checks/outbound-marks';
export { firstDifference } from './checks/nft-table';
export { sourceNatRules } from './checks/transparent-return';
export { expressionsFor } from './checks/nft-expressions';
export { policyRoutingFamilies } from './families';
