import type { FlowRouter } from './adapter/router';
import type { LoggerFactory, ServiceToken } from './adapter/service';

/**
 * The token of service `name`: `Symbol.for('sluice.<name>')`, the same symbol
 * in every copy of `@sluice/core` loaded into the process.
 */
export function serviceToken<T>(name: string): ServiceToken<T> {
  return Symbol.for(`sluice.${name}`) as ServiceToken<T>;
}

/** Core's logger factory: `(name) => child logger` with `component: name`. */
export const LOGGER_FACTORY: ServiceToken<LoggerFactory> = serviceToken<LoggerFactory>('LoggerFactory');

/** The router of the running config (rules, or the embedder's replacement). */
export const ROUTER: ServiceToken<FlowRouter> = serviceToken<FlowRouter>('Router');
