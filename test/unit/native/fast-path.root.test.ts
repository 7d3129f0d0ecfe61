import * as fs from 'node:fs';
import * as assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { forEachAccepted, native, type NativeError } from '@sluice/native';
import { Worker } from 'node:worker_threads';
import { Netns } from './helpers/netns';
import { onceWithin, waitFor } from '../../helpers/wait';
import { openFds } from './splice-fixtures';

async function echoServer(host = '127.0.0.1'): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  server.listen(0, host);
  await onceWithin(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function closedPort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await onceWithin(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function dial(options: { address: string; port: number; mark?: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    new (native().TcpDial)(options, (err, fd) => (err ? reject(err) : resolve(fd!)));
  });
}

/** Round trip through an fd adopted by Node. */
async function roundTrip(fd: number, text: string): Promise<string> {
  const socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  let echoed = '';
  socket.on('data', (c: Buffer) => (echoed += c.toString()));
  socket.end(text);
  await onceWithin(socket, 'close');
  return echoed;
}

describe('native: TcpDial', () => {
  it('connects and hands over a connected fd that carries data', async () => {
    const { server, port } = await echoServer();
    try {
      const fd = await dial({ address: '127.0.0.1', port });
      assert.deepEqual(native().localAddress(fd).address, '127.0.0.1');
      assert.equal(await roundTrip(fd, 'round trip'), 'round trip');
    } finally {
      server.close();
    }
  });

  it('reports a refused connect as a NativeError with code ECONNREFUSED', async () => {
    const port = await closedPort();
    const err = (await dial({ address: '127.0.0.1', port }).then(
      () => assert.fail('connected'),
      (e: unknown) => e,
    )) as NativeError;
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.syscall, 'connect');
  });

  it('throws synchronously for a bad address', () => {
    assert.throws(() => new (native().TcpDial)({ address: 'not-an-ip', port: 1 }, () => {}), { code: 'EINVAL' });
  });

  describe('in a network namespace', () => {
    let ns: Netns;
    before(async () => {
      ns = await Netns.create('dial');
      await ns.nft(`
table inet sluice_test {
  counter marked {}
  chain output {
    type filter hook output priority 0; policy accept;
    meta mark 0x2 meta l4proto tcp counter name marked
    # SYNs to port 9 vanish: a connect there hangs.
    tcp dport 9 drop
  }
}
`);
    });
    after(async () => ns?.destroy());

    /** Runs `body` (JS using `native` and `net`) in a child node inside the namespace; returns its JSON output. */
    async function inNs(body: string): Promise<any> {
      const script = `const net = require('node:net'); const { native } = require(${JSON.stringify(require.resolve('@sluice/native'))});
(async () => { ${body} })().then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); }, (e) => { console.error(e); process.exit(1); });`;
      const { stdout } = await promisify(execFile)(ns.prefix[0]!, [...ns.prefix.slice(1), process.execPath, '-e', script], { timeout: 20_000 });
      return JSON.parse(stdout);
    }

    it('applies SO_MARK: the dialed connection is counted by `meta mark 0x2`, an unmarked one is not', async () => {
      const r = await inNs(`
const server = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const port = server.address().port;
const counter = () => Number(/packets (\\d+)/.exec(require('node:child_process').execFileSync('nft', ['list', 'counter', 'inet', 'sluice_test', 'marked']).toString())[1]);
async function once(mark) {
  const fd = await new Promise((resolve, reject) => new (native().TcpDial)({ address: '127.0.0.1', port, mark }, (e, fd) => (e ? reject(e) : resolve(fd))));
  const s = new net.Socket({ fd, readable: true, writable: true });
  let echoed = '';
  s.on('data', (c) => (echoed += c));
  s.end('ping');
  await new Promise((r) => s.once('close', r));
  return echoed;
}
const unmarked = await once(undefined);
const afterUnmarked = counter();
const marked = await once(2);
const afterMarked = counter();
server.close();
return { unmarked, marked, afterUnmarked, afterMarked };
`);
      assert.equal(r.unmarked, 'ping');
      assert.equal(r.marked, 'ping');
      assert.equal(r.afterUnmarked, 0, 'unmarked TCP must not match');
      assert.ok(r.afterMarked >= 4, `marked TCP packets: ${r.afterMarked}`);
    });

    it('cancel() of a connect that hangs closes the socket and never calls back', async () => {
      const r = await inNs(`
let called = false;
const d = new (native().TcpDial)({ address: '127.0.0.1', port: 9 }, () => (called = true));
await new Promise((r) => setTimeout(r, 200));
const first = d.cancel();
const second = d.cancel();
await new Promise((r) => setTimeout(r, 100));
const synSent = require('node:child_process').execFileSync('ss', ['-Htn', 'state', 'syn-sent']).toString().trim();
return { called, first, second, synSent };
`);
      assert.equal(r.called, false);
      assert.equal(r.first, true);
      assert.equal(r.second, false);
      assert.equal(r.synSent, '', 'the connecting socket is closed');
    });
  });
});

