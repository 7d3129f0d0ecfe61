import type { Logger } from 'pino';
import type { DependencyContainer } from 'tsyringe';
import type { FlowRouter } from './adapter/router';
import type { LoggerFactory } from './adapter/service';
import { LOGGER_FACTORY, ROUTER } from './tokens';

/** The services core offers plugins through `OutboundDeps.service`. */
export interface CoreServices {
  /** Root logger; plugins get named children of it. */
  readonly logger: Logger;
  readonly router: FlowRouter;
}

/**
 * Registers core's services under their exported tokens. The runtime calls
 * it before creating outbounds, so `deps.service(ROUTER)` works in `create`.
 */
export function registerCoreServices(container: DependencyContainer, services: CoreServices): void {
  const loggerFactory: LoggerFactory = (name) => services.logger.child({ component: name });
  container.register(LOGGER_FACTORY, { useValue: loggerFactory });
  container.register(ROUTER, { useValue: services.router });
}
