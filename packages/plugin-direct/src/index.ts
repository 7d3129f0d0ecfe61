import { OUTBOUND_FACTORY, type OutboundFactory, type SluicePlugin } from '@sluice/core';
import { native } from '@sluice/native';
import type { DependencyContainer } from 'tsyringe';
import { parseDirectOptions, type DirectOptions } from './options';
import { DirectOutbound } from './outbound';

export { DirectOutbound, UdpSocketChannel } from './outbound';
export { parseDirectOptions, type DirectOptions } from './options';

/** Outbound type `direct`. The native module is loaded only when an outbound needs it. */
export const directFactory: OutboundFactory<DirectOptions> = {
  type: 'direct',
  parse: parseDirectOptions,
  create: (options) => new DirectOutbound(options, native),
};

/** Registers the `direct` outbound type. */
export function register(container: DependencyContainer): void {
  container.register(OUTBOUND_FACTORY, { useValue: directFactory });
}

/** The plugin object core loads by package name. */
export const plugin: SluicePlugin = { name: '@sluice/plugin-direct', register };
