import { strict as assert } from 'node:assert';
import { parseConfig, renderFirewall } from '@sluice/core';

function config(dns: Record<string, unknown> | undefined, firewall: Record<string, unknown> = {}): ReturnType<typeof parseConfig> {
  const doc = {
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '0.0.0.0', port: 15001 }, { tag: 'in6', type: 'tproxy', listen: '::', port: 15001 }],
    outbounds: [{ tag: 'direct', type: 'direct' }],
    firewall,
    dns,
  };
  return parseConfig(JSON.stringify(doc), { baseDir: '/', format: 'json' });
}

describe('sluice rules: dns hijack', () => {
  it('redirects clients\' UDP and TCP port 53, IPv4 and IPv6, to dns.listen and keeps port 53 out of the TPROXY capture', () => {
    const { nft } = renderFirewall(config({ listen: ['0.0.0.0:1053', '[fd00::1]:1053'], upstreams: ['udp://192.0.2.53'], hijack: true }, { interfaces: ['lan0'] }));
    const chain = nft.slice(nft.indexOf('chain dns_hijack'));
    assert.match(chain, /type nat hook prerouting priority dstnat; policy accept;/);
    assert.match(chain, /iif lo return/);
    assert.match(chain, /iifname != \{ "lan0" \} return/);
    assert.match(chain, /meta nfproto ipv4 meta l4proto \{ tcp, udp \} th dport 53 redirect to :1053/);
    assert.match(chain, /meta nfproto ipv6 meta l4proto \{ tcp, udp \} th dport 53 dnat ip6 to \[fd00::1\]:1053/);
    const prerouting = nft.slice(nft.indexOf('chain prerouting'), nft.indexOf('chain dns_hijack'));
    assert.ok(prerouting.indexOf('th dport 53 return') < prerouting.indexOf('tproxy ip to'), 'port 53 is exempted before steering');
  });

  it('renders nothing for DNS without hijack', () => {
    const { nft } = renderFirewall(config({ listen: ['0.0.0.0:1053'], upstreams: ['udp://192.0.2.53'] }));
    assert.ok(!nft.includes('dns_hijack') && !nft.includes('dport 53'));
  });
});
