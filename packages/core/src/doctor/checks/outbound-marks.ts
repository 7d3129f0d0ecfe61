import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { OutboundEntry, SluiceConfig } from '../../config/types';
import { hex } from '../families';
import { fail, ok } from '../result';
import type { DoctorCheck, CheckResult } from '../types';

/** Outbound types that send nothing anywhere. */
const SILENT_TYPES = new Set(['block']);

/** A `mark:` as written (number, or a hex or decimal string), or undefined. */
function markOf(entry: OutboundEntry): number | undefined {
  const m = entry.raw.mark;
  if (typeof m === 'number') return m;
  if (typeof m === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(m)) return Number(m);
  return undefined;
}

/** A `server:` IP literal inside `firewall.bypass_cidr` (a proxy on loopback, say) is never captured. */
function serverBypassed(entry: OutboundEntry, config: SluiceConfig): boolean {
  const server = entry.raw.server;
  if (typeof server !== 'string' || isIP(server) === 0) return false;
  const addr = ipaddr.process(server);
  return config.firewall.bypass_cidr.some((c) => {
    const range = ipaddr.parseCIDR(c);
    return range[0].kind() === addr.kind() && addr.match(range);
  });
}

/**
 * Outbounds whose connections would be captured by the output chain in local
 * mode: no `mark:` that contains `firewall.bypass_mark`, no `via` that leads
 * to one, and not a type that sends nothing. Their traffic would come back to
 * Sluice as a new flow, forever.
 */
export function unmarkedOutbounds(config: SluiceConfig): OutboundEntry[] {
  const byTag = new Map(config.outbounds.map((o) => [o.tag, o]));
  const bypass = config.firewall.bypass_mark;
  const escapes = (o: OutboundEntry, seen: Set<string>): boolean => {
    if (SILENT_TYPES.has(o.type)) return true;
    const mark = markOf(o);
    if (mark !== undefined && ((mark & bypass) >>> 0) === bypass) return true;
    const via = typeof o.raw.via === 'string' ? byTag.get(o.raw.via) : undefined;
    if (via && !seen.has(via.tag)) return escapes(via, new Set([...seen, o.tag]));
    return serverBypassed(o, config);
  };
  return config.outbounds.filter((o) => !escapes(o, new Set()));
}

/** Local mode: every outbound must carry the bypass mark (itself or through its `via`). */
export const outboundMarksCheck: DoctorCheck = {
  id: 'outbound-marks',
  title: 'in local mode every outbound carries the bypass mark (itself or through its via)',
  async run(ctx): Promise<CheckResult> {
    const { local, bypass_mark } = ctx.config.firewall;
    if (!local) return ok('gateway mode: Sluice\'s own connections are not captured');
    const bad = unmarkedOutbounds(ctx.config);
    if (bad.length === 0) return ok(`every outbound carries bypass mark ${hex(bypass_mark)}`);
    return fail(
      `local mode, but ${bad.map((o) => `${o.path} "${o.tag}"`).join(', ')} ha${bad.length === 1 ? 's' : 've'} no mark containing ${hex(bypass_mark)}: its connections loop back into Sluice`,
      `add "mark: ${hex(bypass_mark)}" to ${bad.length === 1 ? 'it' : 'each'}, or a "via:" through an outbound that has it`,
    );
  },
};
