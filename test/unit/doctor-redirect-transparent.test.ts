import { strict as assert } from 'node:assert';
import { expressionsFor, nftExpressionsCheck, parseConfig, policyRoutingCheck, sourceNatRules, transparentReturnCheck } from '@sluice/core';
import { fakeContext } from './doctor-fake-context';

const REDIRECT_ONLY = `
inbounds:
  - { tag: r4, type: redirect, listen: 0.0.0.0, port: 15011 }
outbounds: [{ tag: direct, type: direct, mark: 0x2 }]
`;

const TRANSPARENT = `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: tcp }
outbounds:
  - { tag: as-client, type: direct, mark: 0x2, transparent: true }
  - { tag: direct, type: direct, mark: 0x2 }
route: { final: as-client }
`;

const LIVE_TABLE = `table inet sluice {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		tcp flags != syn / syn,ack socket transparent 1 meta mark set 0x00000001 accept
	}
}
`;

const ROUTING = {
  'ip -4 rule list fwmark 0x1 lookup 100': { stdout: '32765:	from all fwmark 0x1 lookup 100 proto 250\n' },
  'ip -4 route show table 100': { stdout: 'local default dev lo scope host proto 250\n' },
};

describe('doctor: redirect inbounds and transparent outbounds (seeded outputs)', () => {
  it('nft-expressions: a redirect-only config probes nat redirect and no tproxy', async () => {
    const e = expressionsFor(parseConfig(REDIRECT_ONLY, { baseDir: '/' }));
    assert.deepEqual(e.names, ['nat redirect']);
    assert.match(e.probe, /redirect to :1/);
    assert.doesNotMatch(e.probe, /tproxy|socket/);
    assert.match(e.fix, /^modprobe nft_nat nft_redir /);
    const ctx = fakeContext({ config: REDIRECT_ONLY, commands: { 'nft --version': {}, 'nft -c -f -': {} } });
    const r = await nftExpressionsCheck.run(ctx);
    assert.deepEqual([r.status, r.message], ['ok', 'the kernel accepts nft nat redirect expressions']);
  });

  it('policy-routing: not needed for a redirect-only config (no ip command run)', async () => {
    const ctx = fakeContext({ config: REDIRECT_ONLY });
    const r = await policyRoutingCheck.run(ctx);
    assert.deepEqual([r.status, r.message], ['ok', 'not needed: redirect inbounds only, and no transparent outbound']);
    assert.deepEqual(ctx.calls, []);
  });

  it('transparent-return: OK without a transparent outbound, running nothing', async () => {
    const ctx = fakeContext({ config: REDIRECT_ONLY });
    assert.equal((await transparentReturnCheck.run(ctx)).status, 'ok');
    assert.deepEqual(ctx.calls, []);
  });

  it('transparent-return: FAIL without the socket rule, FAIL without policy routing, OK with both', async () => {
    const noRule = await transparentReturnCheck.run(fakeContext({ config: TRANSPARENT, commands: { 'nft list table inet sluice': { stdout: 'table inet sluice {\n}\n' }, ...ROUTING } }));
    assert.equal(noRule.status, 'fail');
    assert.match(noRule.message, /no `socket transparent 1 … meta mark set 0x1` rule/);
    assert.equal(noRule.fix, 'sluice rules -c /etc/sluice/config.yaml --apply');
    assert.match(noRule.details?.join('\n') ?? '', /must route the clients' addresses back through this host/);

    const noRouting = await transparentReturnCheck.run(fakeContext({ config: TRANSPARENT, commands: { 'nft list table inet sluice': { stdout: LIVE_TABLE } } }));
    assert.equal(noRouting.status, 'fail');
    assert.match(noRouting.message, /^replies to as-client are marked but not delivered locally: missing ip -4 rule/);

    const healthy = await transparentReturnCheck.run(fakeContext({ config: TRANSPARENT, commands: { 'nft list table inet sluice': { stdout: LIVE_TABLE }, ...ROUTING } }));
    assert.deepEqual([healthy.status, healthy.message], ['ok', 'replies to client addresses (as-client) are marked 0x1 and delivered to Sluice']);
  });

  it('transparent-return: WARN for source NAT in another table or iptables-legacy, never for Sluice\'s own table', async () => {
    const ruleset = `table inet sluice {\n\tchain x {\n\t\tmasquerade\n\t}\n}\ntable ip nat {\n\tchain post {\n\t\toifname "wan0" masquerade\n\t}\n}\n`;
    assert.deepEqual(sourceNatRules(ruleset, '*nat\n-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1\nCOMMIT\n'), [
      'nft table ip nat: oifname "wan0" masquerade',
      'iptables-legacy: -A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1',
    ]);
    const r = await transparentReturnCheck.run(
      fakeContext({ config: TRANSPARENT, commands: { 'nft list table inet sluice': { stdout: LIVE_TABLE }, ...ROUTING, 'nft list ruleset': { stdout: ruleset } } }),
    );
    assert.equal(r.status, 'warn');
    assert.match(r.message, /source NAT may rewrite the client addresses of as-client/);
  });
});
