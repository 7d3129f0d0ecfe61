import { withScratchNamespace } from '../scratch-netns';
import { fail, ok } from '../result';
import type { DoctorCheck } from '../types';

/** A table that uses both expressions Sluice's ruleset needs; only ever loaded with `nft -c` in a throwaway namespace. */
export const EXPRESSIONS_PROBE = `table inet sluice_doctor {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 accept
		meta nfproto ipv4 meta l4proto tcp tproxy ip to 127.0.0.1:1 accept
		meta nfproto ipv6 meta l4proto tcp tproxy ip6 to [::1]:1 accept
	}
}
`;

/** The kernel has nft's `tproxy` and `socket` expressions (nf_tproxy, nft_socket). */
export const nftExpressionsCheck: DoctorCheck = {
  id: 'nft-expressions',
  title: 'the kernel has the nftables tproxy and socket expressions',
  async run(ctx) {
    const version = await ctx.run(['nft', '--version']);
    if (version.code === 127) return fail('nft is not installed', 'apt-get install nftables');
    const r = await withScratchNamespace(ctx, '', (ns) => ns.exec(['nft', '-c', '-f', '-'], EXPRESSIONS_PROBE));
    if (r.code === 0) return ok('the kernel accepts nft tproxy and socket expressions');
    return fail(
      `the kernel refused a ruleset using tproxy and socket: ${firstLine(r.stderr)}`,
      'modprobe nft_tproxy nft_socket   (or use a kernel built with CONFIG_NFT_TPROXY and CONFIG_NFT_SOCKET)',
    );
  },
};

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';
