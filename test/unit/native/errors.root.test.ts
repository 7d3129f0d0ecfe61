import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, isNativeError, NativeError } from '@sluice/native';
import { runScenario, ScenarioError } from './helpers/scenario-client';

const CAP_SENTENCE =
  'needs the CAP_NET_ADMIN capability: run Sluice as root, or grant it (setcap cap_net_admin+ep on the node binary, or AmbientCapabilities=CAP_NET_ADMIN in a systemd unit)';

/** The NativeError `fn` throws (fails when it does not throw one). */
function nativeErrorOf(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    assert.ok(isNativeError(err), `not a NativeError: ${String(err)}`);
    assert.equal(typeof err.errno, 'number');
    return err;
  }
  assert.fail(`expected ${fn.toString()} to throw`);
}

describe('native: errors', () => {
  describe('without CAP_NET_ADMIN (child under setpriv)', () => {
    // CAP_NET_RAW also grants IP_TRANSPARENT and SO_MARK on current kernels, so both go.
    const setpriv = ['setpriv', '--bounding-set=-net_admin,-net_raw', '--inh-caps=-net_admin,-net_raw'];
    let r: Record<string, ScenarioError>;
    before(async () => {
      r = await runScenario<Record<string, ScenarioError>>(setpriv, 'withoutCapabilities');
    });

    it('openTransparentListener: EPERM on setsockopt(IP_TRANSPARENT) with the capability sentence', () => {
      assert.equal(r.listener.code, 'EPERM');
      assert.equal(r.listener.errno, 1);
      assert.equal(r.listener.syscall, 'setsockopt(IP_TRANSPARENT)');
      assert.ok(r.listener.message.includes(`IP_TRANSPARENT ${CAP_SENTENCE}`), r.listener.message);
    });

    it('IPv6 listener: EPERM on setsockopt(IPV6_TRANSPARENT)', () => {
      assert.equal(r.listener6.code, 'EPERM');
      assert.equal(r.listener6.syscall, 'setsockopt(IPV6_TRANSPARENT)');
      assert.ok(r.listener6.message.includes(`IPV6_TRANSPARENT ${CAP_SENTENCE}`), r.listener6.message);
    });

    it('createSocket: EPERM on SO_MARK and on IP_TRANSPARENT', () => {
      assert.equal(r.mark.code, 'EPERM');
      assert.equal(r.mark.syscall, 'setsockopt(SO_MARK)');
      assert.ok(r.mark.message.includes(`SO_MARK ${CAP_SENTENCE}`), r.mark.message);
      assert.equal(r.transparent.code, 'EPERM');
      assert.equal(r.transparent.syscall, 'setsockopt(IP_TRANSPARENT)');
    });

    it('UdpTransparentSocket: EPERM on IP_TRANSPARENT', () => {
      assert.equal(r.udp.code, 'EPERM');
      assert.equal(r.udp.syscall, 'setsockopt(IP_TRANSPARENT)');
      assert.ok(r.udp.message.includes(CAP_SENTENCE));
    });
  });

  describe('bad arguments: TypeError with code EINVAL naming the bad value', () => {
    const n = () => native();
    function assertInvalid(fn: () => unknown, pattern: RegExp): void {
      const err = nativeErrorOf(fn);
      assert.ok(err instanceof TypeError, `${err.name}: ${err.message}`);
      assert.equal(err.code, 'EINVAL');
      assert.equal(err.errno, 22);
      assert.match(err.message, pattern);
    }

    it('address strings that are not IP literals', () => {
      assertInvalid(() => n().openTransparentListener({ address: 'example.com', port: 1 }), /"example\.com" is not an IPv4 or IPv6 address literal/);
      assertInvalid(() => n().openTransparentListener({ address: '1.2.3.4.5', port: 1 }), /"1\.2\.3\.4\.5"/);
      assertInvalid(() => n().openTransparentListener({ address: 'fe80::1%nosuchif0', port: 1 }), /"fe80::1%nosuchif0"/);
      assertInvalid(() => n().createSocket({ type: 'tcp', family: 4, localAddress: '300.1.1.1' }), /"300\.1\.1\.1"/);
      const err = nativeErrorOf(() => n().createSocket({ type: 'tcp', family: 4, localAddress: 'nope' }));
      assert.equal(err.syscall, 'createSocket');
    });

    it('ports, options and types', () => {
      assertInvalid(() => n().openTransparentListener({ address: '127.0.0.1', port: 65536 }), /options\.port must be an integer from 0 to 65535/);
      assertInvalid(() => n().openTransparentListener({ address: '127.0.0.1', port: 1.5 }), /options\.port/);
      assertInvalid(() => n().openTransparentListener({ address: '127.0.0.1', port: 0, backlog: 0 }), /options\.backlog/);
      assertInvalid(() => n().openTransparentListener(undefined as never), /options argument must be an object/);
      assertInvalid(() => n().createSocket({ type: 'sctp' as never, family: 4 }), /options\.type must be "tcp" or "udp"/);
      assertInvalid(() => n().createSocket({ type: 'tcp', family: 5 as never }), /options\.family must be 4 or 6/);
      assertInvalid(() => n().createSocket({ type: 'tcp', family: 4, localAddress: '::1' }), /"::1" is not an IPv4 address/);
      assertInvalid(() => n().createSocket({ type: 'udp', family: 6, localAddress: '127.0.0.1' }), /"127\.0\.0\.1" is not an IPv6 address/);
      assertInvalid(() => n().createSocket({ type: 'tcp', family: 4, device: 'an-interface-name-too-long' }), /not a valid interface name/);
      assertInvalid(() => n().createSocket({ type: 'tcp', family: 4, mark: -1 }), /options\.mark/);
      assertInvalid(() => n().localAddress(-1), /fd must be an integer/);
      assertInvalid(() => n().originalDestination('3' as never), /fd must be an integer/);
    });
  });

  describe('system call failures', () => {
    it('ENODEV on SO_BINDTODEVICE names the interface', () => {
      const err = nativeErrorOf(() => native().createSocket({ type: 'tcp', family: 4, device: 'nosuchif0' }));
      assert.equal(err.code, 'ENODEV');
      assert.equal(err.errno, 19);
      assert.equal(err.syscall, 'setsockopt(SO_BINDTODEVICE)');
      assert.ok(err.message.includes('no network interface named "nosuchif0"'), err.message);
    });

    it('EBADF for an fd that is not open (closeFd twice, localAddress after close)', () => {
      const fd = native().createSocket({ type: 'udp', family: 4 });
      native().closeFd(fd);
      for (const err of [nativeErrorOf(() => native().closeFd(fd)), nativeErrorOf(() => native().localAddress(fd))]) {
        assert.equal(err.code, 'EBADF');
        assert.equal(err.errno, 9);
        assert.ok(err.message.includes(`fd ${fd} is not an open file descriptor`), err.message);
      }
    });

    it('ENOTSOCK for an fd that is not a socket', () => {
      const file = path.join(os.tmpdir(), `snat-${process.pid}-notsock`);
      const fd = fs.openSync(file, 'w');
      try {
        for (const err of [nativeErrorOf(() => native().localAddress(fd)), nativeErrorOf(() => native().originalDestination(fd))]) {
          assert.equal(err.code, 'ENOTSOCK');
          assert.equal(err.syscall, 'getsockname');
          assert.ok(err.message.includes(`fd ${fd} is not a socket`));
        }
      } finally {
        fs.closeSync(fd);
        fs.unlinkSync(file);
      }
    });
  });
});

