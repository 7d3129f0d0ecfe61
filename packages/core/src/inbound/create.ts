import type { NativeBinding } from '@sluice/native';
import type { Logger } from 'pino';
import type { FlowSink, Inbound } from '../adapter/inbound';
import type { InboundConfig } from '../config/types';
import { RedirectInbound } from './redirect';
import { TproxyInbound } from './tproxy';

/** The inbound class for a config entry's `type`, with a logger named after it (`inbound/redirect[tag]`). */
export function createInbound(config: InboundConfig, native: NativeBinding, sink: FlowSink, logger: Logger): Inbound {
  const child = logger.child({ component: `inbound/${config.type}[${config.tag}]` });
  return config.type === 'redirect' ? new RedirectInbound(config, native, sink, child) : new TproxyInbound(config, native, sink, child);
}
