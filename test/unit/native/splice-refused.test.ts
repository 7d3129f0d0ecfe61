import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

/**
 * splice() refused (EINVAL, as a kernel or sandbox without it for some fds
 * says) on any fd of one flow only: a shim preloaded into a child node
 * (`LD_PRELOAD`) wraps libc's splice() and fails it for sockets whose local or
 * peer port is SLUICE_TEST_REFUSE_PORT. Other fds splice for real.
 */
const SHIM = `
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

static int port_is(int fd, int port) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  struct sockaddr_in addr = {0};
  socklen_t length = sizeof addr;
  if (getsockname(fd, (struct sockaddr*)&addr, &length) == 0 && addr.sin_family == AF_INET && ntohs(addr.sin_port) == port) return 1;
  length = sizeof addr;
  return getpeername(fd, (struct sockaddr*)&addr, &length) == 0 && addr.sin_family == AF_INET && ntohs(addr.sin_port) == port;
}

ssize_t splice(int in, loff_t* in_off, int out, loff_t* out_off, size_t len, unsigned int flags) {
  static ssize_t (*real)(int, loff_t*, int, loff_t*, size_t, unsigned int);
  if (real == NULL) real = dlsym(RTLD_NEXT, "splice");
  const char* text = getenv("SLUICE_TEST_REFUSE_PORT");
  const int port = text != NULL ? atoi(text) : 0;
  if (port != 0 && (port_is(in, port) || port_is(out, port))) {
    errno = EINVAL;
    return -1;
  }
  return real(in, in_off, out, out_off, len, flags);
}
`;

/**
 * Two flows relayed at once, app ─ inbound │ SpliceRelay │ outbound ─ echo
 * server; 3 MiB each way. The first flow's server port is refused.
 */
const CHILD = `
const net = require('node:net');
const crypto = require('node:crypto');
const { native } = require(process.env.ADDON);
const n = native();
const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
async function flow(serverPort) {
  const front = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const frontPort = await listen(front);
  const accepted = new Promise((r) => front.once('connection', r));
  const app = net.connect({ port: frontPort, host: '127.0.0.1', allowHalfOpen: true });
  const inbound = await accepted;
  const outbound = net.connect({ port: serverPort, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise((r) => outbound.once('connect', r));
  outbound.pause();
  front.close();
  const result = new Promise((resolve) => new n.SpliceRelay(inbound._handle.fd, outbound._handle.fd, {}, resolve));
  inbound.destroy();
  outbound.destroy();
  const payload = crypto.randomBytes(3 * 1024 * 1024);
  const hash = crypto.createHash('sha256');
  let received = 0;
  app.on('data', (chunk) => { hash.update(chunk); received += chunk.length; });
  const ended = new Promise((r) => app.once('end', r));
  app.end(payload);
  await ended;
  app.destroy();
  const sent = crypto.createHash('sha256').update(payload).digest('hex');
  return { result: await result, intact: hash.digest('hex') === sent, received };
}
(async () => {
  const servers = [];
  const ports = [];
  for (let i = 0; i < 2; i++) {
    const server = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    ports.push(await listen(server));
    servers.push(server);
  }
  process.env.SLUICE_TEST_REFUSE_PORT = String(ports[0]);
  const [refused, spliced] = await Promise.all([flow(ports[0]), flow(ports[1])]);
  servers.forEach((s) => s.close());
  process.stdout.write(JSON.stringify({ refused, spliced, supported: n.spliceSupported() }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('native: SpliceRelay when splice() is refused for one flow', () => {
  let dir: string;
  before(async () => {
    // cc: the addon's own build needs the toolchain.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-splice-refused-'));
    fs.writeFileSync(path.join(dir, 'refuse.c'), SHIM);
    await promisify(execFile)('cc', ['-shared', '-fPIC', '-o', path.join(dir, 'refuse.so'), path.join(dir, 'refuse.c'), '-ldl']);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('carries that flow on through user space, intact, and says so; the other flow splices as before', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', CHILD], {
      timeout: 30_000,
      env: { ...process.env, LD_PRELOAD: path.join(dir, 'refuse.so'), ADDON: require.resolve('@sluice/native') },
    });
    const r = JSON.parse(stdout);
    const size = 3 * 1024 * 1024;
    assert.deepEqual(r.refused.result, { up: size, down: size, spliceRefused: true });
    assert.equal(r.refused.intact, true, 'the refused flow’s bytes arrive intact');
    assert.deepEqual(r.spliced.result, { up: size, down: size });
    assert.equal(r.spliced.intact, true);
    assert.equal(r.supported, true, 'splice stays available to the process');
  });
});
