/**
 * Scenarios that must run in a child process: inside a network namespace,
 * under reduced capabilities, or where an uncaught exception or a worker
 * teardown must not disturb mocha. Each returns a JSON-able result; the
 * assertions live in the *.test.ts files.
 */
import * as dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { native, UdpDatagram, UdpTransparentSocketOptions } from '@sluice/native';
import { onceWithin, waitFor } from '../../../helpers/wait';
import { errorFields, thrown } from './errors';

type Scenario = (args: any) => Promise<unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The accepted socket's fd (Node keeps it on the handle). */
export function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

/** Ports bound by UDP sockets in this namespace (/proc/net/udp and udp6). */
export function boundUdpPorts(): number[] {
  const ports: number[] = [];
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local) ports.push(parseInt(local.split(':')[1], 16));
    }
  }
  return ports;
}

function nftCounter(name: string): number {
  const json = execFileSync('nft', ['-j', 'list', 'counter', 'inet', 'sluice_test', name], { encoding: 'utf8' });
  const entry = (JSON.parse(json) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((e) => e.counter);
  return entry!.counter!.packets;
}

/** TPROXY'd UDP: two datagrams to a foreign target, each answered from that target. */
async function tproxyUdp(args: {
  socket: UdpTransparentSocketOptions;
  clientType: 'udp4' | 'udp6';
  target: { address: string; port: number };
}): Promise<unknown> {
  const batches: UdpDatagram[][] = [];
  const socket = new (native().UdpTransparentSocket)(args.socket, (datagrams) => {
    batches.push(datagrams);
    for (const d of datagrams) {
      socket.send(Buffer.from(`reply to ${d.data.toString()}`), d.dstAddress, d.dstPort, d.srcAddress, d.srcPort);
    }
  });
  const client = dgram.createSocket(args.clientType);
  client.bind(0);
  await onceWithin(client, 'listening');
  const replies: Array<{ data: string; address: string; port: number }> = [];
  for (const word of ['one', 'two']) {
    client.send(word, args.target.port, args.target.address);
    const [message, rinfo] = await onceWithin<[Buffer, dgram.RemoteInfo]>(client, 'message');
    replies.push({ data: message.toString(), address: rinfo.address, port: rinfo.port });
  }
  const stats = socket.stats();
  const clientPort = client.address().port;
  socket.close();
  client.close();
  return {
    clientPort,
    batches: batches.map((b) => b.map((d) => ({ ...d, data: d.data.toString() }))),
    replies,
    stats,
  };
}

/**
 * TPROXY'd UDP through the native session relay: the first datagram reaches
 * onBatch, which attaches the session (upstream: an echo server on loopback)
 * with that datagram queued; the rest never reach JavaScript, and every reply
 * leaves from the foreign target.
 */
async function tproxyUdpRelay(args: {
  socket: UdpTransparentSocketOptions;
  clientType: 'udp4' | 'udp6';
  target: { address: string; port: number };
}): Promise<unknown> {
  const family = args.clientType === 'udp4' ? 4 : 6;
  const loopback = family === 4 ? '127.0.0.1' : '::1';
  const echo = dgram.createSocket(args.clientType);
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
  echo.bind(0, loopback);
  await onceWithin(echo, 'listening');
  const batches: string[][] = [];
  const socket = new (native().UdpTransparentSocket)(args.socket, (datagrams) => {
    batches.push(datagrams.map((d) => d.data.toString()));
    const d = datagrams[0];
    const fd = native().createSocket({ type: 'udp', family, connectAddress: loopback, connectPort: echo.address().port });
    socket.attachSession(1, d.srcAddress, d.srcPort, d.dstAddress, d.dstPort, fd, [d.data]);
  });
  const client = dgram.createSocket(args.clientType);
  client.bind(0);
  await onceWithin(client, 'listening');
  const replies: Array<{ data: string; address: string; port: number }> = [];
  for (const word of ['one', 'two', 'three']) {
    client.send(word, args.target.port, args.target.address);
    const [message, rinfo] = await onceWithin<[Buffer, dgram.RemoteInfo]>(client, 'message');
    replies.push({ data: message.toString(), address: rinfo.address, port: rinfo.port });
  }
  const stats = socket.stats();
  const ended = socket.close();
  client.close();
  echo.close();
  return { batches, replies, stats, ended };
}

/** TPROXY'd TCP: a connection to a foreign target lands on the transparent listener. */
async function tproxyTcp(args: {
  listener: { address: string; port: number; v6Only?: boolean };
  target: { address: string; port: number };
}): Promise<unknown> {
  const fd = native().openTransparentListener(args.listener);
  const server = net.createServer((socket) => {
    seen = {
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      remoteAddress: socket.remoteAddress,
      native: native().localAddress(fdOf(socket)),
    };
    socket.pipe(socket);
  });
  let seen: unknown;
  server.listen({ fd });
  await onceWithin(server, 'listening');
  const client = net.connect(args.target.port, args.target.address);
  await onceWithin(client, 'connect');
  client.end('echo me');
  let echoed = '';
  client.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
  await onceWithin(client, 'end');
  server.close();
  return { seen, echoed, client: { localAddress: client.localAddress, localPort: client.localPort } };
}

/** Marked and unmarked outbound sockets, counted by nft counters `tcp_marked`/`udp_marked`. */
async function markedSockets(): Promise<unknown> {
  const { createSocket } = native();
  const server = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await onceWithin(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const sink = dgram.createSocket('udp4').bind(0, '127.0.0.1');
  await onceWithin(sink, 'listening');

  async function tcpExchange(mark?: number): Promise<string> {
    const socket = new net.Socket({ fd: createSocket({ type: 'tcp', family: 4, mark }) });
    socket.connect(port, '127.0.0.1');
    await onceWithin(socket, 'connect');
    socket.end('ping');
    let echoed = '';
    socket.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    await onceWithin(socket, 'close');
    return echoed;
  }
  async function udpSend(mark?: number): Promise<string> {
    const socket = dgram.createSocket('udp4');
    // bind({ fd }) emits 'listening' synchronously: listen first.
    const listening = onceWithin(socket, 'listening');
    socket.bind({ fd: createSocket({ type: 'udp', family: 4, mark }) });
    await listening;
    socket.send('datagram', sink.address().port, '127.0.0.1');
    const [message] = await onceWithin<[Buffer]>(sink, 'message');
    socket.close();
    return message.toString();
  }

  const result = {
    unmarked: { echoed: await tcpExchange(), udp: await udpSend(), tcpPackets: 0, udpPackets: 0 },
    marked: { echoed: '', udp: '', tcpPackets: 0, udpPackets: 0 },
  };
  result.unmarked.tcpPackets = nftCounter('tcp_marked');
  result.unmarked.udpPackets = nftCounter('udp_marked');
  result.marked.echoed = await tcpExchange(2);
  result.marked.udp = await udpSend(2);
  result.marked.tcpPackets = nftCounter('tcp_marked');
  result.marked.udpPackets = nftCounter('udp_marked');
  server.close();
  sink.close();
  return result;
}

/** A connection redirected by nat REDIRECT, and one that was not. */
async function originalDst(args: {
  serverHost: string;
  serverPort: number;
  target: { address: string; port: number };
}): Promise<unknown> {
  const results: unknown[] = [];
  const server = net.createServer((socket) => {
    try {
      results.push({ ok: native().originalDestination(fdOf(socket)), local: native().localAddress(fdOf(socket)) });
    } catch (err) {
      results.push({ error: errorFields(err) });
    }
    socket.destroy();
  });
  server.listen(args.serverPort, args.serverHost);
  await onceWithin(server, 'listening');
  const client = net.connect(args.target.port, args.target.address);
  await onceWithin(client, 'close');
  server.close();
  return results[0];
}

/** What the capability-needing calls throw without CAP_NET_ADMIN and CAP_NET_RAW. */
async function withoutCapabilities(): Promise<unknown> {
  const n = native();
  return {
    listener: thrown(() => n.openTransparentListener({ address: '127.0.0.1', port: 0 })),
    listener6: thrown(() => n.openTransparentListener({ address: '::1', port: 0 })),
    mark: thrown(() => n.createSocket({ type: 'tcp', family: 4, mark: 1 })),
    transparent: thrown(() => n.createSocket({ type: 'udp', family: 4, transparent: true, localAddress: '198.18.0.7' })),
    udp: thrown(() => new n.UdpTransparentSocket({ address: '127.0.0.1', port: 0 }, () => {})),
  };
}

/** onBatch throws; `handler` decides whether the process has an 'uncaughtException' listener. */
async function onBatchThrows(args: { handler: boolean }): Promise<unknown> {
  const caught: string[] = [];
  if (args.handler) process.on('uncaughtException', (err) => caught.push(err.message));
  let calls = 0;
  const socket = new (native().UdpTransparentSocket)({ address: '127.0.0.1', port: 0 }, () => {
    calls += 1;
    fs.writeSync(1, `CALLED ${calls}\n`);
    throw new Error(`boom-from-onBatch ${calls}`);
  });
  const client = dgram.createSocket('udp4');
  for (let i = 0; i < 3; i++) {
    client.send(`d${i}`, native().localAddress(socket.fd).port, '127.0.0.1');
    await waitFor(`call ${i + 1} of onBatch`, () => calls > i);
  }
  const stats = socket.stats();
  socket.close();
  client.close();
  return { calls, caught, stats };
}

/**
 * A socket owned by a worker thread, ended three ways: `terminate` (from the
 * main thread, between callbacks), `terminateInCallback` (while onBatch runs),
 * `close` (the worker closes its socket and exits by itself).
 */
async function workerTeardown(args: { mode: 'terminate' | 'terminateInCallback' | 'close' }): Promise<unknown> {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const { native } = require(workerData.module);
    const socket = new (native().UdpTransparentSocket)({ address: '127.0.0.1', port: 0 }, (batch) => {
      // An attached session (its own polled upstream socket) must go down with the socket too.
      const d = batch[0];
      const fd = native().createSocket({ type: 'udp', family: 4, connectAddress: '127.0.0.1', connectPort: 9 });
      socket.attachSession(1, d.srcAddress, d.srcPort, d.dstAddress, d.dstPort, fd);
      parentPort.postMessage({ batch: batch.map((d) => d.data.toString()) });
      if (workerData.mode === 'close') {
        socket.close();
        parentPort.close();
      }
      if (workerData.mode === 'terminateInCallback') {
        const end = Date.now() + 10000;
        while (Date.now() < end) {} // terminated in here
      }
    });
    parentPort.postMessage({ port: native().localAddress(socket.fd).port });
    `,
    { eval: true, workerData: { module: require.resolve('@sluice/native'), mode: args.mode } },
  );
  // Listen for 'exit' now: a worker that ends right after posting emits its
  // last 'message' and 'exit' in one go.
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const [{ port }] = await onceWithin<[{ port: number }]>(worker, 'message');
  const boundBefore = boundUdpPorts().includes(port);
  const client = dgram.createSocket('udp4');
  client.send('hello worker', port, '127.0.0.1');
  const [{ batch }] = await onceWithin<[{ batch: string[] }]>(worker, 'message');
  if (args.mode !== 'close') void worker.terminate();
  const exitCode = await Promise.race([
    exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the worker did not exit within 5000 ms')), 5_000).unref()),
  ]);
  client.close();
  return { batch, boundBefore, boundAfter: boundUdpPorts().includes(port), exitCode };
}

/** An open socket nobody references keeps working; a closed one is collected. */
async function gcLifetime(): Promise<unknown> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { UdpTransparentSocket } = native();
  let received = 0;
  const port = (() => {
    const socket = new UdpTransparentSocket({ address: '127.0.0.1', port: 0 }, (b) => (received += b.length));
    return native().localAddress(socket.fd).port; // the socket itself is dropped here
  })();
  let collected = false;
  const registry = new FinalizationRegistry(() => (collected = true));
  (() => {
    const closed = new UdpTransparentSocket({ address: '127.0.0.1', port: 0 }, () => {});
    closed.close();
    registry.register(closed, 'closed');
  })();
  for (let i = 0; i < 5 && !collected; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const client = dgram.createSocket('udp4');
  client.send('still there?', port, '127.0.0.1');
  await waitFor('the unreferenced socket to receive', () => received === 1);
  client.close();
  return { received, collected };
}

/** Replies into a throttled link until the send buffer is full. */
async function sendBackpressure(args: { from: string; to: string; count: number }): Promise<unknown> {
  const socket = new (native().UdpTransparentSocket)({ address: '0.0.0.0', port: 15353 }, () => {});
  const results: boolean[] = [];
  for (let i = 0; i < args.count; i++) results.push(socket.send(Buffer.alloc(1000), args.from, 5353, args.to, 9));
  const stats = socket.stats();
  socket.close();
  return { accepted: results.filter((r) => r).length, refused: results.filter((r) => !r).length, stats };
}

/** A reply the firewall drops on output. */
async function sendRefused(args: { from: string; to: string; toPort: number }): Promise<unknown> {
  const socket = new (native().UdpTransparentSocket)({ address: '0.0.0.0', port: 15353 }, () => {});
  try {
    return thrown(() => socket.send(Buffer.from('x'), args.from, 5353, args.to, args.toPort));
  } finally {
    socket.close();
  }
}

export const scenarios: Record<string, Scenario> = {
  sendRefused,
  sendBackpressure,
  gcLifetime,
  tproxyUdp,
  tproxyUdpRelay,
  tproxyTcp,
  markedSockets,
  originalDst,
  withoutCapabilities,
  onBatchThrows,
  workerTeardown,
};