describe('native: TcpAcceptor', () => {
  it('delivers each accepted connection as fd, source and destination, and the fd carries data', async () => {
    const n = native();
    const listenFd = n.openTransparentListener({ address: '127.0.0.1', port: 0 });
    const port = n.localAddress(listenFd).port;
    const got: Array<[number, string, number, string, number]> = [];
    const batches: number[] = [];
    const acceptor = new n.TcpAcceptor(listenFd, (batch) => {
      batches.push(batch.fds.length);
      forEachAccepted(batch, (...connection) => got.push(connection));
      assert.deepEqual([...batch.fds], new Array(batch.fds.length).fill(-1), 'forEachAccepted takes every fd');
    });
    try {
      const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
      await Promise.all(clients.map((c) => onceWithin(c, 'connect')));
      await waitFor('two accepted connections', () => got.length === 2);
      assert.equal(batches.reduce((a, b) => a + b, 0), 2);
      for (let i = 0; i < 2; i++) {
        const [fd, srcAddress, srcPort, dstAddress, dstPort] = got[i]!;
        const client = clients.find((c) => c.localPort === srcPort)!;
        assert.ok(client, `a client with source port ${srcPort}`);
        assert.equal(srcAddress, '127.0.0.1');
        assert.equal(dstAddress, '127.0.0.1');
        assert.equal(dstPort, port);
        const accepted = new net.Socket({ fd, readable: true, writable: true });
        accepted.write(`hello ${i}`);
        const [data] = await onceWithin<[Buffer]>(client, 'data');
        assert.equal(data.toString(), `hello ${i}`);
        accepted.destroy();
        client.destroy();
      }
    } finally {
      assert.equal(acceptor.close(), true);
      assert.equal(acceptor.close(), false);
    }
    // The listening fd is closed: nobody accepts any more.
    const late = net.connect(port, '127.0.0.1');
    const [err] = await onceWithin<[NodeJS.ErrnoException]>(late, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
  });

  it('accepted connections have TCP_NODELAY (set once on the listener, which they inherit)', async () => {
    const n = native();
    const listenFd = n.openTransparentListener({ address: '127.0.0.1', port: 0 });
    const port = n.localAddress(listenFd).port;
    const fds: number[] = [];
    const acceptor = new n.TcpAcceptor(listenFd, (batch) => forEachAccepted(batch, (fd) => fds.push(fd)));
    const client = net.connect(port, '127.0.0.1');
    try {
      await onceWithin(client, 'connect');
      await waitFor('an accepted connection', () => fds.length === 1);
      // Node cannot read a socket option: python3 (a build requirement) reads it on the fd passed as its fd 3.
      const script = 'import socket; s = socket.socket(fileno=3); print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); s.detach()';
      const r = spawnSync('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit', fds[0]!] });
      assert.equal(r.status, 0);
      assert.notEqual(Number(r.stdout.toString().trim()), 0, 'TCP_NODELAY on the accepted socket');
    } finally {
      for (const fd of fds) n.closeFd(fd);
      client.destroy();
      acceptor.close();
    }
  });

  it('resetFd closes a connection with a reset', async () => {
    const n = native();
    const listenFd = n.openTransparentListener({ address: '127.0.0.1', port: 0 });
    const port = n.localAddress(listenFd).port;
    const acceptor = new n.TcpAcceptor(listenFd, (batch) => forEachAccepted(batch, (fd) => n.resetFd(fd)));
    try {
      const client = net.connect(port, '127.0.0.1');
      const [err] = await onceWithin<[NodeJS.ErrnoException]>(client, 'error');
      assert.equal(err.code, 'ECONNRESET');
    } finally {
      acceptor.close();
    }
  });

  it('an onBatch that throws part-way loses no fd: those it did not take are reset, the taken one stays open', async () => {
    // In a child: the exception is reported as uncaught, which mocha would take for a failure of its own.
    const script = `
      const net = require('node:net');
      const { native } = require(${JSON.stringify(require.resolve('@sluice/native'))});
      const n = native();
      const listenFd = n.openTransparentListener({ address: '127.0.0.1', port: 0, backlog: 16 });
      const port = n.localAddress(listenFd).port;
      const report = { uncaught: [], clients: [] };
      process.on('uncaughtException', (err) => report.uncaught.push(err.message));
      const clients = [0, 1, 2].map(() => net.connect(port, '127.0.0.1'));
      clients.forEach((c, i) => c.on('error', (err) => (report.clients[i] = err.code)).on('data', (d) => (report.clients[i] = 'data ' + d)));
      Promise.all(clients.map((c) => new Promise((r) => c.once('connect', r)))).then(() => {
        // All three wait in the backlog: the first wakeup hands them over in one batch.
        new n.TcpAcceptor(listenFd, (batch) => {
          report.batch = batch.fds.length;
          const fd = batch.fds[0];
          batch.fds[0] = -1;
          const kept = new net.Socket({ fd, readable: true, writable: true });
          kept.write('kept');
          throw new Error('boom after taking one');
        });
        // Until each client has seen its outcome: the kept one its data, the others a reset.
        setInterval(() => {
          if (report.clients.filter(Boolean).length < 3) return;
          process.stdout.write(JSON.stringify(report));
          process.exit(0);
        }, 10);
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 20_000 });
    const report = JSON.parse(stdout) as { uncaught: string[]; clients: string[]; batch: number };
    assert.equal(report.batch, 3);
    assert.deepEqual(report.uncaught, ['boom after taking one']);
    const data = report.clients.filter((c) => c === 'data kept');
    const reset = report.clients.filter((c) => c === 'ECONNRESET');
    assert.equal(data.length, 1, JSON.stringify(report.clients));
    assert.equal(reset.length, 2, JSON.stringify(report.clients));
  });
});

describe('native: SpliceRelay with adopt', () => {
  it('takes the two fds themselves (no copies), relays, and closes them when done', async () => {
    const n = native();
    // Servers whose connections the relay will reset at its idle timeout.
    const servers = await Promise.all(
      [0, 1].map(async () => {
        const server = net.createServer((s) => s.on('error', () => {}));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return server;
      }),
    );
    const ports = servers.map((sv) => (sv.address() as net.AddressInfo).port);
    // Two dialled fds that no libuv handle polls: fdA plays the client side, fdB the upstream.
    const fdA = await dial({ address: '127.0.0.1', port: ports[0] });
    const fdB = await dial({ address: '127.0.0.1', port: ports[1] });
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    const r = await new Promise<{ up: number; down: number; error?: string }>((resolve) => {
      new n.SpliceRelay(fdA, fdB, { adopt: true, idleMs: 300 }, resolve);
      assert.equal(fs.readdirSync('/proc/self/fd').length, fdsBefore, 'no fd was copied');
    });
    assert.equal(r.error, 'idle timeout');
    // The relay closed the very fds it was given.
    assert.throws(() => n.localAddress(fdA), { code: 'EBADF' });
    assert.throws(() => n.localAddress(fdB), { code: 'EBADF' });
    servers.forEach((sv) => sv.close());
  });
});

describe('native: SpliceRelay with options.connect', () => {
  type ConnectResult = { up: number; down: number; error?: string; connected?: boolean; connectError?: NativeError; connectTimedOut?: boolean };

  it('connects B itself, then relays both ways, and says it connected', async () => {
    const n = native();
    const [client, upstream] = await Promise.all([0, 1].map(() => echoServerWith()));
    try {
      // fdA: a dialled fd whose far end (client's accepted socket) plays the client.
      const fdA = await dial({ address: '127.0.0.1', port: client!.port });
      const done = new Promise<ConnectResult>((resolve) => {
        new n.SpliceRelay(fdA, null, { adopt: true, connect: { address: '127.0.0.1', port: upstream!.port, timeoutMs: 5_000 } }, resolve);
      });
      const [c, u] = await Promise.all([client!.accepted, upstream!.accepted]);
      c!.write('ping');
      const [up] = await onceWithin<[Buffer]>(u!, 'data');
      assert.equal(up.toString(), 'ping');
      u!.write('pong!');
      const [down] = await onceWithin<[Buffer]>(c!, 'data');
      assert.equal(down.toString(), 'pong!');
      c!.end();
      u!.end();
      const r = await done;
      assert.deepEqual({ up: r.up, down: r.down, error: r.error, connected: r.connected }, { up: 4, down: 5, error: undefined, connected: true });
    } finally {
      client!.server.close();
      upstream!.server.close();
    }
  });

  it('a refused connect ends the relay with connectError ECONNREFUSED and resets the client', async () => {
    const n = native();
    const client = await echoServerWith();
    const port = await closedPort();
    try {
      const fdA = await dial({ address: '127.0.0.1', port: client.port });
      const c = await client.accepted;
      const reset = new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve));
      const r = await new Promise<ConnectResult>((resolve) => {
        new n.SpliceRelay(fdA, null, { adopt: true, connect: { address: '127.0.0.1', port } }, resolve);
      });
      assert.equal(r.connected, false);
      assert.equal(r.connectError?.code, 'ECONNREFUSED');
      assert.equal(r.connectError?.syscall, 'connect');
      assert.equal(r.connectTimedOut, undefined);
      assert.match(r.error ?? '', /ECONNREFUSED/);
      assert.equal((await reset).code, 'ECONNRESET');
      // The relay closed the client fd it adopted.
      assert.throws(() => n.localAddress(fdA), { code: 'EBADF' });
    } finally {
      client.server.close();
    }
  });

  it('bad connect options throw EINVAL and leave the client fd to the caller', async () => {
    const n = native();
    const client = await echoServerWith();
    try {
      const fdA = await dial({ address: '127.0.0.1', port: client.port });
      assert.throws(() => new n.SpliceRelay(fdA, null, { adopt: true, connect: { address: 'not-an-ip', port: 80 } }, () => {}), { code: 'EINVAL' });
      assert.throws(() => new n.SpliceRelay(fdA, 5, { adopt: true, connect: { address: '127.0.0.1', port: 80 } }, () => {}), { code: 'EINVAL' });
      assert.throws(() => new n.SpliceRelay(fdA, null, { connect: { address: '127.0.0.1', port: 80 } }, () => {}), { code: 'EINVAL' });
      assert.equal(n.localAddress(fdA).address, '127.0.0.1', 'the fd is still open');
      n.closeFd(fdA);
    } finally {
      client.server.close();
    }
  });
});

describe('native: one epoll set for dials and relays', () => {
  it('a running relay keeps the event loop alive, as a socket does, and lets it go when done', async () => {
    // The peers live here; the relay in a child whose only handles are the dial and the relay.
    const servers = await Promise.all([0, 1].map(() => echoServerWith()));
    try {
      const script = `
        const { native } = require(${JSON.stringify(require.resolve('@sluice/native'))});
        const n = native();
        const dial = (port) => new Promise((res, rej) => new n.TcpDial({ address: '127.0.0.1', port }, (e, fd) => (e ? rej(e) : res(fd))));
        Promise.all([dial(${servers[0]!.port}), dial(${servers[1]!.port})]).then(([a, b]) => {
          new n.SpliceRelay(a, b, { adopt: true }, (r) => console.log(JSON.stringify(r)));
          console.log('relaying');
        });
        process.on('exit', () => console.log('exit'));`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const [a, b] = await Promise.all(servers.map((s) => s.accepted));
      while (!out.includes('relaying') && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
      // Long after the dials are done: the relay alone holds the child's loop.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(child.exitCode, null, `the child exited with only a relay running: ${out}`);
      a!.write('ping');
      const [data] = await onceWithin<[Buffer]>(b!, 'data');
      assert.equal(data.toString(), 'ping');
      a!.end();
      b!.end();
      const [code] = await onceWithin<[number]>(child, 'exit');
      assert.equal(code, 0);
      assert.match(out, /relaying\n\{"up":4,"down":0\}\nexit/);
    } finally {
      servers.forEach((s) => s.server.close());
    }
  });
});

describe('native: the epoll set of a worker thread', () => {
  it('a worker that exits with a dial and a relay running closes their sockets and its epoll fd, and the main thread carries on', async () => {
    // The relay's peers see the reset of a relay torn down mid-flow.
    const server = net.createServer({ allowHalfOpen: true }, (s) => s.on('error', () => {}).pipe(s));
    server.listen(0, '127.0.0.1');
    await onceWithin(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    try {
      const before = openFds();
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const { native } = require(workerData.addon);
        const n = native();
        const dial = () => new Promise((res, rej) => new n.TcpDial({ address: '127.0.0.1', port: workerData.port }, (e, fd) => (e ? rej(e) : res(fd))));
        Promise.all([dial(), dial()]).then(([a, b]) => {
          new n.SpliceRelay(a, b, { adopt: true }, () => {});
          // And one more dial, which may still be pending when the worker goes (closed either way).
          new n.TcpDial({ address: '127.0.0.1', port: workerData.port }, (e, fd) => fd !== undefined && n.closeFd(fd));
          parentPort.postMessage('running');
        });
      `;
      const worker = new Worker(code, { eval: true, workerData: { addon: require.resolve('@sluice/native'), port } });
      await onceWithin(worker, 'message', 10_000);
      await worker.terminate();
      await waitFor('the worker’s sockets and epoll fd to close', () => openFds() <= before);
      // The main thread's own dials still work.
      const fd = await dial({ address: '127.0.0.1', port });
      assert.equal(await roundTrip(fd, 'after'), 'after');
    } finally {
      server.close();
    }
  });
});

/** A server whose first accepted socket (allowHalfOpen) is handed out. */
async function echoServerWith(): Promise<{ server: net.Server; port: number; accepted: Promise<net.Socket> }> {
  let resolve!: (s: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (resolve = r));
  const server = net.createServer({ allowHalfOpen: true }, (s) => resolve(s));
  server.listen(0, '127.0.0.1');
  await onceWithin(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}
