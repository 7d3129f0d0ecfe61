import { definePlugin, defineOutbound } from '@sluice/core';
import { HttpConnectOutbound } from './outbound';
import { httpConnectOptions } from './options';

/** Outbound type `http-connect`: TCP through an HTTP CONNECT proxy, optionally reached through another outbound (`via`). */
export const httpConnect = defineOutbound({
  type: 'http-connect',
  options: httpConnectOptions,
  dependencies: (o) => (o.via !== undefined ? [o.via] : []),
  create: (o, deps) => new HttpConnectOutbound(deps.tag, o, o.via !== undefined ? deps.resolve(o.via) : undefined),
});

/** The plugin object core loads by package name or path. */
export const plugin = definePlugin({ name: 'sluice-plugin-http-connect', sluice: '^0.1.0', outbounds: [httpConnect] });

export { HttpConnectOutbound } from './outbound';
export { httpConnectOptions, type HttpConnectOptions } from './options';
export { connectRequest, exchange, MAX_RESPONSE_HEAD, type ProxyCredentials } from './connect';
