import { strict as assert } from 'node:assert';
import { UdpSessionTable } from '@sluice/core';

class S {
  lastActive = 0;
  closedWith?: string;
  close(reason?: string): void {
    this.closedWith = reason ?? 'closed';
  }
}

describe('UdpSessionTable', () => {
  it('expires idle sessions and keeps active ones', () => {
    let now = 1_000_000;
    const t = new UdpSessionTable<S>({ maxSessions: 10, idleMs: 30_000, now: () => now });
    const a = new S();
    const b = new S();
    t.add('a', a);
    t.add('b', b);
    now += 20_000;
    t.touch('a', a);
    now += 15_000; // b idle 35 s, a idle 15 s
    assert.equal(t.sweep(), 1);
    assert.equal(b.closedWith, 'idle timeout');
    assert.equal(a.closedWith, undefined);
    assert.equal(t.get('a'), a);
    assert.equal(t.size, 1);
  });

  it('evicts the least recently used session at the cap', () => {
    let now = 0;
    const t = new UdpSessionTable<S>({ maxSessions: 2, idleMs: 60_000, now: () => now });
    const a = new S();
    const b = new S();
    const c = new S();
    t.add('a', a);
    now += 2000;
    t.add('b', b);
    now += 2000;
    t.touch('a', a); // a is now more recent than b
    t.add('c', c);
    assert.equal(b.closedWith, 'session limit');
    assert.equal(a.closedWith, undefined);
    assert.equal(t.size, 2);
  });

  it('closeAll closes every session', () => {
    const t = new UdpSessionTable<S>({ maxSessions: 5, idleMs: 1000 });
    const ss = [new S(), new S()];
    ss.forEach((s, i) => t.add(String(i), s));
    t.closeAll('shutdown');
    assert.deepEqual(ss.map((s) => s.closedWith), ['shutdown', 'shutdown']);
    assert.equal(t.size, 0);
  });
});
