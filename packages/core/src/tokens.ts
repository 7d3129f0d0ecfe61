import type { InjectionToken } from 'tsyringe';
import type { OutboundFactory } from './adapter/outbound';

/**
 * Multi-registration token for outbound types. `Symbol.for` so that a plugin
 * that resolved its own copy of `@sluice/core` still meets the same token.
 */
export const OUTBOUND_FACTORY: InjectionToken<OutboundFactory> = Symbol.for('sluice.OutboundFactory');
