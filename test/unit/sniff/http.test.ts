import { strict as assert } from 'node:assert';
import { MAX_HTTP_HEAD_BYTES, MAX_SNIFF_BYTES, StreamSniffer, sniffHttp, sniffStream, type SniffOutcome } from '@sluice/core';

const found = (host: string): SniffOutcome => ({ kind: 'found', protocol: 'http', host });
const NONE: SniffOutcome = { kind: 'none' };
const MORE: SniffOutcome = { kind: 'more' };
const http = (s: string): SniffOutcome => sniffHttp(Buffer.from(s, 'latin1'));

describe('sniff: HTTP/1 Host', () => {
  it('reads Host after every method, in any case of the header name', () => {
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']) {
      assert.deepEqual(http(`${m} / HTTP/1.1\r\nHost: a.example\r\n\r\n`), found('a.example'), m);
    }
    for (const name of ['host', 'HOST', 'hOsT']) assert.deepEqual(http(`GET / HTTP/1.1\r\nAccept: */*\r\n${name}:b.example\r\n\r\n`), found('b.example'), name);
  });

  it('strips the port, the brackets of an IPv6 literal, spaces and a trailing dot, and lower-cases', () => {
    const cases: [string, string][] = [
      ['Example.COM:8080', 'example.com'],
      ['[2001:DB8::1]:8443', '2001:db8::1'],
      ['[::1]', '::1'],
      ['192.0.2.7:80', '192.0.2.7'],
      ['  spaced.example \t', 'spaced.example'],
      ['dot.example.', 'dot.example'],
    ];
    for (const [value, host] of cases) assert.deepEqual(http(`GET / HTTP/1.1\r\nHost: ${value}\r\n\r\n`), found(host), value);
  });

  it('answers as soon as the Host line is whole, without waiting for the end of the head', () => {
    assert.deepEqual(http('POST /x HTTP/1.1\r\nHost: early.example\r\nContent-'), found('early.example'));
    assert.deepEqual(http('GET / HTTP/1.0\nHost: lf.example\n'), found('lf.example'), 'bare LF line ends');
    assert.deepEqual(http('GET / HTTP/1.1\r\nHost: early.exa'), MORE, 'the Host line itself is not whole');
  });

  it('says `more` for every prefix of a request head, and finds the name at the end', () => {
    const head = 'OPTIONS * HTTP/1.1\r\nUser-Agent: t\r\nHost: prefix.example\r\n';
    for (let n = 0; n < head.length; n++) assert.deepEqual(http(head.slice(0, n)), MORE, JSON.stringify(head.slice(0, n)));
    assert.deepEqual(http(head), found('prefix.example'));
  });

  it('takes the authority of an absolute-form target when there is no Host', () => {
    assert.deepEqual(http('GET http://user@abs.example:81/p?q HTTP/1.1\r\nAccept: */*\r\n\r\n'), found('abs.example'));
    assert.deepEqual(http('GET http://abs.example/ HTTP/1.1\r\nHost: host.example\r\n\r\n'), found('host.example'), 'Host wins');
  });

  it('says `none` for heads that name nothing or are malformed', () => {
    const cases = [
      'GET / HTTP/1.0\r\n\r\n',
      'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'GET /\r\n',
      'GET / HTTP/2\r\nHost: a\r\n',
      'get / HTTP/1.1\r\nHost: a\r\n',
      'GETX / HTTP/1.1\r\n',
      'GET / HTTP/1.1\r\nHost: a b\r\n',
      'GET / HTTP/1.1\r\nHost: a:b\r\n',
      'GET / HTTP/1.1\r\nHost: a:1:2\r\n',
      'GET / HTTP/1.1\r\nHost: [zz]:1\r\n',
      'GET / HTTP/1.1\r\nHost: [::1\r\n',
      'GET / HTTP/1.1\r\nHost: \r\n',
      'GET / HTTP/1.1\r\nHost: a:123456\r\n',
    ];
    for (const c of cases) assert.deepEqual(http(c), NONE, JSON.stringify(c));
  });

  it('gives up with `none` once the head passes its cap without a Host', () => {
    const long = `GET / HTTP/1.1\r\nX-Long: ${'a'.repeat(MAX_HTTP_HEAD_BYTES)}`;
    assert.deepEqual(http(long.slice(0, MAX_HTTP_HEAD_BYTES - 1)), MORE);
    assert.deepEqual(http(long), NONE);
    const many = `GET / HTTP/1.1\r\n${'X: y\r\n'.repeat(MAX_HTTP_HEAD_BYTES / 6)}Host: late.example\r\n`;
    assert.deepEqual(http(many), NONE, 'a Host past the cap is not read');
  });
});

describe('sniff: the stream sniffer', () => {
  it('says `more` for nothing yet, and `none` at once for other protocols', () => {
    assert.deepEqual(sniffStream(Buffer.alloc(0)), MORE);
    for (const other of ['SSH-2.0-OpenSSH_9.2\r\n', 'EHLO x\r\n', '\x00\x00\x00\x08', 'G\x00', '*1\r\n$4\r\nPING\r\n']) {
      assert.deepEqual(sniffStream(Buffer.from(other, 'latin1')), NONE, JSON.stringify(other));
    }
    assert.deepEqual(sniffStream(Buffer.from('G')), MORE, 'a method prefix');
    assert.deepEqual(sniffStream(Buffer.from([0x16])), MORE, 'a record type byte');
  });

  it('chooses the parser by the first byte and keeps every byte pushed', () => {
    const s = new StreamSniffer();
    assert.deepEqual(s.push(Buffer.from('GET / HT')), MORE);
    assert.deepEqual(s.push(Buffer.from('TP/1.1\r\nHost: s.example\r\n')), found('s.example'));
    assert.equal(s.bytes.toString(), 'GET / HTTP/1.1\r\nHost: s.example\r\n');
  });

  it('says `none` past its overall cap', () => {
    assert.deepEqual(sniffStream(Buffer.alloc(MAX_SNIFF_BYTES + 1, 0x16)), NONE);
  });
});
