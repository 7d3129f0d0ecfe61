import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import type { Destination, Endpoint, FlowContext, FlowMetadata, Outbound, OutboundDeps, PacketChannel, PacketReceiver } from '@sluice/core';
import { parseOutboundOptions } from '@sluice/core';
import { SocksOutbound, socksOutbound } from '@sluice/plugin-socks';
import { waitFor } from '../../helpers/wait';

export const silent = pino({ level: 'silent' });

/**
 * A FlowContext for one dial, shaped like core's: `signal` and `logger` are
 * prototype getters, so an outbound that copies the context with a spread
 * (and loses them) fails here as it would in Sluice.
 */
export class TestFlowContext implements FlowContext {
  readonly ac = new AbortController();
  constructor(readonly flow: FlowMetadata) {}
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  get logger(): FlowContext['logger'] {
    return silent;
  }
}

export function flowCtx(dst: Destination = { address: '127.0.0.1', port: 9 }, network: 'tcp' | 'udp' = 'tcp'): TestFlowContext {
  return new TestFlowContext({ id: 'test', network, inbound: 'test', src: { address: '127.0.0.1', port: 1 }, dst });
}

/** Builds a socks outbound from raw config, resolving `via` tags in `others`. */
export function makeSocks(raw: Record<string, unknown>, others: Record<string, Outbound> = {}): SocksOutbound {
  const options = parseOutboundOptions(socksOutbound, raw, 'outbounds[0]');
  const deps: OutboundDeps = {
    tag: 'socks',
    logger: silent,
    resolve: (tag) => {
      const o = others[tag];
      if (!o) throw new Error(`no outbound ${tag}`);
      return o;
    },
    service: () => {
      throw new Error('no services in socks tests');
    },
  };
  return new SocksOutbound(options, deps);
}

/** A minimal `direct` outbound (the real one lives in plugin-direct), counting its dials. */
export function testDirect(tag = 'direct'): Outbound & { tcpDials: Destination[]; udpDials: number } {
  const o = {
    type: 'direct',
    tag,
    networks: ['tcp', 'udp'] as const,
    tcpDials: [] as Destination[],
    udpDials: 0,
    dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
      o.tcpDials.push(dst);
      // Touch what a real outbound uses, so a context that lost its getters fails here.
      ctx.logger.debug({ flowId: ctx.flow.id }, 'test direct dial');
      return new Promise((resolve, reject) => {
        const s = net.connect({ host: dst.host ?? dst.address, port: dst.port });
        const onAbort = (): void => {
          s.destroy();
          reject(ctx.signal.reason);
        };
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        s.once('error', reject);
        s.once('connect', () => {
          ctx.signal.removeEventListener('abort', onAbort);
          s.off('error', reject);
          resolve(s);
        });
      });
    },
    async dialUdp(ctx: FlowContext): Promise<PacketChannel> {
      o.udpDials++;
      ctx.logger.debug({ flowId: ctx.flow.id }, 'test direct udp');
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      let receiver: PacketReceiver | undefined;
      sock.on('message', (m, r) => receiver?.onPacket(m, { address: r.address, port: r.port }));
      return {
        send: (data, dst) => sock.send(data, dst.port, dst.address),
        setReceiver: (r) => (receiver = r),
        close: () => sock.close(),
      };
    },
    close: async () => undefined,
  };
  return o;
}

