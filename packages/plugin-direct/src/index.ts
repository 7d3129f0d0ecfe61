import { defineOutbound, definePlugin } from '@sluice/core';
import { native } from '@sluice/native';
import { directOptions } from './options';
import { DirectOutbound } from './outbound';

export { DirectOutbound, UdpSocketChannel, type UdpChannelStats } from './outbound';
export { directOptions, type DirectOptions } from './options';

/** Outbound type `direct`. The native module is loaded only when an outbound needs it. */
export const directOutbound = defineOutbound({
  type: 'direct',
  options: directOptions,
  egress: (options) => ({ mark: options.mark, networks: ['tcp', 'udp'] }),
  create: (options, deps) => new DirectOutbound(deps.tag, options, native),
});

/** The plugin object core loads by package name. */
export const plugin = definePlugin({ name: '@sluice/plugin-direct', sluice: '^0.1.0', outbounds: [directOutbound] });