describe('native: strings with an embedded NUL', () => {
  // C APIs stop at the NUL: "127.0.0.1\0x" would otherwise be taken for 127.0.0.1.
  const n = native();
  const cases: Array<[string, () => unknown]> = [
    ['openTransparentListener address', () => n.openTransparentListener({ address: '127.0.0.1\0x', port: 0 })],
    ['createSocket localAddress', () => n.createSocket({ type: 'tcp', family: 4, localAddress: '127.0.0.1\0x' })],
    ['createSocket device', () => n.createSocket({ type: 'tcp', family: 4, device: 'lo\0x' })],
    ['TcpDial address', () => new n.TcpDial({ address: '127.0.0.1\0x', port: 9 }, () => {})],
    ['UdpTransparentSocket address', () => new n.UdpTransparentSocket({ address: '127.0.0.1\0', port: 0 }, () => {})],
  ];
  for (const [name, call] of cases) {
    it(`${name}: rejected with EINVAL`, () => {
      const err = nativeErrorOf(call);
      assert.equal(err.code, 'EINVAL');
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /NUL/);
    });
  }

  it('a UdpTransparentSocket send() to such an address is rejected too', () => {
    const socket = new n.UdpTransparentSocket({ address: '127.0.0.1', port: 0 }, () => {});
    try {
      const err = nativeErrorOf(() => socket.send(Buffer.from('x'), '127.0.0.1', 1, '127.0.0.1\0x', 9));
      assert.equal(err.code, 'EINVAL');
    } finally {
      socket.close();
    }
  });
});
