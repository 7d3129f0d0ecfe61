import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint, FlowContext, FlowRouter, UdpSessionEnd, UdpSessionRelay } from '@sluice/core';
import { createFlowHarness, type FlowHarness } from '@sluice/core/testing';
import { FakeDatagramPort, FakeOutbound, captureLogger, socketPair, waitUntil } from './fakes';

const flowLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'flow closed');

/** An inbound's native session table as the flow side sees it; the test sets how idle its oldest session is. */
class FakeRelay implements UdpSessionRelay {
  readonly attached = new Map<number, Endpoint>();
  /** Idle time reported for the oldest (first attached) session; undefined: the relay cannot say (no `oldest`). */
  oldestIdleMs: number | undefined = 0;
  attach(id: number, src: Endpoint): readonly UdpSessionEnd[] {
    this.attached.set(id, src);
    return [];
  }
  detach(id: number): UdpSessionEnd | undefined {
    return this.attached.delete(id) ? { id, up: 0, down: 0, reason: 'closed' } : undefined;
  }
  discard(): void {}
  oldest(): { id: number; idleMs: number } | undefined {
    const [first] = this.attached.keys();
    return first === undefined ? undefined : { id: first, idleMs: this.oldestIdleMs ?? 0 };
  }
}

describe('Limits: one UDP session cap for both tables and every inbound', () => {
  const dst = { address: '198.19.2.2', port: 53 };
  const plainDst = { address: '198.19.2.2', port: 54 };
  const client = (port: number) => ({ address: '198.18.1.2', port });

  /** Port 53 goes to `direct` (hands over an fd: relayed), port 54 to `plain` (a packet channel: the JavaScript table). */
  function setup(maxSessions: number) {
    const { logger, lines } = captureLogger();
    const direct = new FakeOutbound('direct');
    let fd = 100;
    Object.assign(direct, { dialUdpFd: async (_ctx: FlowContext) => fd++ });
    const plain = new FakeOutbound('plain');
    const route: FlowRouter = { route: (f) => ({ rule: 'r', outbound: f.dst.port === 53 ? 'direct' : 'plain' }) };
    const h = createFlowHarness({ outbounds: [direct, plain], route, logger, maxSessions, connectTimeoutMs: 1000 });
    const relay1 = new FakeRelay();
    const relay2 = new FakeRelay();
    const port1 = new FakeDatagramPort('in1', relay1);
    const port2 = new FakeDatagramPort('in2', relay2);
    return { h, lines, plain, relay1, relay2, port1, port2 };
  }

  it('counts relayed sessions of every inbound and the JavaScript table against one cap', async () => {
    const { h, lines, plain, relay1, relay2, port1, port2 } = setup(3);
    assert.equal(h.sink.sessionRelayLimits?.maxSessions, 3, 'each native table gets the whole cap, so it never evicts first');
    h.sink.onDatagram(Buffer.from('a'), client(1001), dst, port1);
    h.sink.onDatagram(Buffer.from('b'), client(1002), dst, port2);
    h.sink.onDatagram(Buffer.from('c'), client(1003), plainDst, port1);
    await waitUntil(() => relay1.attached.size === 1 && relay2.attached.size === 1 && plain.channels.length === 1, 'three sessions');
    assert.equal(h.active.udp, 3);
    // Inbound 2's session has been idle longest: the fourth session closes it, nobody else.
    relay1.oldestIdleMs = 100;
    relay2.oldestIdleMs = 5000;
    h.sink.onDatagram(Buffer.from('d'), client(1004), dst, port1);
    await waitUntil(() => relay1.attached.size === 2, 'fourth session attached');
    assert.equal(h.active.udp, 3, 'the total stays at the cap');
    assert.equal(relay2.attached.size, 0);
    const evicted = flowLines(lines);
    assert.equal(evicted.length, 1);
    assert.equal(evicted[0].src, '198.18.1.2:1002');
    assert.equal(evicted[0].error, 'session limit');
    h.closeAll();
  });

  it('closes a session of the JavaScript table when it is the least recently used of all', async () => {
    const { h, lines, plain, relay1, port1 } = setup(2);
    h.sink.onDatagram(Buffer.from('c'), client(2001), plainDst, port1);
    h.sink.onDatagram(Buffer.from('a'), client(2002), dst, port1);
    await waitUntil(() => relay1.attached.size === 1 && plain.channels.length === 1, 'two sessions');
    await new Promise((r) => setTimeout(r, 30));
    relay1.oldestIdleMs = 0;
    h.sink.onDatagram(Buffer.from('b'), client(2003), dst, port1);
    await waitUntil(() => relay1.attached.size === 2, 'third session attached');
    assert.equal(plain.channels[0].closed, true, 'the channel session was idle longest');
    assert.equal(h.active.udp, 2);
    assert.equal(flowLines(lines)[0].src, '198.18.1.2:2001');
    h.closeAll();
  });

  it('closes the earliest attached session of a relay that cannot say which is least recently used', async () => {
    const { h, lines, relay1, port1 } = setup(2);
    Object.assign(relay1, { oldest: undefined });
    h.sink.onDatagram(Buffer.from('a'), client(3001), dst, port1);
    await waitUntil(() => relay1.attached.size === 1, 'first');
    h.sink.onDatagram(Buffer.from('b'), client(3002), dst, port1);
    await waitUntil(() => relay1.attached.size === 2, 'second');
    h.sink.onDatagram(Buffer.from('c'), client(3003), dst, port1);
    await waitUntil(() => flowLines(lines).length === 1, 'one evicted');
    assert.equal(flowLines(lines)[0].src, '198.18.1.2:3001');
    await waitUntil(() => relay1.attached.size === 2, 'third attached');
    assert.equal(h.active.udp, 2);
    h.closeAll();
  });
});

