import { strict as assert } from 'node:assert';
import { isConfigError, parseConfig, validateOutbounds } from '@sluice/core';
import { runFuzz } from './harness';
import type { Prng } from './prng';

/*
 * The config loader on random documents: YAML and JSON text built from the
 * real keys with values of every type, then sometimes mangled as text. Every
 * outcome is a config or a ConfigError, never another exception.
 */

const KEYS: Record<string, readonly string[]> = {
  '': ['log', 'plugins', 'inbounds', 'outbounds', 'route', 'firewall', 'timeouts', 'udp', 'workers', 'worker_mode', 'relay', 'limits'],
  log: ['level'],
  inbounds: ['tag', 'type', 'listen', 'port', 'network', 'reuse_port'],
  outbounds: ['tag', 'type', 'mark', 'interface', 'local_address', 'server', 'port', 'version', 'username', 'password', 'via', 'udp', 'connect_timeout_ms', 'handshake_timeout_ms', 'transparent'],
  route: ['rules', 'final', 'hook_timeout_ms'],
  rules: ['name', 'outbound', 'network', 'inbound', 'src_cidr', 'dst_cidr', 'src_port', 'dst_port'],
  firewall: ['fwmark', 'table', 'bypass_mark', 'interfaces', 'bypass_cidr', 'local'],
  timeouts: ['connect_ms', 'idle_ms', 'udp_idle_ms', 'drain_ms'],
  udp: ['max_sessions'],
  relay: ['splice', 'native_udp'],
};

const STRINGS = ['', 'in', 'out', 'direct', 'socks', 'block', 'tproxy', 'tcp', 'udp', '127.0.0.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1', 'fe80::1', '10.0.0.0/8', '10.0.0.1/33', '2001:db8::/129', '0x2', '0xffffffff', '5000-5100', '70000', '-1', 'auto', 'thread', 'process', 'debug', 'eth0', 'wg*', 'a'.repeat(300), '\u0000', 'ü', 'constructor', '__proto__', 'toString'];
const NUMBERS = [0, 1, -1, 2, 53, 100, 15001, 65535, 65536, 0.5, 1e21, -0, Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 32 - 1, 253];

function scalar(rng: Prng): unknown {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(STRINGS);
    case 1:
      return rng.pick(NUMBERS);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    default:
      return rng.bytes(rng.size(12)).toString('latin1');
  }
}

/** A value for `key`: usually of a plausible shape, sometimes anything. */
function value(rng: Prng, key: string, depth: number): unknown {
  if (depth > 6 || rng.chance(0.3)) return scalar(rng);
  if (key === 'inbounds' || key === 'outbounds' || key === 'rules') {
    return Array.from({ length: rng.size(4) }, () => (rng.chance(0.9) ? object(rng, key, depth + 1) : value(rng, '', depth + 1)));
  }
  if (KEYS[key] !== undefined) return object(rng, key, depth + 1);
  if (rng.chance(0.3)) return Array.from({ length: rng.size(4) }, () => value(rng, '?', depth + 1));
  return scalar(rng);
}

function object(rng: Prng, section: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = KEYS[section] ?? [];
  for (let n = rng.size(keys.length + 1); n > 0; n--) {
    const key = rng.chance(0.95) && keys.length > 0 ? rng.pick(keys) : rng.pick(['x', 'prot', '__proto__', 'constructor', '']);
    out[key] = value(rng, key, depth);
  }
  return out;
}

/** YAML-only syntax spliced into the text: anchors, aliases, merges, tags, flow and block markers. */
const SPLICES = ['&a ', '*a', '<<: *a', '!!str ', '!!binary ', '? ', '- ', ': ', '\n  ', '\n', '"', "'", '{', '}', '[', ']', ',', '#', '|\n  x', '%YAML 1.2\n---\n', '---\n', '...\n', '\t', '0x', '~'];

