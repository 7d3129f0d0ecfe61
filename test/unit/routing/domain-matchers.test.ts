import { strict as assert } from 'node:assert';
import { AllMatcher, AnyMatcher, DomainMatcher, DomainTrie, HostSet, KeywordSet, NetworkMatcher, NotMatcher } from '@sluice/core';
import { flow } from './flows';

describe('routing: domain structures and matchers', () => {
  it('DomainTrie: exact names, +. suffixes, . subdomains only, * one label', () => {
    const t = new DomainTrie();
    t.add('exact.test');
    t.add('+.suffix.test');
    t.add('.below.test');
    t.add('*.star.test');
    t.add('a.*.mid.test');
    const cases: [string, boolean][] = [
      ['exact.test', true],
      ['www.exact.test', false],
      ['suffix.test', true],
      ['a.b.suffix.test', true],
      ['notsuffix.test', false],
      ['below.test', false],
      ['x.below.test', true],
      ['x.y.below.test', true],
      ['star.test', false],
      ['x.star.test', true],
      ['x.y.star.test', false],
      ['a.q.mid.test', true],
      ['b.q.mid.test', false],
      ['test', false],
      ['', false],
    ];
    for (const [host, want] of cases) assert.equal(t.has(host), want, host);
    assert.equal(t.size, 5);
  });

  it('DomainTrie.addSuffix: example.com matches itself and every name under it (sing-box domain_suffix)', () => {
    const t = new DomainTrie();
    t.addSuffix('example.com');
    t.addSuffix('.only-below.com');
    assert.equal(t.has('example.com'), true);
    assert.equal(t.has('deep.www.example.com'), true);
    assert.equal(t.has('badexample.com'), false);
    assert.equal(t.has('only-below.com'), false);
    assert.equal(t.has('x.only-below.com'), true);
  });

  it('HostSet: case-insensitive, a trailing dot ignored, all four kinds', () => {
    const s = new HostSet({ domain: ['Exact.Test'], domain_suffix: ['suffix.test.'], domain_keyword: ['Track'], domain_regex: ['^ads[0-9]+\\.'] });
    assert.equal(s.has('EXACT.test.'), true);
    assert.equal(s.has('WWW.Suffix.Test'), true);
    assert.equal(s.has('my-tracker.example'), true);
    assert.equal(s.has('ADS12.example'), true);
    assert.equal(s.has('ads.example'), false);
    assert.equal(s.has('other.test'), false);
    assert.equal(s.size, 4);
  });

  it('KeywordSet: the combined expression (tens of keywords) and the automaton (thousands) agree with a scan', () => {
    let seed = 7;
    // xorshift32: a small LCG repeats too soon to draw thousands of distinct words.
    const rnd = (n: number): number => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), (seed >>> 0) % n);
    const word = (len: number): string => Array.from({ length: len }, () => 'abcdefgh.'[rnd(9)]).join('');
    for (const count of [40, 3000]) {
      const keywords = Array.from({ length: count }, () => word(3 + rnd(4)));
      const set = new KeywordSet(keywords);
      assert.ok(set.size > (count === 40 ? 8 : 2000), `${set.size} distinct keywords`);
      for (let i = 0; i < 2000; i++) {
        const text = word(rnd(24));
        assert.equal(set.has(text), keywords.some((k) => text.includes(k)), `${count}: ${text}`);
      }
    }
    const small = new KeywordSet(['ads', 'track']);
    assert.equal(small.has('x.tracker.com'), true);
    assert.equal(small.has('x.example.com'), false);
  });

  it('DomainMatcher: never matches a flow without a host; the four fields OR together', () => {
    const m = new DomainMatcher({ domain: ['a.test'], domain_suffix: ['b.test'] });
    assert.equal(m.match(flow()), false);
    assert.equal(m.match(flow({ host: '' })), false);
    assert.equal(m.match(flow({ host: 'A.TEST' })), true);
    assert.equal(m.match(flow({ host: 'x.b.test' })), true);
    assert.equal(m.match(flow({ host: 'c.test' })), false);
    assert.equal(String(m), '(domain=a.test || domain_suffix=b.test)');
  });

  it('all / any / not compose, and not() of a domain condition matches host-less flows', () => {
    const dom = new DomainMatcher({ domain_suffix: ['a.test'] });
    const udp = new NetworkMatcher(['udp']);
    const all = new AllMatcher([dom, udp]);
    const any = new AnyMatcher([dom, udp]);
    const not = new NotMatcher(dom);
    assert.equal(all.match(flow({ host: 'a.test', network: 'udp' })), true);
    assert.equal(all.match(flow({ host: 'a.test' })), false);
    assert.equal(any.match(flow({ network: 'udp' })), true);
    assert.equal(any.match(flow({ host: 'b.test' })), false);
    assert.equal(not.match(flow()), true);
    assert.equal(not.match(flow({ host: 'www.a.test' })), false);
    assert.equal(String(new NotMatcher(all)), 'not(all(domain_suffix=a.test && network=udp))');
  });
});
