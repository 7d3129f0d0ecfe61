import { isIP } from 'node:net';
import type { SluiceConfig } from '../config/types';
import { hasTransparentOutbound } from '../firewall/render';

/** The address families that have an inbound (and so are steered by `sluice rules`), in order 4, 6. */
export function inboundFamilies(config: SluiceConfig): (4 | 6)[] {
  const set = new Set(config.inbounds.map((i) => (isIP(i.listen) === 6 ? 6 : 4) as 4 | 6));
  return ([4, 6] as const).filter((f) => set.has(f));
}

/** `0x1` for 1: marks are printed the way `sluice rules`, nft and `ip rule` print them. */
export const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * The families that get the fwmark policy routing from `sluice rules`: those
 * with a tproxy inbound, and every inbound's when an outbound is transparent
 * (the replies to the client's address are marked and delivered the same way).
 */
export function policyRoutingFamilies(config: SluiceConfig): (4 | 6)[] {
  const transparent = hasTransparentOutbound(config);
  const set = new Set(config.inbounds.filter((i) => transparent || i.type === 'tproxy').map((i) => (isIP(i.listen) === 6 ? 6 : 4) as 4 | 6));
  return ([4, 6] as const).filter((f) => set.has(f));
}
