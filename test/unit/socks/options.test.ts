import { strict as assert } from 'node:assert';
import { ErrorCode, isConfigError, parseOutboundOptions, planOutbounds } from '@sluice/core';
import { plugin, socksOutbound, type SocksOptions } from '@sluice/plugin-socks';

const parseSocksOptions = (raw: Record<string, unknown>, path: string): SocksOptions => parseOutboundOptions(socksOutbound, raw, path);

const base = { tag: 'hop', type: 'socks', server: '10.0.0.5', port: 1080 };

function issuesOf(raw: Record<string, unknown>): string[] {
  try {
    parseSocksOptions(raw, 'outbounds[2]');
  } catch (err) {
    assert.ok(isConfigError(err), `not a ConfigError: ${String(err)}`);
    assert.equal(err.code, ErrorCode.CONFIG);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('parse accepted bad options');
}

describe('socks options', () => {
  it('fills defaults', () => {
    const o = parseSocksOptions(base, 'outbounds[0]');
    assert.deepEqual(o, {
      server: '10.0.0.5',
      port: 1080,
      version: 5,
      connect_timeout_ms: 10000,
      handshake_timeout_ms: 10000,
      udp: true,
    });
  });

  it('accepts the documented forms', () => {
    assert.equal(parseSocksOptions({ ...base, server: 'proxy.corp', username: 'u', password: 'p' }, 'x').username, 'u');
    assert.equal(parseSocksOptions({ ...base, server: '::1' }, 'x').server, '::1');
    assert.equal(parseSocksOptions({ ...base, via: 'hop1' }, 'x').via, 'hop1');
    const v4 = parseSocksOptions({ ...base, version: 4 }, 'x');
    assert.equal(v4.version, 4);
    assert.equal(v4.udp, false, 'UDP defaults off for SOCKS4');
    assert.equal(parseSocksOptions({ ...base, version: '4a', username: 'ident' }, 'x').version, '4a');
    assert.equal(parseSocksOptions({ ...base, version: '5' }, 'x').version, 5);
    assert.equal(parseSocksOptions({ ...base, udp: false }, 'x').udp, false);
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['port 0', { ...base, port: 0 }, 'outbounds[2].port: must be 1-65535'],
    ['port 70000', { ...base, port: 70000 }, 'outbounds[2].port: must be 1-65535'],
    ['port as text', { ...base, port: '1080' }, 'outbounds[2].port: must be 1-65535'],
    ['port 1.5', { ...base, port: 1.5 }, 'outbounds[2].port: must be 1-65535'],
    ['missing port', { tag: 'a', type: 'socks', server: 'x' }, 'outbounds[2].port: required'],
    ['missing server', { tag: 'a', type: 'socks', port: 1 }, 'outbounds[2].server: required'],
    ['bad server', { ...base, server: 'not a host!' }, 'outbounds[2].server: must be an IP address or a host name'],
    ['bracketed v6', { ...base, server: '[::1]' }, 'outbounds[2].server: must be an IP address or a host name'],
    ['version 6', { ...base, version: 6 }, 'outbounds[2].version: must be 5, 4 or "4a"'],
    ['unknown key', { ...base, passwd: 'x' }, 'outbounds[2].passwd: unknown key "passwd"'],
    ['password without user', { ...base, password: 'p' }, 'outbounds[2].username: required when password is set'],
    ['user without password', { ...base, username: 'u' }, 'outbounds[2].password: required when username is set'],
    ['password on v4', { ...base, version: 4, username: 'u', password: 'p' }, 'outbounds[2].password: only SOCKS5 has passwords (SOCKS4 sends username as USERID)'],
    ['udp on v4', { ...base, version: '4a', udp: true }, 'outbounds[2].udp: UDP needs SOCKS5 (version 5)'],
    ['long username', { ...base, username: 'u'.repeat(256), password: 'p' }, 'outbounds[2].username: must be 1-255 bytes'],
    ['empty password', { ...base, username: 'u', password: '' }, 'outbounds[2].password: must be 1-255 bytes'],
    ['via not a string', { ...base, via: 3 }, 'outbounds[2].via: must be the tag of another outbound'],
    ['timeout 0', { ...base, connect_timeout_ms: 0 }, 'outbounds[2].connect_timeout_ms: must be at least 1'],
    ['timeout text', { ...base, handshake_timeout_ms: '5s' }, 'outbounds[2].handshake_timeout_ms: must be a number of milliseconds'],
    ['udp not boolean', { ...base, udp: 'yes' }, 'outbounds[2].udp: must be true or false'],
  ];
  for (const [name, raw, expected] of cases) {
    it(`rejects ${name}`, () => assert.ok(issuesOf(raw).includes(expected), `${issuesOf(raw).join('; ')} lacks ${expected}`));
  }

  it('reports every problem at once', () => {
    const issues = issuesOf({ tag: 'a', type: 'socks', server: '!', port: -1, extra: 1 });
    assert.deepEqual(issues.sort(), [
      'outbounds[2].extra: unknown key "extra"',
      'outbounds[2].port: must be 1-65535',
      'outbounds[2].server: must be an IP address or a host name',
    ]);
  });

  it('keeps the password out of error messages', () => {
    // assert.throws, not try/catch: a catch would also swallow an assert.fail for accepted options.
    assert.throws(
      () => parseSocksOptions({ ...base, username: 'u', password: 'hunter2', port: 0 }, 'o'),
      (err: unknown) => isConfigError(err) && !String((err as Error).message).includes('hunter2'),
    );
  });

  it('takes mark (number or hex string) and interface for the sockets to the server', () => {
    const o = parseSocksOptions({ ...base, mark: '0x2', interface: 'eth1' }, 'x');
    assert.equal(o.mark, 2);
    assert.equal(o.interface, 'eth1');
    assert.equal(parseSocksOptions({ ...base, mark: 6 }, 'x').mark, 6);
    assert.equal('mark' in parseSocksOptions(base, 'x'), false);
  });

  it('refuses bad marks and interfaces, and both with via', () => {
    assert.deepEqual(issuesOf({ ...base, mark: 'two', interface: 'a/b' }), [
      'outbounds[2].mark: must be a number or a hex string like "0x2"',
      'outbounds[2].interface: must be an interface name (at most 15 characters, no spaces, "/" or ":")',
    ]);
    assert.deepEqual(issuesOf({ ...base, mark: 0x1_0000_0000 }), ['outbounds[2].mark: must fit in 32 bits']);
    assert.deepEqual(issuesOf({ ...base, via: 'out', mark: 2, interface: 'eth1' }), [
      'outbounds[2].mark: only without via: the via outbound opens the socket to the server (set mark there)',
      'outbounds[2].interface: only without via: the via outbound opens the socket to the server (set interface there)',
    ]);
  });

  it('declares its egress: its own mark, or via; UDP only when enabled', () => {
    assert.deepEqual(socksOutbound.egress!(parseSocksOptions({ ...base, mark: 2 }, 'x')), { mark: 2, networks: ['tcp', 'udp'] });
    assert.deepEqual(socksOutbound.egress!(parseSocksOptions({ ...base, via: 'out' }, 'x')), { mark: 'via', networks: ['tcp', 'udp'] });
    assert.deepEqual(socksOutbound.egress!(parseSocksOptions({ ...base, version: 4 }, 'x')), { mark: undefined, networks: ['tcp'] });
  });

  it('leaves the via tag to core but lists it as a dependency', () => {
    const o = parseSocksOptions({ ...base, via: 'nowhere' }, 'x');
    assert.deepEqual(socksOutbound.dependencies!(o), ['nowhere']);
    assert.deepEqual(socksOutbound.dependencies!(parseSocksOptions(base, 'x')), []);
  });

  it('is refused by core when via names itself', () => {
    const entry = { tag: 'hop', type: 'socks', raw: { ...base, via: 'hop' }, path: 'outbounds[2]' };
    assert.throws(
      () => planOutbounds([entry], new Map([['socks', socksOutbound]])),
      (err: unknown) => isConfigError(err) && err.issues.some((i) => `${i.path}: ${i.message}` === 'outbounds[2].via: must name another outbound, not itself'),
    );
  });

  it('is the plugin\'s one outbound type', () => {
    assert.equal(plugin.name, '@sluice/plugin-socks');
    assert.deepEqual(plugin.outbounds, [socksOutbound]);
    assert.equal(socksOutbound.type, 'socks');
  });
});
