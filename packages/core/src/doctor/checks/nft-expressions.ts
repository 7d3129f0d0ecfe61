import type { SluiceConfig } from '../../config/types';
import { hasTransparentOutbound } from '../../firewall/render';
import { withScratchNamespace } from '../scratch-netns';
import { fail, ok } from '../result';
import type { DoctorCheck } from '../types';

/** A table that uses both expressions the tproxy ruleset needs; only ever loaded with `nft -c` in a throwaway namespace. */
export const EXPRESSIONS_PROBE = `table inet sluice_doctor {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 accept
		meta nfproto ipv4 meta l4proto tcp tproxy ip to 127.0.0.1:1 accept
		meta nfproto ipv6 meta l4proto tcp tproxy ip6 to [::1]:1 accept
	}
}
`;

/** What a redirect inbound needs: a nat chain in an inet table with `redirect` (nft_nat, nft_redir). */
const REDIRECT_PROBE = `table inet sluice_doctor_nat {
	chain nat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 meta l4proto tcp redirect to :1
		meta nfproto ipv6 meta l4proto tcp redirect to :1
	}
}
`;

/** The expressions a config's ruleset uses, the probe that tries them, and how to get them. */
export function expressionsFor(config: SluiceConfig): { names: string[]; probe: string; fix: string } {
  const tproxy = config.inbounds.some((i) => i.type === 'tproxy') || hasTransparentOutbound(config);
  const redirect = config.inbounds.some((i) => i.type === 'redirect');
  const names = [...(tproxy ? ['tproxy', 'socket'] : []), ...(redirect ? ['nat redirect'] : [])];
  const probe = [tproxy ? EXPRESSIONS_PROBE : '', redirect ? REDIRECT_PROBE : ''].join('');
  const modules = [...(tproxy ? ['nft_tproxy', 'nft_socket'] : []), ...(redirect ? ['nft_nat', 'nft_redir'] : [])];
  const options = [...(tproxy ? ['CONFIG_NFT_TPROXY', 'CONFIG_NFT_SOCKET'] : []), ...(redirect ? ['CONFIG_NFT_NAT', 'CONFIG_NFT_REDIR'] : [])];
  return { names, probe, fix: `modprobe ${modules.join(' ')}   (or use a kernel built with ${options.join(' and ')})` };
}

/**
 * The kernel has the nftables expressions the config's ruleset uses: `tproxy`
 * and `socket` (nf_tproxy, nft_socket) for tproxy inbounds and transparent
 * outbounds, nat `redirect` for redirect inbounds. A redirect-only config
 * needs no tproxy.
 */
export const nftExpressionsCheck: DoctorCheck = {
  id: 'nft-expressions',
  title: 'the kernel has the nftables expressions the ruleset uses (tproxy and socket; nat redirect for redirect inbounds)',
  async run(ctx) {
    const version = await ctx.run(['nft', '--version']);
    if (version.code === 127) return fail('nft is not installed', 'apt-get install nftables');
    const { names, probe, fix } = expressionsFor(ctx.config);
    const list = names.join(' and ');
    const r = await withScratchNamespace(ctx, '', (ns) => ns.exec(['nft', '-c', '-f', '-'], probe));
    if (r.code === 0) return ok(`the kernel accepts nft ${list} expressions`);
    return fail(`the kernel refused a ruleset using ${list}: ${firstLine(r.stderr)}`, fix);
  },
};

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';
