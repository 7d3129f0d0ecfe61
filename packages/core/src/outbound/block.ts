import type { Duplex } from 'node:stream';
import type { Outbound, PacketChannel } from '../adapter/outbound';
import type { OptionsSchema, SchemaIssue } from '../adapter/plugin';
import { ErrorCode, SluiceError } from '../errors';
import { defineOutbound } from './define';

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

/** `block` takes no options; core has no zod, so its schema is written out. */
const noOptions: OptionsSchema<Record<string, never>> = {
  jsonSchema: { type: 'object', properties: {}, additionalProperties: false },
  safeParse(input) {
    const issues: SchemaIssue[] = Object.keys(input as object).map((k) => ({ path: [k], message: `unknown key "${k}" for type block` }));
    return issues.length > 0 ? { success: false, error: { issues } } : { success: true, data: {} };
  },
};

/** Outbound type `block`, built into core. */
export const blockOutbound = defineOutbound({
  type: 'block',
  options: noOptions,
  create: (_options, deps) => new BlockOutbound(deps.tag),
});
