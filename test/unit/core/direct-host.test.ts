import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import pino from 'pino';
import { ErrorCode, isSluiceError, type FlowContext } from '@sluice/core';
import { DirectOutbound } from '@sluice/plugin-direct';
import { native } from '@sluice/native';

function ctx(): FlowContext {
  const flow = { id: 'x', network: 'tcp' as const, inbound: 'in', src: { address: '127.0.0.1', port: 1 }, dst: { address: '192.0.2.1', port: 2 } };
  return { flow, logger: pino({ level: 'silent' }), signal: new AbortController().signal };
}

/** A server on both loopback addresses, so `localhost` reaches it whichever address the resolver returns first. */
async function server(): Promise<{ port: number; accepted: () => number; close(): void }> {
  let n = 0;
  const s = net.createServer((c) => {
    n++;
    c.end();
  });
  await new Promise<void>((r) => s.listen({ port: 0, host: '::', ipv6Only: false }, r));
  return { port: (s.address() as net.AddressInfo).port, accepted: () => n, close: () => s.close() };
}

describe('plugin-direct: a destination with a host (override_destination)', () => {
  const direct = new DirectOutbound('direct', { transparent: false }, native);

  it('dialTcp and dialTcpFd dial the host name, not the address', async () => {
    const srv = await server();
    try {
      // 192.0.2.1 (TEST-NET-1) is not reachable: only the name leads to the server.
      const dst = { address: '192.0.2.1', port: srv.port, host: 'localhost' };
      const socket = await direct.dialTcp(dst, ctx());
      socket.destroy();
      const fd = await direct.dialTcpFd(dst, ctx());
      native().closeFd(fd);
      assert.equal(srv.accepted() >= 1, true);
    } finally {
      srv.close();
    }
  });

  it('a name that does not resolve fails the dial with SLUICE_ERR_DIAL naming it', async () => {
    for (const dial of [direct.dialTcp.bind(direct), direct.dialTcpFd.bind(direct)]) {
      await assert.rejects(dial({ address: '192.0.2.1', port: 1, host: 'nonexistent.invalid' }, ctx()), (err: unknown) => {
        assert.ok(isSluiceError(err) && err.code === ErrorCode.DIAL);
        assert.match((err as Error).message, /direct: cannot resolve "nonexistent\.invalid"/);
        return true;
      });
    }
  });
});
