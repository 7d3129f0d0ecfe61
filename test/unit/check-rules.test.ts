import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSluice, isConfigError, parseConfig, validateOutbounds } from '@sluice/core';
import { captureLogger, createMockBinding } from '@sluice/core/testing';
import { runCli } from '../helpers/cli';

/** A config with `inbounds`, `outbounds`, and the rest (route, firewall…) as YAML lines. */
const config = (inbounds: string[], outbounds: string[], rest = 'firewall: { interfaces: [lan0] }'): string =>
  `inbounds:\n${inbounds.map((i) => `  - ${i}\n`).join('')}outbounds:\n${outbounds.map((o) => `  - ${o}\n`).join('')}${rest}\n`;

const inbound = (tag: string, listen: string, port: number, extra = ''): string => `{ tag: ${tag}, type: tproxy, listen: "${listen}", port: ${port}${extra} }`;
const DIRECT = '{ tag: out, type: direct, mark: 0x2 }';

describe('sluice check: configs that would fail or misbehave at run', () => {
  let dir: string;
  let n = 0;
  const check = (text: string): ReturnType<typeof runCli> => {
    const path = join(dir, `c${n++}.yaml`);
    writeFileSync(path, text);
    return runCli('check', '-c', path);
  };
  const errorsOf = async (text: string): Promise<string[]> => {
    const r = await check(text);
    assert.equal(r.code, 1, `accepted:\n${text}\n${r.stderr}`);
    return r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('warning: '));
  };
  const warningsOf = async (text: string): Promise<string[]> => {
    const r = await check(text);
    assert.equal(r.code, 0, r.stderr);
    return r.stderr.trimEnd().split('\n').filter((l) => l !== '');
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-check-rules-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('overlapping TCP listeners (EADDRINUSE at start)', () => {
    it('refuses 0.0.0.0 and 127.0.0.1 on one port', async () => {
      assert.deepEqual(await errorsOf(config([inbound('a', '0.0.0.0', 15001), inbound('b', '127.0.0.1', 15001)], [DIRECT])), [
        'inbounds[1].listen: tcp 127.0.0.1 port 15001 overlaps inbounds[0] (0.0.0.0 port 15001): the kernel refuses the second listener (EADDRINUSE); keep only the wildcard one, or set reuse_port: true on both',
      ]);
    });

    it('refuses :: and ::1, in either order and any spelling', async () => {
      const e = await errorsOf(config([inbound('a', '::1', 15001), inbound('b', '::0', 15001)], [DIRECT]));
      assert.equal(e.length, 1);
      assert.match(e[0]!, /^inbounds\[1\]\.listen: tcp ::0 port 15001 overlaps inbounds\[0\] \(::1 port 15001\)/);
    });

    it('reports one spelling of an address twice as the same socket', async () => {
      assert.deepEqual(await errorsOf(config([inbound('a', '::', 15001), inbound('b', '0:0:0:0:0:0:0:0', 15001)], [DIRECT])), [
        'inbounds[1].port: tcp 0:0:0:0:0:0:0:0:15001 is already used by inbounds[0]',
        'inbounds[1].port: udp 0:0:0:0:0:0:0:0:15001 is already used by inbounds[0]',
      ]);
    });

    for (const [name, inbounds, rest] of [
      ['IPv6 listeners are V6ONLY: :: and 0.0.0.0', [inbound('a', '::', 15001), inbound('b', '0.0.0.0', 15001)], ''],
      [':: and 127.0.0.1', [inbound('a', '::', 15001), inbound('b', '127.0.0.1', 15001)], ''],
      ['different ports', [inbound('a', '0.0.0.0', 15001), inbound('b', '127.0.0.1', 15002)], ''],
      ['UDP only (SO_REUSEADDR: the kernel binds both)', [inbound('a', '0.0.0.0', 15001, ', network: udp'), inbound('b', '127.0.0.1', 15001, ', network: udp')], ''],
      ['both with reuse_port', [inbound('a', '0.0.0.0', 15001, ', reuse_port: true'), inbound('b', '127.0.0.1', 15001, ', reuse_port: true')], ''],
      ['workers: every listener sets SO_REUSEPORT', [inbound('a', '0.0.0.0', 15001), inbound('b', '127.0.0.1', 15001)], 'workers: 2\n'],
    ] as const) {
      it(`accepts ${name}`, async () => {
        await warningsOf(config([...inbounds], [DIRECT], `${rest}firewall: { interfaces: [lan0] }`));
      });
    }

    it('refuses when only one of the two sets reuse_port', async () => {
      const e = await errorsOf(config([inbound('a', '0.0.0.0', 15001, ', reuse_port: true'), inbound('b', '127.0.0.1', 15001)], [DIRECT]));
      assert.match(e.join('\n'), /inbounds\[1\]\.listen: tcp 127\.0\.0\.1 port 15001 overlaps inbounds\[0\]/);
    });
  });

  describe('listen addresses the kernel refuses', () => {
    it('an IPv4-mapped address', async () => {
      assert.deepEqual(await errorsOf(config([inbound('a', '::ffff:127.0.0.1', 15001)], [DIRECT])), [
        'inbounds[0].listen: ::ffff:127.0.0.1 is an IPv4-mapped address, which an IPv6 listener cannot bind (EINVAL); write 127.0.0.1',
      ]);
    });

    it('a link-local address (no zone)', async () => {
      const e = await errorsOf(config([inbound('a', 'fe80::1', 15001)], [DIRECT]));
      assert.deepEqual(e, [
        'inbounds[0].listen: fe80::1 is link-local: it binds only with a zone (fe80::1%eth0), which listen does not take (EINVAL without one); listen on :: or on a global or unique-local address',
      ]);
    });
  });

  describe('firewall.local: every socket Sluice opens must carry the bypass mark', () => {
    const local = (outbounds: string[], route = 'out'): string =>
      config([inbound('a', '127.0.0.1', 15001)], outbounds, `firewall: { local: true, bypass_mark: 0x2 }\nroute: { final: ${route} }`);

    it('refuses an unmarked direct', async () => {
      assert.deepEqual(await errorsOf(local(['{ tag: out, type: direct }'])), [
        "outbounds[0].mark: firewall.local is true, but this direct outbound's sockets carry no mark: its own connections would be captured again (a loop); set mark: 0x2 (firewall.bypass_mark)",
      ]);
    });

    it('refuses a mark without the bypass bits', async () => {
      assert.deepEqual(await errorsOf(local(['{ tag: out, type: direct, mark: 0x4 }'])), [
        'outbounds[0].mark: 0x4 does not carry firewall.bypass_mark 0x2 (mark & bypass_mark != bypass_mark): with firewall.local true its own connections would be captured again (a loop)',
      ]);
    });

    it('refuses a socks outbound with neither via nor mark', async () => {
      const e = await errorsOf(local([DIRECT, '{ tag: s, type: socks, server: 192.0.2.1, port: 1080 }']));
      assert.deepEqual(e, [
        "outbounds[1].mark: firewall.local is true, but this socks outbound's sockets carry no mark: its own connections would be captured again (a loop); set mark: 0x2 (firewall.bypass_mark)",
      ]);
    });

    it('accepts marks that carry the bypass bits, a socks with its own mark, and a socks via a marked direct', async () => {
      await warningsOf(
        local([
          '{ tag: out, type: direct, mark: 0x6 }',
          '{ tag: s1, type: socks, server: 192.0.2.1, port: 1080, mark: "0x2" }',
          '{ tag: s2, type: socks, server: 192.0.2.1, port: 1080, via: out }',
          '{ tag: deny, type: block }',
        ]),
      );
    });

    it('refuses a via chain that ends at an unmarked direct, at the direct', async () => {
      const e = await errorsOf(local(['{ tag: out, type: direct }', '{ tag: s, type: socks, server: 192.0.2.1, port: 1080, via: out }']));
      assert.equal(e.length, 1);
      assert.match(e[0]!, /^outbounds\[0\]\.mark: firewall\.local is true/);
    });

    it('sluice run refuses to start, with the same message', async () => {
      const path = join(dir, 'run-local.yaml');
      writeFileSync(path, local(['{ tag: out, type: direct }']));
      const r = await runCli('run', '-c', path);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^outbounds\[0\]\.mark: firewall\.local is true/m);
    });

    it('createSluice refuses to start, with the same message', async () => {
      const cfg = parseConfig(local(['{ tag: out, type: direct }']), { baseDir: dir });
      const { logger } = captureLogger();
      const s = createSluice(cfg, { native: createMockBinding(), logger });
      await assert.rejects(s.start(), (err: unknown) => isConfigError(err) && err.issues.some((i) => i.path === 'outbounds[0].mark'));
    });
  });

  it('refuses two local_address values of one family on direct', async () => {
    assert.deepEqual(await errorsOf(config([inbound('a', '127.0.0.1', 15001)], ['{ tag: out, type: direct, local_address: [10.0.0.1, 10.0.0.2] }'])), [
      'outbounds[0].local_address[1]: "10.0.0.2" is a second IPv4 address; give at most one IPv4 and one IPv6 address',
    ]);
    await warningsOf(config([inbound('a', '127.0.0.1', 15001)], ['{ tag: out, type: direct, local_address: [10.0.0.1, "fd00::1"] }']));
  });

  describe('warnings: printed as `warning: path: problem`, exit code unchanged', () => {
    it('bypass_cidr with host bits', async () => {
      const w = await warningsOf(config([inbound('a', '127.0.0.1', 15001)], [DIRECT], 'firewall: { interfaces: [lan0], bypass_cidr: [10.1.2.3/8, 192.168.0.0/16, "fd00::1/8"] }'));
      assert.deepEqual(w, [
        'warning: firewall.bypass_cidr[0]: 10.1.2.3/8 has host bits set; it means 10.0.0.0/8, which is what the ruleset gets',
        'warning: firewall.bypass_cidr[2]: fd00::1/8 has host bits set; it means fd00::/8, which is what the ruleset gets',
      ]);
    });

    const socks4 = '{ tag: s4, type: socks, server: 192.0.2.1, port: 1080, version: 4 }';
    const udpWarning = (targets: string): string =>
      `warning: inbounds[0].network: accepts udp, but every route from "a" ends at an outbound that carries only TCP (${targets}): its datagrams are dropped; drop udp here or route it to an outbound that carries it`;

    it('a UDP inbound whose routes reach only TCP-only outbounds', async () => {
      const w = await warningsOf(config([inbound('a', '127.0.0.1', 15001)], [socks4, '{ tag: nu, type: socks, server: 192.0.2.1, port: 1080, udp: false }'], 'firewall: { interfaces: [lan0] }\nroute: { rules: [{ dst_port: 53, outbound: nu }], final: s4 }'));
      assert.deepEqual(w, [udpWarning('nu, s4')]);
    });

    it('counts a chain through a TCP-only via as TCP-only', async () => {
      const w = await warningsOf(config([inbound('a', '127.0.0.1', 15001)], [socks4, '{ tag: s5, type: socks, server: 192.0.2.2, port: 1080, via: s4 }'], 'firewall: { interfaces: [lan0] }\nroute: { final: s5 }'));
      assert.deepEqual(w, [udpWarning('s5')]);
    });

    it('a rule that takes all UDP hides final', async () => {
      const w = await warningsOf(config([inbound('a', '127.0.0.1', 15001)], [socks4, DIRECT], 'firewall: { interfaces: [lan0] }\nroute: { rules: [{ network: udp, outbound: s4 }], final: out }'));
      assert.deepEqual(w, [udpWarning('s4')]);
    });

    it('no warning when UDP can reach an outbound that carries it, or the inbound takes no UDP', async () => {
      assert.deepEqual(await warningsOf(config([inbound('a', '127.0.0.1', 15001)], [socks4, DIRECT], 'firewall: { interfaces: [lan0] }\nroute: { rules: [{ network: udp, dst_port: 53, outbound: out }], final: s4 }')), []);
      assert.deepEqual(await warningsOf(config([inbound('a', '127.0.0.1', 15001, ', network: tcp')], [socks4], 'firewall: { interfaces: [lan0] }')), []);
    });

    it('gateway mode with no firewall.interfaces names the interfaces that would be captured, from this host', async () => {
      const names = Object.keys(networkInterfaces()).filter((name) => name !== 'lo');
      const r = await check(config([inbound('a', '127.0.0.1', 15001)], [DIRECT], ''));
      assert.equal(r.code, 0, r.stderr);
      if (names.length === 0) return assert.equal(r.stderr, '');
      assert.match(r.stderr, /^warning: firewall\.interfaces: empty, so traffic arriving on every interface but lo is captured: .*; list the client-facing interfaces only\n$/);
      for (const name of names) assert.ok(r.stderr.includes(name), `${name} not named in ${r.stderr}`);
      const routes = execFileSync('ip', ['-o', 'route', 'show', 'default'], { encoding: 'utf8' });
      for (const [, dev] of routes.matchAll(/\bdev (\S+)/g)) assert.ok(r.stderr.includes(`${dev} (default route)`), `${dev} not marked as the default route`);
    });

    it('names interfaces from the host view, the default-route one marked, and none in local mode or with interfaces set', () => {
      const host = { names: ['lo', 'lan0', 'wan0'], defaultRoute: ['wan0'] };
      const warnings = (rest: string) => validateOutbounds(parseConfig(config([inbound('a', '127.0.0.1', 15001)], [DIRECT], rest), { baseDir: dir }), { host });
      assert.deepEqual(warnings(''), [
        { path: 'firewall.interfaces', message: 'empty, so traffic arriving on every interface but lo is captured: lan0, wan0 (default route); list the client-facing interfaces only' },
      ]);
      assert.deepEqual(warnings('firewall: { local: true }'), []);
      assert.deepEqual(warnings('firewall: { interfaces: [lan0] }'), []);
    });

    it('createSluice logs the warnings as warn lines', async () => {
      const cfg = parseConfig(config([inbound('a', '127.0.0.1', 15001)], [DIRECT], 'firewall: { interfaces: [lan0], bypass_cidr: 10.1.2.3/8 }'), { baseDir: dir });
      const { logger, lines } = captureLogger();
      const s = createSluice(cfg, { native: createMockBinding(), logger });
      await s.start();
      await s.stop();
      const warn = lines.find((l) => l.level === 'warn' && String(l.msg).startsWith('firewall.bypass_cidr'));
      assert.ok(warn, JSON.stringify(lines));
      assert.equal(warn.msg, 'firewall.bypass_cidr[0]: 10.1.2.3/8 has host bits set; it means 10.0.0.0/8, which is what the ruleset gets');
      assert.equal(warn.key, 'firewall.bypass_cidr[0]');
    });
  });
});
