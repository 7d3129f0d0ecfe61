/**
 * `@sluice/core/testing`: what a plugin's or an embedder's tests need, without
 * root and without deep imports. A mock native binding (no addon loaded) for
 * `createSluice(config, { native })`, a harness that runs a TCP flow or a UDP
 * session through one outbound and returns what came back with the access
 * line core writes, local peers, and a logger that keeps its lines. Also the
 * control API's log plumbing (LogTap, LogForwarder, PoolLogSource), so its
 * bounds can be tested without a worker pool.
 * See docs/testing-plugins.md.
 * @module
 */
export { createMockBinding, MockUdpTransparentSocket, type MockBinding, type MockBindingOptions, type MockReply, type Arrival, type OriginalDestinationFn } from './mock-binding';
export { runTcp, type RunTcpOptions, type TcpRunResult } from './run-tcp';
export { runUdp, type RunUdpOptions, type UdpRunResult, type UdpReply } from './run-udp';
export type { RunOptions, RunRecord } from './harness-flow';
export { createFlowHarness, type FlowHarness, type FlowHarnessOptions } from './flow-harness';
export { captureLogger, type CapturedLogger, type LogLine } from './capture-logger';
export { findAccessLine, type AccessLogLine } from './access-line';
export { startTcpPeer, startUdpPeer, tcpEcho, udpEcho, type Peer, type TcpPeerHandler, type UdpPeerHandler } from './peers';
export { logFlowClosed, type FlowOutcome } from '../flow/access-log';
export { LogTap, lineLevel, type LogSource, type LogSubscriber } from '../control/log-tap';
export { LogForwarder, type LogBatch, type LogForwarderOptions } from '../control/log-forwarder';
export { PoolLogSource, type PoolLogPort } from '../control/pool-log-source';
