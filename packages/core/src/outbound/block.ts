import type { Duplex } from 'node:stream';
import type { Outbound, OutboundFactory, PacketChannel } from '../adapter/outbound';
import { ConfigError, ErrorCode, SluiceError } from '../errors';

/** The `block` outbound: TCP flows are reset at once, UDP datagrams dropped. */
export class BlockOutbound implements Outbound {
  readonly type = 'block';
  readonly networks = ['tcp', 'udp'] as const;
  constructor(readonly tag: string) {}

  dialTcp(): Promise<Duplex> {
    return Promise.reject(new SluiceError(ErrorCode.BLOCKED, 'blocked'));
  }

  dialUdp(): Promise<PacketChannel> {
    return Promise.resolve(DROP_CHANNEL);
  }

  async close(): Promise<void> {}
}

/** A channel that swallows everything: UDP to a blocked destination just disappears. */
const DROP_CHANNEL: PacketChannel = {
  send() {},
  setReceiver() {},
  close() {},
};

/** Factory for `type: block`, built into core. */
export const blockFactory: OutboundFactory<{ tag: string }> = {
  type: 'block',
  parse(raw, path) {
    const extra = Object.keys(raw).filter((k) => k !== 'tag' && k !== 'type');
    if (extra.length > 0) throw new ConfigError(extra.map((k) => ({ path: `${path}.${k}`, message: `unknown key "${k}" for type block` })));
    return { tag: String(raw.tag) };
  },
  create(options) {
    return new BlockOutbound(options.tag);
  },
};