/** A config `sluice check` accepts: the starting point that mutations move away from. */
function validConfig(): Record<string, unknown> {
  return {
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
    outbounds: [
      { tag: 'direct', type: 'direct', mark: 2 },
      { tag: 'hop', type: 'socks', server: '127.0.0.1', port: 1080 },
      { tag: 'deny', type: 'block' },
    ],
    route: { rules: [{ dst_port: [53], network: 'udp', outbound: 'hop' }], final: 'direct' },
  };
}

/** Sets, deletes or adds one key somewhere in `doc`, or appends a random entry to a list. */
function mutateDoc(rng: Prng, doc: Record<string, unknown>): void {
  let node: unknown = doc;
  let section = '';
  for (let depth = 0; depth < 4 && rng.chance(0.7); depth++) {
    const container = node as Record<string, unknown> | unknown[];
    const keys = Object.keys(container);
    if (keys.length === 0) break;
    const key = rng.pick(keys);
    const next = (container as Record<string, unknown>)[key];
    if (next === null || typeof next !== 'object') break;
    if (!Array.isArray(container)) section = key;
    node = next;
  }
  if (Array.isArray(node)) {
    if (rng.chance(0.5)) node.push(rng.chance(0.8) ? object(rng, section, 3) : scalar(rng));
    else if (node.length > 0) node.splice(rng.int(node.length), 1);
    return;
  }
  const target = node as Record<string, unknown>;
  const keys = KEYS[section] ?? KEYS[''];
  const key = rng.chance(0.9) ? rng.pick(keys) : rng.pick(['x', 'prot', '__proto__', 'constructor']);
  if (rng.chance(0.2)) delete target[key];
  else target[key] = value(rng, key, 4);
}

function document(rng: Prng): { text: string; format: 'yaml' | 'json' } {
  let doc: unknown;
  if (rng.chance(0.9)) {
    const base = validConfig();
    for (let n = rng.size(3); n > 0; n--) mutateDoc(rng, base);
    doc = base;
  } else doc = rng.chance(0.5) ? object(rng, '', 0) : value(rng, '?', 0);
  let text = JSON.stringify(doc) ?? 'null';
  const format = rng.chance(0.5) ? 'json' : 'yaml';
  for (let n = rng.chance(0.2) ? rng.size(4) : 0; n > 0; n--) {
    const at = rng.int(text.length + 1);
    text = rng.chance(0.8) ? text.slice(0, at) + rng.pick(SPLICES) + text.slice(at) : text.slice(0, at) + text.slice(at + rng.size(10));
  }
  return { text, format };
}

describe('fuzz: config loader', () => {
  it('an alias before its anchor is a ConfigError (found by this fuzzer: yaml threw a ReferenceError)', () => {
    assert.throws(
      () => parseConfig('{"timeouts": {"connect_ms": *a, "idle_ms": &a 5}}', { format: 'json', baseDir: '/' }),
      (err: unknown) => isConfigError(err) && /^JSON error: Unresolved alias/.test(err.message),
    );
  });

  it('parseConfig (and validateOutbounds on what it accepts) returns a config or throws a ConfigError', async () => {
    let accepted = 0;
    await runFuzz({
      name: 'config',
      // A YAML parse is some 100-400 µs (measured: this test's report line), 50-100 times a binary parser's input:
      // a tenth of the inputs keeps npm test's run in seconds; `npm run fuzz` still gives it 100,000.
      share: 0.1,
      generate: document,
      check: ({ text, format }) => {
        try {
          const config = parseConfig(text, { format, baseDir: '/nonexistent' });
          accepted++;
          // Plugins named by a random document would be looked up on disk (and missing, a plugin error): not this target.
          if (config.plugins.length === 0) validateOutbounds(config);
        } catch (err) {
          if (!isConfigError(err)) throw err;
          assert.ok(err.issues.length > 0, 'a ConfigError with no issues');
        }
      },
      show: ({ text, format }) => `${format}: ${JSON.stringify(text)}`,
    });
    // The generator must reach past the syntax errors, or the validator is not being fuzzed.
    console.log(`      fuzz config: ${accepted} documents accepted by parseConfig, and passed on to validateOutbounds`);
    assert.ok(accepted > 0, 'no generated document was a valid config');
  });
});
