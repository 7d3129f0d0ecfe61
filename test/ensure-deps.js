#!/usr/bin/env node
'use strict';
/**
 * Run first by `npm test`: makes sure the system tools the end-to-end tests
 * drive are present. As root on Debian, installs whatever is missing with
 * apt-get; otherwise fails naming the packages. It never lets the e2e tests
 * be skipped silently: no root means no network namespaces, and that is an
 * error here, not a skip.
 *
 *   node test/ensure-deps.js          check, install when root
 *   node test/ensure-deps.js --list   print the package names (used by .ci/run)
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Debian package → a command it provides (what the tests actually run). */
const PACKAGES = [
  ['nftables', 'nft'],
  ['iproute2', 'ip'],
  ['curl', 'curl'],
  ['socat', 'socat'],
  // dnsmasq-base has the binary without the system service, which would
  // otherwise start listening on the host's port 53 when installed.
  ['dnsmasq-base', 'dnsmasq'],
  ['bind9-dnsutils', 'dig'],
  ['dante-server', 'danted'],
  ['microsocks', 'microsocks'],
  // tinyproxy-bin has the binary without the system service (which would listen on the host's port 8888).
  ['tinyproxy-bin', 'tinyproxy'],
  ['util-linux', 'setpriv'],
  ['procps', 'sysctl'],
  // systemd-analyze checks the unit `sluice install-service` renders (it needs no running systemd);
  // systemd-notify is how `sluice run` tells systemd it is ready.
  ['systemd', 'systemd-analyze'],
  // The stand-in for systemd's notification socket in test/e2e/service.test.ts (Node has no unix datagram sockets).
  ['python3', 'python3'],
  // A real QUIC client and server for the QUIC sniffing e2e test (test/e2e/quic-sniff.test.ts).
  ['ngtcp2-client', 'gtlsclient'],
  ['ngtcp2-server', 'gtlsserver'],
  // The TLS server of test/e2e/sniff-tcp.test.ts (openssl s_server), the certificates of both sniffing tests and of the DNS-over-TLS/HTTPS upstream tests.
  ['openssl', 'openssl'],
  // The packaging tests pack @sluice/native, whose prepack cross-compiles the linux-arm64 prebuild; readelf checks it.
  ['g++-aarch64-linux-gnu', 'aarch64-linux-gnu-g++'],
  ['binutils', 'readelf'],
  // The built-in dashboard's browser test (test/e2e/dashboard.test.ts) drives Debian's headless Chromium with puppeteer-core.
  ['chromium', 'chromium'],
];

const SEARCH_PATH = [...(process.env.PATH || '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];

function hasCommand(cmd) {
  return SEARCH_PATH.some((dir) => {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function installed(pkg, cmd) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  if (r.error) return hasCommand(cmd); // not a dpkg system: the command is what counts
  return r.status === 0 && r.stdout.includes('install ok installed') && hasCommand(cmd);
}

function fail(message) {
  process.stderr.write(`ensure-deps: ${message}\n`);
  process.exit(1);
}

function main() {
  if (process.argv.includes('--list')) {
    process.stdout.write(`${PACKAGES.map(([pkg]) => pkg).join(' ')}\n`);
    return;
  }
  if (process.platform !== 'linux') fail(`the end-to-end tests need Linux network namespaces; this is ${process.platform}`);
  const isRoot = process.getuid && process.getuid() === 0;
  let missing = PACKAGES.filter(([pkg, cmd]) => !installed(pkg, cmd)).map(([pkg]) => pkg);
  if (missing.length > 0) {
    if (!isRoot) {
      fail(`missing Debian packages for the e2e tests: ${missing.join(' ')}\n  install them: sudo apt-get install -y ${missing.join(' ')}`);
    }
    if (!hasCommand('apt-get')) fail(`missing packages ${missing.join(' ')} and no apt-get to install them`);
    process.stderr.write(`ensure-deps: installing ${missing.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
    } catch (err) {
      fail(`apt-get failed: ${err.message}`);
    }
    missing = PACKAGES.filter(([pkg, cmd]) => !installed(pkg, cmd)).map(([pkg]) => pkg);
    if (missing.length > 0) fail(`still missing after apt-get install: ${missing.join(' ')}`);
  }
  if (!isRoot) {
    fail('the e2e tests create network namespaces and need root; run `npm test` as root (unit tests only: npm run test:unit)');
  }
  process.stderr.write('ensure-deps: all e2e test dependencies present\n');
}

main();
