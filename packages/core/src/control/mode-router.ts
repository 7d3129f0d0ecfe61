import type { FlowMetadata } from '../adapter/flow';
import type { FlowRouter, RouteDecision } from '../adapter/router';
import type { RouteMode } from './clash-types';

/**
 * The Clash `mode` of a running Sluice: `rule` (the rules decide), `global`
 * (every flow to the `GLOBAL` selection) or `direct` (every flow to the
 * `direct` outbound). Shared by every route table a Sluice builds, so a
 * reload keeps the mode.
 */
export class RouteModeSwitch {
  mode: RouteMode = 'rule';
  /** The outbound `global` mode sends flows to. */
  globalOutbound = '';
  /** The outbound `direct` mode sends flows to (the config's first `direct` outbound). */
  directOutbound = '';

  /** Switches mode; refuses a mode with no outbound to send flows to. */
  set(mode: RouteMode, globalOutbound: string): void {
    if (mode === 'global' && globalOutbound === '') throw new Error('mode global: no outbound selected in GLOBAL');
    if (mode === 'direct' && this.directOutbound === '') throw new Error('mode direct: the config has no outbound of type direct');
    this.mode = mode;
    if (globalOutbound !== '') this.globalOutbound = globalOutbound;
  }
}

/** A router that obeys the {@link RouteModeSwitch} before its inner router. */
export class ModeRouter implements FlowRouter {
  private globalDecision: RouteDecision = { rule: 'GLOBAL', outbound: '' };

  constructor(
    private readonly inner: FlowRouter,
    private readonly modes: RouteModeSwitch,
  ) {}

  route(flow: FlowMetadata): RouteDecision {
    const m = this.modes;
    if (m.mode === 'rule') return this.inner.route(flow);
    if (m.mode === 'direct') return { rule: 'DIRECT', outbound: m.directOutbound };
    // One decision object per selection, not per flow.
    if (this.globalDecision.outbound !== m.globalOutbound) this.globalDecision = Object.freeze({ rule: 'GLOBAL', outbound: m.globalOutbound });
    return this.globalDecision;
  }
}
