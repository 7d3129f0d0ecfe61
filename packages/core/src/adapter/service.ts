import type { Logger } from 'pino';

/**
 * The key of a service core offers to plugins through
 * `OutboundDeps.service`: a `symbol` made with
 * `Symbol.for('sluice.<Name>')`, so a plugin built against its own copy of
 * `@sluice/core` still meets core's tokens. `T` is the service's type; the
 * `__service` member exists only in the type system.
 */
export type ServiceToken<T> = symbol & { readonly __service?: T };

/** Makes a named child of core's root logger; the name goes into the `component` field. */
export type LoggerFactory = (name: string) => Logger;
