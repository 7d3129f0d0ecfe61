import type { OutboundDeps } from '../../adapter/outbound';
import type { OutboundDefinition } from '../../adapter/plugin';
import { defineOutbound } from '../define';
import { FallbackGroup } from './fallback';
import type { GroupOutbound, GroupParts } from './group-outbound';
import { LoadBalanceGroup } from './load-balance';
import { groupOptionsSchema, type GroupOptions, type GroupType } from './options';
import { SelectorGroup } from './selector';
import { UrlTestGroup } from './url-test';

/** Builds the group of `type` from its parsed options, its members resolved through `deps`. */
export function createGroup(type: GroupType, o: GroupOptions, deps: OutboundDeps): GroupOutbound {
  const members = o.outbounds.map((tag) => deps.resolve(tag));
  const parts: GroupParts = { tag: deps.tag, members, check: o.check, logger: deps.logger };
  switch (type) {
    case 'selector':
      return new SelectorGroup(deps.tag, members, parts, o.default);
    case 'fallback':
      return new FallbackGroup(deps.tag, members, parts);
    case 'url-test':
      return new UrlTestGroup(deps.tag, members, parts, o.tolerance_ms);
    case 'load-balance':
      return new LoadBalanceGroup(deps.tag, members, parts, o.strategy, o.sticky_ttl_ms);
  }
}

function groupDefinition(type: GroupType): OutboundDefinition<GroupOptions> {
  return defineOutbound({
    type,
    options: groupOptionsSchema(type),
    // Members are created first; a group inside itself (directly or not) is a cycle, reported by the registry.
    dependencies: (o) => o.outbounds,
    create: (o, deps) => createGroup(type, o, deps),
  });
}

/**
 * The group outbound types, built into core: `selector`, `fallback`,
 * `url-test`, `load-balance`. They declare no egress: they open no socket
 * of their own, and each member is checked as an outbound of its own.
 */
export const groupOutbounds: readonly OutboundDefinition<GroupOptions>[] = [
  groupDefinition('selector'),
  groupDefinition('fallback'),
  groupDefinition('url-test'),
  groupDefinition('load-balance'),
];
