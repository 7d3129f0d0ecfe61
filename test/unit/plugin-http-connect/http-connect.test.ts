import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { ErrorCode, SluiceError, isSluiceError, type Destination, type FlowContext, type FlowMetadata, type Outbound } from '@sluice/core';
import { HttpConnectOutbound, MAX_RESPONSE_HEAD, connectRequest, httpConnectOptions } from 'sluice-plugin-http-connect';

/*
 * The http-connect outbound against a scripted proxy on loopback: what it
 * sends, which answers it accepts, and how each failure reads. The real
 * proxy (tinyproxy) and Sluice around it are test/e2e/http-connect.test.ts.
 */

/** Like core's context: `signal` and `logger` are getters, so a spread copy would lose them. */
class TestFlowContext implements FlowContext {
  readonly ac = new AbortController();
  constructor(readonly flow: FlowMetadata) {}
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  get logger(): FlowContext['logger'] {
    return pino({ level: 'silent' });
  }
}

const DST: Destination = { address: '192.0.2.1', port: 80 };
const ctxFor = (dst: Destination = DST): TestFlowContext =>
  new TestFlowContext({ id: 't', network: 'tcp', inbound: 'in', src: { address: '127.0.0.1', port: 1 }, dst });

/** A proxy that reads one request head, then lets `answer` write whatever it likes on the socket. */
interface ScriptedProxy {
  readonly port: number;
  /** Request heads received, in order. */
  readonly heads: string[];
  /** Resolves when the proxy's side of a connection has closed. */
  readonly closed: Promise<void>[];
  close(): Promise<void>;
}

async function scriptedProxy(answer: (sock: net.Socket) => void): Promise<ScriptedProxy> {
  const heads: string[] = [];
  const closed: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    closed.push(new Promise((resolve) => sock.once('close', () => resolve())));
    sock.on('error', () => {});
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      sock.off('data', onData);
      heads.push(buf.slice(0, end + 4));
      answer(sock);
    };
    sock.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    heads,
    closed,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function outbound(raw: Record<string, unknown>, via?: Outbound): HttpConnectOutbound {
  return new HttpConnectOutbound('hc', httpConnectOptions.parse(raw), via);
}

/** Reads from `stream` until `n` bytes came (resuming it, as the relay's `pipe()` does: the dial hands it over paused). */
function readBytes(stream: Duplex, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.length < n) return;
      stream.off('data', onData).off('error', reject);
      stream.pause();
      resolve(got);
    };
    stream.on('data', onData).once('error', reject);
    stream.resume();
  });
}

async function dialError(o: Outbound, ctx: FlowContext = ctxFor()): Promise<SluiceError> {
  try {
    const s = await o.dialTcp(ctx.flow.dst, ctx);
    s.destroy();
  } catch (err) {
    assert.ok(isSluiceError(err), `not a SluiceError: ${String(err)}`);
    return err;
  }
  assert.fail('the dial succeeded');
}