describe('Limits: max_tcp_flows', () => {
  /** A loopback listener whose connections go to the harness, as the tproxy inbound's socket path hands them over. */
  async function listenInto(h: FlowHarness): Promise<{ port: number; server: net.Server }> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
      h.sink.accept(s, { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 }, { address: s.localAddress ?? '', port: s.localPort ?? 0 }, 'in4');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, server };
  }

  /** Connects and resolves with how the connection ended: the data echoed, or the error. */
  function connectAndSend(port: number, text: string): { socket: net.Socket; outcome: Promise<string> } {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const outcome = new Promise<string>((resolve) => {
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      socket.once('data', (d) => resolve(`data:${d.toString()}`));
    });
    socket.write(text);
    return { socket, outcome };
  }

  it('resets new flows at the cap, with an access-log line and one rate-limited warning; open flows keep working', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const upstreams: Duplex[] = [];
    // Each dial gets an echoing upstream.
    out.onDialTcp = async () => {
      const pair = await socketPair();
      pair.b.on('data', (d) => pair.b.write(d));
      pair.b.on('end', () => pair.b.end());
      upstreams.push(pair.b);
      return pair.a;
    };
    const h = createFlowHarness({ outbounds: [out], logger, maxTcpFlows: 2 });
    const { port, server } = await listenInto(h);
    const sockets: net.Socket[] = [];
    try {
      const a = connectAndSend(port, 'a');
      const b = connectAndSend(port, 'b');
      sockets.push(a.socket, b.socket);
      assert.equal(await a.outcome, 'data:a');
      assert.equal(await b.outcome, 'data:b');
      const refused = [connectAndSend(port, 'c'), connectAndSend(port, 'd')];
      sockets.push(...refused.map((r) => r.socket));
      assert.deepEqual(await Promise.all(refused.map((r) => r.outcome)), ['ECONNRESET', 'ECONNRESET']);
      assert.equal(out.tcpDials.length, 2, 'a refused flow is neither routed nor dialled');
      const limitLines = flowLines(lines).filter((l) => l.error === 'limit: max_tcp_flows (2) reached');
      assert.equal(limitLines.length, 2);
      assert.equal(lines.filter((l) => l.msg === 'refused new tcp flows: limits.max_tcp_flows reached').length, 1, 'one warning for the burst');
      // The flows already open still carry data.
      const again = new Promise<string>((r) => a.socket.once('data', (d) => r(d.toString())));
      a.socket.write('still');
      assert.equal(await again, 'still');
      // One ends: a new flow fits again.
      a.socket.destroy();
      await waitUntil(() => h.active.tcp === 1, 'a flow ended');
      const e = connectAndSend(port, 'e');
      sockets.push(e.socket);
      assert.equal(await e.outcome, 'data:e');
    } finally {
      for (const s of sockets) s.destroy();
      for (const u of upstreams) u.destroy();
      h.abortAll('test over');
      server.close();
    }
  });
});
