/**
 * The probe's two helper programs, run with `node -e` inside their
 * namespaces. The server answers every TCP connection and UDP datagram with
 * the source address it saw: the host's address means Sluice re-originated
 * the flow, the client's means it was forwarded past Sluice.
 */

/** argv: address, port, lifetime in ms. Prints `ready` once both sockets are bound; exits after the lifetime. */
export const PROBE_SERVER = `
const net = require('node:net'); const dgram = require('node:dgram');
const [address, port, lifeMs] = process.argv.slice(1);
const tcp = net.createServer((s) => { s.on('error', () => {}); s.end(s.remoteAddress + '\\n'); });
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(rinfo.address + '\\n', rinfo.port, rinfo.address));
let bound = 0;
const ready = () => { if (++bound === 2) process.stdout.write('ready\\n'); };
tcp.listen({ host: address, port: Number(port) }, ready);
udp.bind({ address, port: Number(port) }, ready);
setTimeout(() => process.exit(0), Number(lifeMs)).unref();
setInterval(() => {}, 1 << 30);
`;

/** argv: address, port, timeout in ms, networks (`tcp,udp`). Prints one JSON line: {@link ProbeOutcome}. */
export const PROBE_CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const [address, port, timeoutMs, networks] = process.argv.slice(1);
const ms = Number(timeoutMs);
function tcp() {
  return new Promise((resolve) => {
    const out = { connected: false, reply: '', error: undefined };
    const s = net.connect({ host: address, port: Number(port) });
    const timer = setTimeout(() => { out.error = out.error || 'timeout'; s.destroy(); }, ms);
    s.on('connect', () => { out.connected = true; });
    s.on('data', (d) => { out.reply += d.toString(); });
    s.on('error', (e) => { out.error = e.code || e.message; });
    s.on('close', () => { clearTimeout(timer); out.reply = out.reply.trim(); resolve(out); });
  });
}
function udp() {
  return new Promise((resolve) => {
    const out = { reply: '', error: undefined };
    const s = dgram.createSocket('udp4');
    const done = () => { clearTimeout(timer); try { s.close(); } catch {} resolve(out); };
    const timer = setTimeout(() => { out.error = 'timeout'; done(); }, ms);
    s.on('message', (m) => { out.reply = m.toString().trim(); done(); });
    s.on('error', (e) => { out.error = e.code || e.message; done(); });
    s.connect(Number(port), address, () => s.send('sluice doctor probe'));
  });
}
(async () => {
  const want = networks.split(',');
  const result = {};
  if (want.includes('tcp')) result.tcp = await tcp();
  if (want.includes('udp')) result.udp = await udp();
  process.stdout.write(JSON.stringify(result) + '\\n');
})();
`;

/** What the client saw over TCP. */
export interface TcpOutcome {
  /** The handshake completed: a socket (Sluice's listener, when captured) accepted it. */
  readonly connected: boolean;
  /** The address the probe server saw, when its answer came back. */
  readonly reply: string;
  readonly error?: string;
}

/** What the client saw over UDP. */
export interface UdpOutcome {
  readonly reply: string;
  readonly error?: string;
}

/** The client's one JSON line. */
export interface ProbeOutcome {
  readonly tcp?: TcpOutcome;
  readonly udp?: UdpOutcome;
}
