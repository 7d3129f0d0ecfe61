import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createSluice, parseConfig } from '@sluice/core';
import { captureLogger, createMockBinding } from '@sluice/core/testing';
import type { NativeBinding } from '@sluice/native';
import { freePort, type WholeSluiceResult } from './whole-sluice';

/** Fails to compile when the mock lacks a member of the binding's interface. */
const typed: NativeBinding = createMockBinding();

const execFileAsync = promisify(execFile);

describe('@sluice/core/testing: mock native binding', () => {
  it('has every export of the native binding, ', () => {
    for (const key of ['openTransparentListener', 'createSocket', 'originalDestination', 'localAddress', 'closeFd', 'raiseFileLimit', 'UdpTransparentSocket', 'SpliceRelay', 'spliceSupported', 'splicePoolStats', 'splicePoolTrim', 'TcpDial', 'TcpAcceptor', 'resetFd'] as const) {
      assert.equal(typeof typed[key], 'function', key);
    }
  });

  it('runs a whole Sluice on loopback as an unprivileged user: a TCP flow and a UDP session to emulated original destinations, no addon loaded', async () => {
    // A child process, so no other test's addon is in require.cache, and as nobody (uid 65534) when we are root.
    const child = path.join(__dirname, 'whole-sluice-child.js');
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const { stdout } = await execFileAsync(process.execPath, [child], { ...asNobody, timeout: 30_000 });
    const r = JSON.parse(stdout) as WholeSluiceResult;
    assert.equal(r.uid, asNobody.uid ?? process.getuid?.());
    assert.equal(r.tcpReply, 're:ping');
    assert.equal(r.udpReply, 're:hello');
    // The mock cannot spoof the source; it records the one core asked for: the original destination.
    assert.deepEqual(r.replySources, [r.udpDst]);
    const closed = r.lines.filter((l) => l.msg === 'flow closed');
    const tcpLine = closed.find((l) => l.network === 'tcp');
    const udpLine = closed.find((l) => l.network === 'udp');
    assert.deepEqual(
      { dst: tcpLine?.dst, outbound: tcpLine?.outbound, up: tcpLine?.up, down: tcpLine?.down, error: tcpLine?.error },
      { dst: r.tcpDst, outbound: 'out', up: 4, down: 7, error: undefined },
    );
    assert.deepEqual({ dst: udpLine?.dst, up: udpLine?.up, down: udpLine?.down }, { dst: r.udpDst, up: 5, down: 8 });
    assert.deepEqual(r.addons, [], 'no native addon was loaded');
  });

  it('with acceptNatively false, core listens on the fd itself and sees the listener as the destination (a loop, refused)', async () => {
    const mock = createMockBinding({ acceptNatively: false });
    const port = await freePort();
    const config = parseConfig(
      JSON.stringify({ log: { level: 'info' }, inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port, network: ['tcp'] }], outbounds: [{ tag: 'b', type: 'block' }], route: { rules: [], final: 'b' } }),
      { baseDir: __dirname },
    );
    const { logger, lines } = captureLogger('info');
    const sluice = createSluice(config, { logger, native: mock });
    await sluice.start();
    try {
      await new Promise<void>((resolve) => net.connect({ port, host: '127.0.0.1' }).on('error', () => {}).once('close', () => resolve()));
    } finally {
      await sluice.stop(100);
    }
    const line = lines.find((l) => l.msg === 'flow closed');
    assert.equal(line?.error, 'loop: destination is a sluice listener');
    assert.equal(mock.spliceSupported(), false);
  });

  it('reports errors as the addon does: a refused dial, a bad fd', async () => {
    const mock = createMockBinding();
    const port = await freePort();
    const err = await new Promise<unknown>((resolve) => new mock.TcpDial({ address: '127.0.0.1', port }, (e) => resolve(e)));
    assert.deepEqual([(err as { code?: string }).code, (err as { syscall?: string }).syscall], ['ECONNREFUSED', 'connect']);
    assert.throws(() => mock.closeFd(123456), { code: 'EBADF' });
    const fd = mock.openTransparentListener({ address: '127.0.0.1', port });
    assert.deepEqual(mock.localAddress(fd), { address: '127.0.0.1', port });
    mock.closeFd(fd);
  });
});
