import { defineOutbound, definePlugin } from '@sluice/core';
import { SocksOutbound } from './outbound';
import { socksOptions } from './options';

/** The `socks` outbound type: SOCKS5 (auth, UDP), SOCKS4 and 4a, chained with `via`. */
export const socksOutbound = defineOutbound({
  type: 'socks',
  options: socksOptions,
  dependencies: (options) => (options.via !== undefined ? [options.via] : []),
  egress: (options) => ({ mark: options.via !== undefined ? 'via' : options.mark, networks: options.udp ? ['tcp', 'udp'] : ['tcp'] }),
  create: (options, deps) => new SocksOutbound(options, deps),
});

/** The plugin object core loads by package name. */
export const plugin = definePlugin({ name: '@sluice/plugin-socks', sluice: '^0.1.0', outbounds: [socksOutbound] });

export { SocksOutbound } from './outbound';
export { socksOptions, type SocksOptions, type SocksVersion } from './options';
export { SocksUdpChannel, type SocksUdpStats } from './udp-channel';
export { decodeUdpFrame, encodeUdpFrame, type DecodedFrame, type DropReason } from './udp-frame';
export { bytesToIp, ipToBytes } from './ip';
export { handshake, type HandshakeRequest, type HandshakeLimits } from './handshake';
export { checkAuthReply, parseMethodChoice, parseSocks4Reply, parseSocks5Reply, type ReplyProgress } from './reply';
