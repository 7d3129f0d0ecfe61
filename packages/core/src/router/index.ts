/** Rule-based routing: compiled matchers, first match wins. */
export { Router } from './router';
export { Rule, compileRule } from './rule';
export type { Matcher } from './matcher';
export { CidrSet } from './cidr-set';
export { PortSet } from './port-set';
export { NetworkMatcher } from './matchers/network';
export { InboundMatcher } from './matchers/inbound';
export { SrcCidrMatcher } from './matchers/src-cidr';
export { DstCidrMatcher } from './matchers/dst-cidr';
export { SrcPortMatcher } from './matchers/src-port';
export { DstPortMatcher } from './matchers/dst-port';
export type { FlowRouter, RouteDecision, RoutingHook } from '../adapter/router';
