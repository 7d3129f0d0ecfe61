import * as assert from 'node:assert/strict';
import { parseConfig } from '@sluice/core';

function parse(control: unknown): ReturnType<typeof parseConfig> {
  return parseConfig(JSON.stringify({ inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 7000 }], outbounds: [{ tag: 'out', type: 'direct' }], route: { final: 'out' }, control }), { baseDir: __dirname });
}

function issues(control: unknown): string[] {
  try {
    parse(control);
  } catch (err) {
    return ((err as { issues?: { path: string; message: string }[] }).issues ?? []).map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('config: control', function () {
  it('is off unless configured', () => {
    assert.equal(parse(undefined).control, undefined);
  });

  it('defaults: loopback 9090, CORS for any origin (with a secret), no UI, metrics behind auth', () => {
    assert.deepEqual(parse({}).control, { host: '127.0.0.1', port: 9090, listen: '127.0.0.1:9090', cors_origins: ['*'], ui: false, metrics_without_auth: false });
  });

  it('takes IPv6 listens in brackets and a secret', () => {
    const c = parse({ listen: '[::1]:9999', secret: 'x' }).control!;
    assert.equal(c.host, '::1');
    assert.equal(c.port, 9999);
    assert.equal(c.secret, 'x');
  });

  it('refuses a non-loopback listen without a secret, naming the key', () => {
    assert.deepEqual(issues({ listen: '0.0.0.0:9090' }), ['control.secret: required when control.listen (0.0.0.0:9090) is not a loopback address: without it anyone on the network could drive the API']);
    assert.deepEqual(issues({ listen: '192.0.2.1:9090', secret: 'x' }), []);
  });

  it('reports bad keys and values with their paths', () => {
    assert.deepEqual(issues({ listen: 'localhost:9090' }).map((i) => i.split(':')[0]), ['control.listen']);
    assert.deepEqual(issues({ listen: '127.0.0.1:70000' }).map((i) => i.split(':')[0]), ['control.listen']);
    assert.deepEqual(issues({ secret: 5 }), ['control.secret: must be a non-empty string']);
    assert.deepEqual(issues({ cors_origins: ['*', 'ftp://x', 'http://ok.example'] }), ['control.cors_origins[1]: must be "*" or an origin such as "https://example.org" (got "ftp://x")']);
    assert.deepEqual(issues({ ui: 'yes' }), ['control.ui: must be true or false (got "yes")']);
    assert.deepEqual(issues({ secrte: 'x' }), ['control.secrte: unknown key "secrte" (did you mean "secret"?)']);
  });
});
