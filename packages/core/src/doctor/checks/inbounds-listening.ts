import { isIP } from 'node:net';
import { canonicalAddress } from '../../config/net';
import type { InboundConfig } from '../../config/types';
import { parseProcNet, type ProcNetSocket } from '../proc-net';
import { fail, ok } from '../result';
import type { DoctorCheck, CheckResult, DoctorContext } from '../types';

const TCP_LISTEN = '0A';

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** Whether a socket bound to `s` receives what is steered to `inbound`'s address and port. */
function covers(s: ProcNetSocket, inbound: InboundConfig): boolean {
  if (s.port !== inbound.port) return false;
  return s.address === canonicalAddress(inbound.listen) || isWildcard(s.address);
}

async function sockets(ctx: DoctorContext, proto: 'tcp' | 'udp', family: 4 | 6): Promise<ProcNetSocket[]> {
  return parseProcNet((await ctx.readFile(`/proc/net/${proto}${family === 6 ? '6' : ''}`)) ?? '');
}

/**
 * Each inbound has its socket: a TCP listener and a bound UDP socket on its
 * address and port (in this network namespace). If nothing listens on the
 * tproxy target, the tproxy rule does not match and traffic is forwarded as
 * if Sluice were not there.
 */
export const inboundsListeningCheck: DoctorCheck = {
  id: 'inbounds-listening',
  title: 'each inbound has a listening socket (TCP LISTEN, UDP bound)',
  async run(ctx): Promise<CheckResult> {
    const missing: string[] = [];
    for (const inbound of ctx.config.inbounds) {
      const family = isIP(inbound.listen) === 6 ? 6 : 4;
      for (const proto of inbound.network) {
        const found = (await sockets(ctx, proto, family)).some((s) => (proto === 'udp' || s.state === TCP_LISTEN) && covers(s, inbound));
        if (!found) missing.push(`${inbound.tag} ${proto} ${family === 6 ? `[${inbound.listen}]` : inbound.listen}:${inbound.port}`);
      }
    }
    if (missing.length === 0) return ok(`${ctx.config.inbounds.map((i) => i.tag).join(', ')} listening`);
    return fail(
      `nothing listens on ${missing.join(', ')}: not running? Captured traffic is forwarded as if Sluice were not there`,
      `start it: sluice run -c ${ctx.configPath}`,
    );
  },
};
