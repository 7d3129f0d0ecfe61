import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import { relayTcp } from '@sluice/core';
import { socketPair, waitUntil } from './fakes';

function collect(s: net.Socket): { data: () => string; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return { data: () => Buffer.concat(chunks).toString(), ended: new Promise((r) => s.once('end', () => r())) };
}

describe('relayTcp', () => {
  it('carries bytes both ways, passes half-close on, and counts bytes', async () => {
    const client = await socketPair(); // client.a = the application, client.b = accepted by Sluice
    const upstream = await socketPair(); // upstream.a = Sluice's outbound, upstream.b = the server
    const relay = relayTcp(client.b, upstream.a, { idleMs: 0 });
    const atServer = collect(upstream.b);
    const atClient = collect(client.a);
    client.a.write('hello');
    await waitUntil(() => atServer.data() === 'hello', 'request at server');
    client.a.end(); // the client is done sending but still wants the answer
    await atServer.ended;
    upstream.b.write('answer after EOF');
    upstream.b.end();
    await atClient.ended;
    assert.equal(atClient.data(), 'answer after EOF');
    const r = await relay.result;
    assert.deepEqual(r, { up: 5, down: 16 });
  });

  it('applies backpressure: a slow reader does not make the relay buffer grow', async () => {
    const client = await socketPair();
    const upstream = await socketPair();
    const relay = relayTcp(client.b, upstream.a, { idleMs: 0 });
    upstream.b.pause();
    const total = 48 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < total / chunk.length; i++) client.a.write(chunk);
    // Give the relay time to move whatever the kernel buffers allow.
    await new Promise((r) => setTimeout(r, 500));
    const buffered = client.b.readableLength + upstream.a.writableLength;
    assert.ok(buffered < 4 * 1024 * 1024, `relay buffers ${buffered} bytes while the reader is paused`);
    assert.ok(client.a.writableLength > 8 * 1024 * 1024, 'the sender should be held back');
    let received = 0;
    upstream.b.on('data', (c: Buffer) => void (received += c.length));
    upstream.b.resume();
    await waitUntil(() => received === total, 'all bytes to arrive', 20000);
    client.a.end();
    upstream.b.end();
    const r = await relay.result;
    assert.equal(r.up, total);
    assert.equal(r.error, undefined);
  });

  it('closes both sides after the idle timeout', async () => {
    const client = await socketPair();
    const upstream = await socketPair();
    client.a.on('error', () => {});
    upstream.b.on('error', () => {});
    const relay = relayTcp(client.b, upstream.a, { idleMs: 150 });
    const r = await relay.result;
    assert.equal(r.error, 'idle timeout');
    await waitUntil(() => client.a.destroyed || client.a.readableEnded, 'client side to close');
  });

  it('resets the client when the upstream resets', async () => {
    const client = await socketPair();
    const upstream = await socketPair();
    const clientErr = new Promise<NodeJS.ErrnoException>((r) => client.a.once('error', r));
    const relay = relayTcp(client.b, upstream.a, { idleMs: 0 });
    upstream.b.resetAndDestroy();
    const r = await relay.result;
    assert.match(r.error ?? '', /^upstream: ECONNRESET/);
    assert.equal((await clientErr).code, 'ECONNRESET');
  });

  it('abort() ends the flow with the given reason', async () => {
    const client = await socketPair();
    const upstream = await socketPair();
    client.a.on('error', () => {});
    upstream.b.on('error', () => {});
    const relay = relayTcp(client.b, upstream.a, { idleMs: 0 });
    relay.abort('shutdown');
    assert.equal((await relay.result).error, 'shutdown');
  });
});
