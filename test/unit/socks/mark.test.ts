import { strict as assert } from 'node:assert';
import type { OutboundDeps } from '@sluice/core';
import { parseOutboundOptions } from '@sluice/core';
import { native, type OutboundSocketOptions } from '@sluice/native';
import { SocksOutbound, socksOutbound } from '@sluice/plugin-socks';
import { flowCtx, scriptedServer, silent, udpEcho } from './helpers';

const NOAUTH = Buffer.from([5, 0]);
const OK_V4 = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]);
const deps: OutboundDeps = {
  tag: 's',
  logger: silent,
  resolve: () => {
    throw new Error('no via here');
  },
  service: () => {
    throw new Error('no services');
  },
};

/**
 * The native module with a `createSocket` that records what it was asked
 * and makes the socket without `mark` and `device`, which need
 * CAP_NET_ADMIN and an existing interface: unit tests need no root.
 */
function recordingNative(): { calls: OutboundSocketOptions[]; binding: () => { createSocket(o: OutboundSocketOptions): number } } {
  const calls: OutboundSocketOptions[] = [];
  return {
    calls,
    binding: () => ({
      createSocket(o) {
        calls.push(o);
        return native().createSocket({ ...o, mark: undefined, device: undefined });
      },
    }),
  };
}

describe('socks: mark and interface on the sockets to the server', () => {
  it('opens the TCP connection to the server natively with the mark and interface, and it works', async () => {
    const srv = await scriptedServer([NOAUTH, OK_V4, 'hang']);
    const rec = recordingNative();
    try {
      const options = parseOutboundOptions(socksOutbound, { server: '127.0.0.1', port: srv.port, mark: '0x2', interface: 'lo' }, 'outbounds[0]');
      const s = await new SocksOutbound(options, deps, rec.binding).dialTcp({ address: '192.0.2.1', port: 80 }, flowCtx());
      s.destroy();
      assert.deepEqual(rec.calls, [{ type: 'tcp', family: 4, mark: 2, device: 'lo' }]);
      assert.equal(srv.received.length, 2, 'greeting and CONNECT reached the server through the native socket');
    } finally {
      await srv.close();
    }
  });

  it('opens the UDP socket to the relay with the mark too', async () => {
    const relay = await udpEcho();
    const reply = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, relay.port >> 8, relay.port & 0xff]);
    const srv = await scriptedServer([NOAUTH, reply, 'hang']);
    const rec = recordingNative();
    try {
      const options = parseOutboundOptions(socksOutbound, { server: '127.0.0.1', port: srv.port, mark: 2 }, 'outbounds[0]');
      const channel = await new SocksOutbound(options, deps, rec.binding).dialUdp!(flowCtx({ address: '192.0.2.1', port: 53 }, 'udp'));
      channel.close();
      assert.deepEqual(
        rec.calls.map((c) => [c.type, c.mark]),
        [
          ['tcp', 2],
          ['udp', 2],
        ],
      );
    } finally {
      await srv.close();
      relay.close();
    }
  });

  it('leaves sockets to Node when neither is set', async () => {
    const srv = await scriptedServer([NOAUTH, OK_V4, 'hang']);
    const rec = recordingNative();
    try {
      const options = parseOutboundOptions(socksOutbound, { server: '127.0.0.1', port: srv.port }, 'outbounds[0]');
      (await new SocksOutbound(options, deps, rec.binding).dialTcp({ address: '192.0.2.1', port: 80 }, flowCtx())).destroy();
      assert.deepEqual(rec.calls, []);
    } finally {
      await srv.close();
    }
  });
});