describe('plugin-http-connect: the outbound against a scripted proxy', () => {
  const proxies: ScriptedProxy[] = [];
  const start = async (answer: (sock: net.Socket) => void): Promise<ScriptedProxy> => {
    const p = await scriptedProxy(answer);
    proxies.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  it('sends CONNECT for the IP with a Host header; on 200, bytes after the head reach the stream first, then the tunnel', async () => {
    const proxy = await start((sock) => {
      // Head and the target's first bytes in one write: they must not be lost with the head.
      sock.write('HTTP/1.1 200 Connection established\r\nProxy-agent: test\r\n\r\nBANNER;');
      sock.on('data', (d) => sock.write(d));
    });
    const stream = await outbound({ server: '127.0.0.1', port: proxy.port }).dialTcp(DST, ctxFor());
    try {
      assert.equal(proxy.heads[0], 'CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n');
      assert.equal(await readBytes(stream, 'BANNER;'.length), 'BANNER;');
      stream.write('ping');
      assert.equal(await readBytes(stream, 4), 'ping');
    } finally {
      stream.destroy();
    }
  });

  it('accepts any 2xx and an HTTP/1.0 status line (tinyproxy answers 1.0)', async () => {
    const proxy = await start((sock) => sock.write('HTTP/1.0 204 No Content\r\n\r\n'));
    const stream = await outbound({ server: '127.0.0.1', port: proxy.port }).dialTcp(DST, ctxFor());
    stream.destroy();
  });

  it('names the sniffed host when there is one, brackets IPv6, and never puts an unsafe host on the request line', () => {
    assert.match(connectRequest({ ...DST, port: 443, host: 'example.test' }), /^CONNECT example\.test:443 HTTP\/1\.1\r\nHost: example\.test:443\r\n\r\n$/);
    assert.match(connectRequest({ address: '2001:db8::1', port: 443 }), /^CONNECT \[2001:db8::1\]:443 HTTP\/1\.1\r\nHost: \[2001:db8::1\]:443\r\n/);
    assert.match(connectRequest({ ...DST, host: 'evil\r\nX-Injected: 1' }), /^CONNECT 192\.0\.2\.1:80 HTTP\/1\.1\r\nHost: 192\.0\.2\.1:80\r\n\r\n$/);
  });

  it('sends Basic credentials in Proxy-Authorization', async () => {
    const proxy = await start((sock) => sock.write('HTTP/1.1 200 OK\r\n\r\n'));
    const stream = await outbound({ server: '127.0.0.1', port: proxy.port, username: 'alice', password: 'pw:with colon' }).dialTcp(DST, ctxFor());
    stream.destroy();
    assert.ok(proxy.heads[0]!.includes(`\r\nProxy-Authorization: Basic ${Buffer.from('alice:pw:with colon').toString('base64')}\r\n`), proxy.heads[0]);
  });

  for (const [status, text, code] of [
    [403, 'Forbidden', ErrorCode.DIAL],
    [502, 'Bad Gateway', ErrorCode.DIAL],
    [407, 'Proxy Authentication Required', ErrorCode.UPSTREAM],
    [401, 'Unauthorized', ErrorCode.UPSTREAM],
  ] as const) {
    it(`maps ${status} to "http-connect: proxy answered ${status} ${text}" (${code}), without the proxy's own reason phrase`, async () => {
      const proxy = await start((sock) => sock.end(`HTTP/1.1 ${status} whatever the proxy says\r\nContent-Length: 0\r\n\r\n`));
      const err = await dialError(outbound({ server: '127.0.0.1', port: proxy.port }));
      assert.equal(err.message, `http-connect: proxy answered ${status} ${text}`);
      assert.equal(err.code, code);
      await proxy.closed[0];
    });
  }

  it('refuses a response head over the bound and closes the connection', async () => {
    const proxy = await start((sock) => sock.write(`HTTP/1.1 200 OK\r\nX-Long: ${'a'.repeat(MAX_RESPONSE_HEAD)}`));
    const err = await dialError(outbound({ server: '127.0.0.1', port: proxy.port }));
    assert.equal(err.message, 'http-connect: malformed response');
    assert.equal(err.code, ErrorCode.UPSTREAM);
    await proxy.closed[0];
  });

  it('refuses an answer that is not HTTP', async () => {
    const proxy = await start((sock) => sock.write('SSH-2.0-OpenSSH\r\n\r\n'));
    assert.equal((await dialError(outbound({ server: '127.0.0.1', port: proxy.port }))).message, 'http-connect: malformed response');
  });

  it('says so when the proxy closes before answering', async () => {
    const proxy = await start((sock) => sock.end());
    const err = await dialError(outbound({ server: '127.0.0.1', port: proxy.port }));
    assert.equal(err.message, 'http-connect: proxy closed the connection before answering');
  });

  it('names the errno when the proxy cannot be reached', async () => {
    const proxy = await start(() => {});
    const port = proxy.port;
    await proxy.close();
    const err = await dialError(outbound({ server: '127.0.0.1', port }));
    assert.equal(err.message, 'http-connect: connect to proxy failed (ECONNREFUSED)');
    assert.equal(err.code, ErrorCode.DIAL);
  });

  it('gives up after connect_timeout_ms on a proxy that never answers, and closes the connection', async () => {
    const proxy = await start(() => {});
    const err = await dialError(outbound({ server: '127.0.0.1', port: proxy.port, connect_timeout_ms: 100 }));
    assert.equal(err.message, 'http-connect: connect timeout');
    assert.equal(err.code, ErrorCode.DIAL_TIMEOUT);
    await proxy.closed[0];
  });

  it('stops when the flow is aborted, with core\'s reason when it gave one, and closes the connection', async () => {
    const proxy = await start(() => {});
    const ctx = ctxFor();
    const reason = new SluiceError(ErrorCode.SHUTDOWN, 'shutting down');
    const pending = dialError(outbound({ server: '127.0.0.1', port: proxy.port }), ctx);
    await new Promise<void>((resolve) => {
      const check = (): unknown => (proxy.heads.length > 0 ? resolve() : setTimeout(check, 5));
      check();
    });
    ctx.ac.abort(reason);
    assert.equal(await pending, reason);
    await proxy.closed[0];

    const bare = ctxFor();
    bare.ac.abort();
    assert.equal((await dialError(outbound({ server: '127.0.0.1', port: proxy.port }), bare)).message, 'http-connect: dial aborted');
  });

  describe('via', () => {
    /** An outbound that dials plain TCP, recording what it was asked for and with which signal. */
    function recordingVia(): Outbound & { dials: { dst: Destination; signal: AbortSignal }[] } {
      const dials: { dst: Destination; signal: AbortSignal }[] = [];
      return {
        type: 'test',
        tag: 'hop',
        networks: ['tcp'],
        dials,
        dialTcp(dst, ctx) {
          dials.push({ dst, signal: ctx.signal });
          ctx.logger.debug('a context that lost its getters fails here');
          return new Promise((resolve, reject) => {
            const s = net.connect({ host: dst.address, port: dst.port });
            s.once('error', reject).once('connect', () => resolve(s.off('error', reject)));
          });
        },
        close: async () => {},
      };
    }

    it('reaches the proxy through the via outbound and tunnels over its stream', async () => {
      const proxy = await start((sock) => {
        sock.write('HTTP/1.1 200 OK\r\n\r\n');
        sock.on('data', (d) => sock.write(d));
      });
      const via = recordingVia();
      const stream = await outbound({ server: '127.0.0.1', port: proxy.port, via: 'hop' }, via).dialTcp(DST, ctxFor());
      try {
        assert.deepEqual(via.dials.map((d) => d.dst), [{ address: '127.0.0.1', port: proxy.port }]);
        stream.write('over via');
        assert.equal(await readBytes(stream, 8), 'over via');
        assert.equal(proxy.heads[0], 'CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n');
      } finally {
        stream.destroy();
      }
    });

    it('passes a proxy given by name on as a name, and a via that fails with its own error as that error', async () => {
      const failure = new SluiceError(ErrorCode.UPSTREAM, 'socks: auth rejected');
      const seen: Destination[] = [];
      const via: Outbound = {
        type: 'test',
        tag: 'hop',
        networks: ['tcp'],
        dialTcp: async (dst) => {
          seen.push(dst);
          throw failure;
        },
        close: async () => {},
      };
      assert.equal(await dialError(outbound({ server: 'proxy.example.test', port: 3128, via: 'hop' }, via)), failure);
      assert.deepEqual(seen, [{ address: 'proxy.example.test', port: 3128, host: 'proxy.example.test' }]);
    });

    it('hands the via a signal that fires at connect_timeout_ms, and settles even when the via ignores it', async () => {
      let signal: AbortSignal | undefined;
      const via: Outbound = {
        type: 'test',
        tag: 'hop',
        networks: ['tcp'],
        dialTcp: (_dst, ctx) => {
          signal = ctx.signal;
          return new Promise<Duplex>(() => {});
        },
        close: async () => {},
      };
      const err = await dialError(outbound({ server: '127.0.0.1', port: 9, via: 'hop', connect_timeout_ms: 50 }, via));
      assert.equal(err.message, 'http-connect: connect timeout');
      assert.equal(signal?.aborted, true);
    });
  });
});

describe('plugin-http-connect: options through `sluice check`', () => {
  const bin = path.resolve(__dirname, '..', '..', '..', '..', 'packages', 'core', 'bin', 'sluice.js');
  const pluginDir = path.resolve(__dirname, '..', '..', '..', '..', 'examples', 'plugin-http-connect');

  function check(outbounds: string): { status: number | null; output: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-http-connect-'));
    try {
      const file = path.join(dir, 'c.yaml');
      fs.writeFileSync(
        file,
        `plugins: [${JSON.stringify(pluginDir)}]\ninbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]\noutbounds:\n${outbounds}route: { final: proxy }\n`,
      );
      const r = spawnSync(process.execPath, [bin, 'check', '-c', file], { encoding: 'utf8' });
      return { status: r.status, output: r.stdout + r.stderr };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('loads the plugin by path and accepts a valid outbound with a via', () => {
    const r = check('  - { tag: hop, type: socks, server: 10.0.0.5, port: 1080 }\n  - { tag: proxy, type: http-connect, server: proxy.corp, port: 3128, via: hop }\n');
    assert.equal(r.status, 0, r.output);
  });

  it('reports bad options at their key paths, never echoing the password', () => {
    const r = check(
      '  - { tag: d, type: direct }\n  - { tag: proxy, type: http-connect, server: "a b", port: 70000, password: s3cret-value, colour: red }\n',
    );
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, /outbounds\[1\]\.server: must be an IP address or a host name/);
    assert.match(r.output, /outbounds\[1\]\.port: must be 1-65535/);
    assert.match(r.output, /outbounds\[1\]\.username: required when password is set/);
    assert.match(r.output, /outbounds\[1\]\.colour: unknown key "colour"/);
    assert.doesNotMatch(r.output, /s3cret-value/);
  });

  it('has core check that via names an outbound', () => {
    const r = check('  - { tag: proxy, type: http-connect, server: 10.0.0.9, port: 3128, via: nowhere }\n');
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, /outbounds\[0\]\.via/);
  });
});
