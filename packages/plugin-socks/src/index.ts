import { OUTBOUND_FACTORY, type OutboundFactory, type SluicePlugin } from '@sluice/core';
import { SocksOutbound } from './outbound';
import { parseSocksOptions, type SocksOptions } from './options';

/** The `socks` outbound type: SOCKS5 (auth, UDP), SOCKS4 and 4a, chained with `via`. */
export const socksFactory: OutboundFactory<SocksOptions> = {
  type: 'socks',
  parse: parseSocksOptions,
  dependencies: (options) => (options.via !== undefined ? [options.via] : []),
  create: (options, deps) => new SocksOutbound(options, deps),
};

/** tsyringe's container, named through core so this package needs no tsyringe dependency of its own. */
type DependencyContainer = Parameters<SluicePlugin['register']>[0];

/** Adds the `socks` outbound type to a Sluice container. */
export function register(container: DependencyContainer): void {
  container.register(OUTBOUND_FACTORY, { useValue: socksFactory });
}

/** The plugin object core loads by package name. */
export const plugin: SluicePlugin = { name: '@sluice/plugin-socks', register };

export { SocksOutbound } from './outbound';
export { parseSocksOptions, type SocksOptions, type SocksVersion } from './options';
export { SocksUdpChannel, type SocksUdpStats } from './udp-channel';
export { decodeUdpFrame, encodeUdpFrame, type DecodedFrame, type DropReason } from './udp-frame';
export { handshake, type HandshakeRequest, type HandshakeLimits } from './handshake';