/** A port that was free a moment ago on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A TCP echo server that remembers who connected. */
export async function tcpEcho(host = '127.0.0.1'): Promise<{ port: number; peers: string[]; close(): Promise<void> }> {
  const peers: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    peers.push(s.remoteAddress!);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, host, r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    peers,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

/** A UDP echo server that prefixes nothing and remembers each sender. */
export async function udpEcho(host = '127.0.0.1'): Promise<{ port: number; peers: Endpoint[]; close(): void }> {
  const peers: Endpoint[] = [];
  const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  sock.on('message', (m, r) => {
    peers.push({ address: r.address, port: r.port });
    sock.send(m, r.port, r.address);
  });
  await new Promise<void>((r) => sock.bind(0, host, r));
  return { port: sock.address().port, peers, close: () => sock.close() };
}

/** A spawned SOCKS server, killed (with its whole process group) by `stop()`. */
export interface ServerProcess {
  readonly host: string;
  readonly port: number;
  output(): string;
  stop(): Promise<void>;
}

/** Waits until `host:port` accepts a connection; fails at once when the server exited. */
async function waitListening(host: string, port: number, child: ChildProcess, output: () => string): Promise<void> {
  await waitFor(`a server listening on ${host}:${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`server exited early: ${output()}`);
    return new Promise<boolean>((r) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
  }, { timeoutMs: 5000, intervalMs: 50 });
}

async function spawnServer(cmd: string, args: string[], host: string, port: number, tmpDir?: string): Promise<ServerProcess> {
  let out = '';
  // Own process group, so stop() also reaches dante's forked children.
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 2000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitListening(host, port, child, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, port, output: () => out, stop };
}

/** Starts dante on `host` (also its external address), accepting clients from `clientFrom`. */
export async function startDante(host: string, clientFrom?: string, extra = ''): Promise<ServerProcess> {
  const any = net.isIPv6(host) ? '::/0' : '0.0.0.0/0';
  const from = clientFrom ?? any;
  const port = await freePort(host);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dante-'));
  const conf = path.join(dir, 'danted.conf');
  fs.writeFileSync(
    conf,
    [
      'logoutput: stderr',
      `internal: ${host} port = ${port}`,
      `external: ${host}`,
      'clientmethod: none',
      'socksmethod: none',
      'user.privileged: root',
      'user.unprivileged: nobody',
      `client pass {\n  from: ${from} to: ${any}\n}`,
      `socks pass {\n  from: ${any} to: ${any}\n  command: bind connect udpassociate bindreply udpreply\n  log: error\n}`,
      extra,
      '',
    ].join('\n'),
  );
  return spawnServer('danted', ['-f', conf, '-p', path.join(dir, 'danted.pid')], host, port, dir);
}

/** Starts microsocks with username/password auth; outgoing connections from `host`. */
export async function startMicrosocks(host: string, user: string, pass: string): Promise<ServerProcess> {
  const port = await freePort(host);
  return spawnServer('microsocks', ['-i', host, '-p', String(port), '-u', user, '-P', pass, '-b', host], host, port);
}

/** What a scripted fake server does on the n-th chunk it receives. */
export type Step = Buffer | 'end' | 'hang' | { readonly end: Buffer };

/**
 * A misbehaving SOCKS server: answers the n-th chunk from the client with
 * `steps[n]` (bytes, a FIN, bytes then a FIN, or nothing). Our client waits for each reply before
 * sending on, so chunks line up with protocol messages.
 */
export async function scriptedServer(steps: Step[]): Promise<{ port: number; received: Buffer[]; clientClosed: Promise<void>; close(): Promise<void> }> {
  const received: Buffer[] = [];
  let onClientClosed!: () => void;
  const clientClosed = new Promise<void>((r) => (onClientClosed = r));
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    let i = 0;
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      onClientClosed();
    });
    s.on('data', (chunk) => {
      received.push(chunk);
      const step = steps[i++];
      if (Buffer.isBuffer(step)) s.write(step);
      else if (step === 'end') s.end();
      else if (step !== undefined && step !== 'hang') s.end(step.end);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    received,
    clientClosed,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    }),
  };
}

/** Writes `data`, then resolves with the first `n` bytes read back. */
export function roundTrip(stream: Duplex, data: Buffer, n = data.length): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        stream.off('data', onData);
        resolve(Buffer.concat(chunks).subarray(0, n));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(data);
  });
}

/** Resolves with the next datagram a channel delivers (or rejects after `ms`). */
export function nextPacket(channel: PacketChannel, ms = 3000): Promise<{ data: Buffer; from: Endpoint }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no datagram')), ms);
    channel.setReceiver({
      onPacket: (data, from) => {
        clearTimeout(timer);
        resolve({ data, from });
      },
      onClose: (err) => {
        clearTimeout(timer);
        reject(err ?? new Error('closed'));
      },
    });
  });
}
