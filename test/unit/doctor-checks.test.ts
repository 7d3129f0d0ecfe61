import { strict as assert } from 'node:assert';
import {
  brNetfilterCheck,
  capNetAdminCheck,
  foreignRulesCheck,
  forwardPolicyCheck,
  forwardingCheck,
  inboundsListeningCheck,
  nftExpressionsCheck,
  nftTableCheck,
  openFilesCheck,
  outboundMarksCheck,
  policyRoutingCheck,
  rpFilterCheck,
} from '@sluice/core';
import { BASE_CONFIG, fakeContext } from './doctor-fake-context';

const LOCAL_CONFIG = `
inbounds: [{ tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: bare, type: direct }
  - { tag: chained, type: socks, server: 192.0.2.1, port: 1080, via: direct }
  - { tag: loopback-socks, type: socks, server: 127.0.0.1, port: 1080 }
  - { tag: deny, type: block }
route: { final: direct }
firewall: { local: true }
`;

describe('doctor checks (seeded outputs)', () => {
  describe('nft-expressions', () => {
    it('OK when nft -c accepts the probe table in the scratch namespace, which is deleted again', async () => {
      const ctx = fakeContext({ commands: { 'nft --version': { stdout: 'nftables v1.0.6' }, 'nft -c -f -': {} } });
      const r = await nftExpressionsCheck.run(ctx);
      assert.equal(r.status, 'ok');
      assert.deepEqual(
        ctx.calls.filter((c) => c.startsWith('ip netns')).map((c) => c.split(' ').slice(0, 4).join(' ')),
        ['ip netns add sluice-doctor-4242', 'ip netns exec sluice-doctor-4242', 'ip netns del sluice-doctor-4242'],
      );
    });
    it('FAIL with modprobe when the kernel refuses tproxy', async () => {
      const ctx = fakeContext({ commands: { 'nft --version': {}, 'nft -c -f -': { code: 1, stderr: 'Error: Could not process rule: No such file or directory\n' } } });
      const r = await nftExpressionsCheck.run(ctx);
      assert.equal(r.status, 'fail');
      assert.match(r.fix ?? '', /modprobe nft_tproxy nft_socket/);
    });
    it('FAIL with apt-get when nft is missing', async () => {
      const r = await nftExpressionsCheck.run(fakeContext({}));
      assert.deepEqual([r.status, r.fix], ['fail', 'apt-get install nftables']);
    });
  });

  it('cap-net-admin reads bit 12 of CapEff', async () => {
    const status = (caps: string): Record<string, string> => ({ '/proc/self/status': `Name:\tnode\nCapEff:\t${caps}\n` });
    assert.equal((await capNetAdminCheck.run(fakeContext({ files: status('000001ffffffffff') }))).status, 'ok');
    assert.equal((await capNetAdminCheck.run(fakeContext({ files: status('0000000000001000') }))).status, 'ok');
    const r = await capNetAdminCheck.run(fakeContext({ files: status('0000000000000000') }));
    assert.equal(r.status, 'fail');
    assert.match(r.fix ?? '', /AmbientCapabilities=CAP_NET_ADMIN/);
  });

  describe('forwarding', () => {
    const files = (v4: string, v6: string): Record<string, string> => ({ '/proc/sys/net/ipv4/ip_forward': `${v4}\n`, '/proc/sys/net/ipv6/conf/all/forwarding': `${v6}\n` });
    it('FAIL in gateway mode naming each sysctl that is off', async () => {
      const r = await forwardingCheck.run(fakeContext({ files: files('0', '1') }));
      assert.equal(r.status, 'fail');
      assert.equal(r.fix, 'sysctl -w net.ipv4.ip_forward=1   (persist in /etc/sysctl.d/)');
    });
    it('IPv6 forwarding is required only with an IPv6 inbound', async () => {
      const v4only = 'inbounds: [{ tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }]\noutbounds: [{ tag: direct, type: direct, mark: 2 }]\nroute: { final: direct }\n';
      assert.equal((await forwardingCheck.run(fakeContext({ config: v4only, files: files('1', '0') }))).status, 'ok');
      assert.equal((await forwardingCheck.run(fakeContext({ files: files('1', '0') }))).status, 'fail');
    });
    it('OK in local mode whatever the sysctls say', async () => {
      assert.equal((await forwardingCheck.run(fakeContext({ config: LOCAL_CONFIG, files: files('0', '0') }))).status, 'ok');
    });
  });

  describe('rp-filter', () => {
    const dirs = { '/sys/class/net': ['lo', 'eth0', 'eth1', 'wg0'] };
    const rp = (all: number, per: Record<string, number>): Record<string, string> =>
      Object.fromEntries([['all', all], ...Object.entries(per)].map(([k, v]) => [`/proc/sys/net/ipv4/conf/${k}/rp_filter`, `${v}\n`]));
    it('WARN for a strict capture interface, with a per-interface fix', async () => {
      const r = await rpFilterCheck.run(fakeContext({ dirs, files: rp(0, { eth0: 1, eth1: 2, wg0: 0, lo: 1 }) }));
      assert.equal(r.status, 'warn');
      assert.match(r.message, /on eth0:/);
      assert.equal(r.fix, 'sysctl -w net.ipv4.conf.eth0.rp_filter=2   (2 = loose; persist in /etc/sysctl.d/)');
    });
    it('all=1 makes every interface strict (max), and the fix raises all', async () => {
      const r = await rpFilterCheck.run(fakeContext({ dirs, files: rp(1, { eth0: 0, eth1: 0, wg0: 0 }) }));
      assert.equal(r.status, 'warn');
      assert.match(r.message, /eth0, eth1, wg0/);
      assert.match(r.fix ?? '', /^sysctl -w net\.ipv4\.conf\.all\.rp_filter=2 /);
    });
    it('only firewall.interfaces (wildcards expanded) count', async () => {
      const config = BASE_CONFIG + 'firewall: { interfaces: ["wg*"] }\n';
      assert.equal((await rpFilterCheck.run(fakeContext({ config, dirs, files: rp(0, { eth0: 1, wg0: 2 }) }))).status, 'ok');
      assert.equal((await rpFilterCheck.run(fakeContext({ config, dirs, files: rp(0, { eth0: 0, wg0: 1 }) }))).status, 'warn');
    });
  });

  describe('policy-routing', () => {
    const rule = (f: string): string => `ip ${f} rule list fwmark 0x1 lookup 100`;
    const route = (f: string): string => `ip ${f} route show table 100`;
    const healthy = {
      [rule('-4')]: { stdout: '32765:\tfrom all fwmark 0x1 lookup 100 proto 250\n' },
      [rule('-6')]: { stdout: '32765:\tfrom all fwmark 0x1 lookup 100 proto 250\n' },
      [route('-4')]: { stdout: 'local default dev lo proto 250 scope host\n' },
      [route('-6')]: { stdout: 'local default dev lo proto 250 metric 1024 pref medium\n' },
    };
    it('OK with both pairs', async () => {
      assert.equal((await policyRoutingCheck.run(fakeContext({ commands: healthy }))).status, 'ok');
    });
    it('FAIL naming the missing IPv6 rule and the missing table', async () => {
      const commands = { ...healthy, [rule('-6')]: { stdout: '' }, [route('-4')]: { code: 2, stderr: 'Error: ipv4: FIB table does not exist.\n' } };
      const r = await policyRoutingCheck.run(fakeContext({ commands }));
      assert.equal(r.status, 'fail');
      assert.equal(r.message, 'missing ip -4 route: local default dev lo table 100; ip -6 rule: fwmark 0x1 lookup 100');
      assert.equal(r.fix, 'sluice rules -c /etc/sluice/config.yaml --apply');
    });
  });

  describe('nft-table', () => {
    const LISTING = 'table inet sluice {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n\t}\n}\n';
    it('compares the live table with the rendered one as listed by nft in a scratch namespace', async () => {
      const ctx = fakeContext({ commands: { 'nft list table inet sluice': { stdout: LISTING }, 'nft -f -': {} } });
      assert.equal((await nftTableCheck.run(ctx)).status, 'ok');
      assert.ok(ctx.calls.includes('ip netns exec sluice-doctor-4242 nft list table inet sluice'), ctx.calls.join('\n'));
    });
    it('FAIL with the first differing line', async () => {
      const ctx = fakeContext({});
      const r = await nftTableCheck.run({ ...ctx, run: async (argv) => {
        const key = argv.join(' ');
        if (key === 'nft list table inet sluice') return { code: 0, stdout: LISTING.replace('policy accept;\n', 'policy accept;\n\t\tcounter packets 0 bytes 0\n'), stderr: '' };
        // In the scratch namespace: the rendered ruleset as nft lists it.
        if (key.endsWith('nft list table inet sluice')) return { code: 0, stdout: LISTING, stderr: '' };
        return { code: 0, stdout: '', stderr: '' };
      } });
      assert.equal(r.status, 'fail');
      assert.deepEqual(r.details, ['line 4: sluice rules renders: }', 'line 4: the host has:        counter packets 0 bytes 0']);
    });
    it('FAIL "not loaded" when the table is missing', async () => {
      const ctx = fakeContext({ commands: { 'nft list table inet sluice': { code: 1, stderr: 'Error: No such file or directory\nlist table inet sluice\n' } } });
      const r = await nftTableCheck.run(ctx);
      assert.equal(r.status, 'fail');
      assert.match(r.message, /not loaded/);
    });
  });

  describe('foreign-rules', () => {
    it('FAIL for an iptables-legacy TPROXY rule', async () => {
      const save = '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j TPROXY --on-port 12345 --on-ip 127.0.0.1 --tproxy-mark 0x1/0x1\nCOMMIT\n';
      const r = await foreignRulesCheck.run(fakeContext({ commands: { 'iptables-legacy-save': { stdout: save } } }));
      assert.equal(r.status, 'fail');
      assert.match(r.details?.[0] ?? '', /^iptables-legacy-save: -A PREROUTING .* -j TPROXY/);
    });
    it('WARN for a REDIRECT rule and for another table\'s early prerouting drop; Sluice\'s own table and late chains do not count', async () => {
      const save = '*nat\n-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3128\nCOMMIT\n';
      const ruleset = JSON.stringify({
        nftables: [
          { metainfo: { version: '1.0.6' } },
          { chain: { family: 'inet', table: 'sluice', name: 'prerouting', hook: 'prerouting', prio: -150, policy: 'accept' } },
          { rule: { family: 'inet', table: 'sluice', chain: 'prerouting', expr: [{ tproxy: { family: 'ip', port: 15001 } }] } },
          { chain: { family: 'inet', table: 'other', name: 'pre', hook: 'prerouting', prio: -300, policy: 'accept' } },
          { rule: { family: 'inet', table: 'other', chain: 'pre', expr: [{ match: {} }, { drop: null }] } },
          { chain: { family: 'inet', table: 'late', name: 'pre', hook: 'prerouting', prio: 0, policy: 'drop' } },
        ],
      });
      const r = await foreignRulesCheck.run(fakeContext({ commands: { 'iptables-legacy-save': { stdout: save }, 'nft -j list ruleset': { stdout: ruleset } } }));
      assert.equal(r.status, 'warn');
      assert.deepEqual(r.details, [
        'iptables-legacy-save: -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3128',
        'table inet other chain pre (prerouting, priority -300): drop',
      ]);
    });
    it('OK with no iptables and a clean ruleset', async () => {
      assert.equal((await foreignRulesCheck.run(fakeContext({ commands: { 'nft -j list ruleset': { stdout: '{"nftables":[]}' } } }))).status, 'ok');
    });
  });

  describe('forward-policy', () => {
    it('WARN for Docker\'s FORWARD policy drop in gateway mode, from iptables or nft', async () => {
      const ipt = await forwardPolicyCheck.run(fakeContext({ commands: { 'iptables -S FORWARD': { stdout: '-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n' } } }));
      assert.equal(ipt.status, 'warn');
      assert.match(ipt.fix ?? '', /DOCKER-USER/);
      const nft = await forwardPolicyCheck.run(
        fakeContext({ commands: { 'nft list chain ip filter FORWARD': { stdout: 'table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n' } } }),
      );
      assert.equal(nft.status, 'warn');
    });
    it('OK in local mode', async () => {
      assert.equal((await forwardPolicyCheck.run(fakeContext({ config: LOCAL_CONFIG, commands: { 'iptables -S FORWARD': { stdout: '-P FORWARD DROP\n' } } }))).status, 'ok');
    });
  });

  describe('br-netfilter', () => {
    const on = { '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n' };
    it('WARN only when bridged traffic can pass the IP hooks: module, sysctl and a bridge', async () => {
      assert.equal((await brNetfilterCheck.run(fakeContext({}))).status, 'ok');
      assert.equal((await brNetfilterCheck.run(fakeContext({ files: on, dirs: { '/sys/class/net': ['eth0'] } }))).status, 'ok');
      const r = await brNetfilterCheck.run(fakeContext({ files: on, dirs: { '/sys/class/net': ['eth0', 'docker0'], '/sys/class/net/docker0/bridge': ['stp_state'] } }));
      assert.equal(r.status, 'warn');
      assert.match(r.message, /docker0/);
    });
  });

  describe('open-files', () => {
    const limits = (soft: string, hard: string): Record<string, string> => ({
      '/proc/self/limits': `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 ${hard}                files\n`,
    });
    it('WARN when the hard limit leaves too few TCP flows beside udp.max_sessions, with LimitNOFILE', async () => {
      const r = await openFilesCheck.run(fakeContext({ files: limits('1024', '4096') }));
      assert.equal(r.status, 'warn');
      assert.match(r.fix ?? '', /^LimitNOFILE=65536 /);
    });
    it('OK when the hard limit suffices, since sluice run raises the soft limit', async () => {
      const r = await openFilesCheck.run(fakeContext({ files: limits('1024', '1048576') }));
      assert.equal(r.status, 'ok');
      assert.match(r.message, /raises the soft limit/);
    });
    it('fewer UDP sessions need fewer fds', async () => {
      const config = BASE_CONFIG + 'udp: { max_sessions: 100 }\n';
      assert.equal((await openFilesCheck.run(fakeContext({ files: limits('16384', '16384') }))).status, 'warn');
      assert.equal((await openFilesCheck.run(fakeContext({ config, files: limits('16384', '16384') }))).status, 'ok');
    });
  });

  describe('inbounds-listening', () => {
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    // 127.0.0.1:15001 (0x3A99) LISTEN; [::1]:15002 (0x3A9A) LISTEN; UDP bound on both.
    const files = {
      '/proc/net/tcp': `${header}   0: 0100007F:3A99 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n`,
      '/proc/net/tcp6': `${header}   0: 00000000000000000000000001000000:3A9A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n`,
      '/proc/net/udp': `${header}  1: 0100007F:3A99 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2\n`,
      '/proc/net/udp6': `${header}  1: 00000000000000000000000001000000:3A9A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4 2\n`,
    };
    it('OK when every inbound listens', async () => {
      assert.equal((await inboundsListeningCheck.run(fakeContext({ files }))).status, 'ok');
    });
    it('FAIL naming what is missing, with the start command', async () => {
      const r = await inboundsListeningCheck.run(fakeContext({ files: { ...files, '/proc/net/udp6': header } }));
      assert.equal(r.status, 'fail');
      assert.match(r.message, /^nothing listens on in6 udp \[::1\]:15002: not running\?/);
      assert.equal(r.fix, 'start it: sluice run -c /etc/sluice/config.yaml');
    });
    it('a wildcard socket covers the inbound; a connected TCP socket on the port does not', async () => {
      const wildcard = { ...files, '/proc/net/tcp': `${header}   0: 00000000:3A99 00000000:0000 0A 0\n` };
      assert.equal((await inboundsListeningCheck.run(fakeContext({ files: wildcard }))).status, 'ok');
      const established = { ...files, '/proc/net/tcp': `${header}   0: 0100007F:3A99 0100007F:9C40 01 0\n` };
      assert.equal((await inboundsListeningCheck.run(fakeContext({ files: established }))).status, 'fail');
    });
  });

  describe('outbound-marks', () => {
    it('local mode: FAIL for an outbound without the bypass mark; via, block and a bypassed server escape', async () => {
      const r = await outboundMarksCheck.run(fakeContext({ config: LOCAL_CONFIG }));
      assert.equal(r.status, 'fail');
      assert.match(r.message, /^local mode, but outbounds\[1\] "bare" has no mark containing 0x2/);
      assert.doesNotMatch(r.message, /chained|loopback-socks|deny/);
    });
    it('gateway mode: OK', async () => {
      assert.equal((await outboundMarksCheck.run(fakeContext({ config: LOCAL_CONFIG.replace('local: true', 'local: false') }))).status, 'ok');
    });
  });
});
