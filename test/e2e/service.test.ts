import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ChildWatch, Namespace, runCommand, SLUICE_BIN, type JsonLine } from '@sluice/testbed';

const REPO = path.resolve(__dirname, '..', '..', '..');

/**
 * Stands in for systemd's notification socket: binds a unix datagram socket
 * (`@name`: abstract namespace) and prints one JSON line per datagram. Plain
 * recv() drops the descriptor that systemd-notify's barrier message carries,
 * which is how systemd tells it the message was read.
 */
const RECEIVER = `
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({"listening": addr}), flush=True)
while True:
    print(json.dumps({"datagram": s.recv(65536).decode(errors="replace")}), flush=True)
`;

/** A config with one inbound on `port`: each test has its own, so a leftover of one cannot fail the next. */
function config(port: number): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
  final: direct
`;
}

/** The sd_notify messages the receiver got so far, each as its lines (`READY=1`, `STATUS=…`). */
function messages(receiver: ChildWatch): string[][] {
  return receiver.lines.filter((l) => typeof l.datagram === 'string').map((l) => String(l.datagram).split('\n'));
}

const has = (assignment: string) => (m: readonly string[]) => m.includes(assignment);

/** Waits until the receiver has had a message with each assignment, in this order. */
function waitForSequence(receiver: ChildWatch, sequence: readonly string[], timeoutMs = 15_000): Promise<true> {
  return receiver.waitUntil(
    () => {
      let from = 0;
      for (const assignment of sequence) {
        const i = messages(receiver).findIndex((m, k) => k >= from && m.includes(assignment));
        if (i < 0) return undefined;
        from = i + 1;
      }
      return true;
    },
    timeoutMs,
    `sd_notify ${sequence.join(' then ')}`,
  );
}

function startReceiver(start: (cmd: string, args: string[]) => ChildProcess, address: string): Promise<ChildWatch> {
  const w = new ChildWatch(start('python3', ['-c', RECEIVER, address]), `notify receiver ${address}`);
  return w.waitFor((l) => l.listening === address, 15_000, 'the receiver to listen').then(() => w);
}

const textOf = (l: JsonLine): string => (typeof l.text === 'string' ? l.text : JSON.stringify(l));

describe('e2e: sluice as a systemd service', function () {
  this.timeout(60_000);
  let tmp: string;
  let ns: Namespace;
  const host: ChildProcess[] = [];

  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'sluice-service-'));
    ns = await new Namespace(`sl${process.pid}svc`).create();
  });
  after(async () => {
    for (const c of host) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await ns?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** How many TCP sockets listen on `port` in the namespace (a connection would be refused by the loop guard, so ask ss). */
  async function listeners(port: number): Promise<number> {
    const r = await ns.exec('ss', ['-Hltn', `sport = :${port}`]);
    return r.stdout.split('\n').filter((l) => l.startsWith('LISTEN')).length;
  }

  /** `sluice run` in the namespace, stdout piped (so JSON lines), with extra environment. */
  function run(configPath: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildWatch {
    const child = ns.spawn(process.execPath, [SLUICE_BIN, 'run', '-c', configPath, ...args], { env: { ...process.env, ...env } });
    return new ChildWatch(child, `sluice run ${args.join(' ')}`);
  }

  describe('the unit passes systemd-analyze verify', () => {
    for (const [what, port] of [['a high port', 15001], ['DNS on port 53 (CAP_NET_BIND_SERVICE)', 53]] as const) {
      it(`as sluice install-service --print renders it for ${what}`, async () => {
        const configPath = path.join(tmp, `verify-${port}.yaml`);
        writeFileSync(configPath, config(port));
        const printed = await runCommand(process.execPath, [SLUICE_BIN, 'install-service', '-c', configPath, '--print']);
        const unit = path.join(tmp, `sluice-${port}.service`);
        writeFileSync(unit, printed.stdout);
        // verify exits 0 on unknown keys and bad values too, so any output at all is a failure.
        const r = await runCommand('systemd-analyze', ['verify', unit], { allowFailure: true });
        assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
        assert.equal(`${r.stdout}${r.stderr}`.trim(), '', printed.stdout);
        assert.equal(/CAP_NET_BIND_SERVICE/.test(printed.stdout), port < 1024);
      });
    }

    it('packaging/sluice.service, with ExecStart pointed at this node and sluice', async () => {
      const committed = readFileSync(path.join(REPO, 'packaging', 'sluice.service'), 'utf8');
      assert.match(committed, /^ExecStart=\/usr\/local\/bin\/sluice run -c \/etc\/sluice\/config\.yaml$/m);
      const unit = path.join(tmp, 'sluice.service');
      writeFileSync(unit, committed.replaceAll('/usr/local/bin/sluice', `${process.execPath} ${SLUICE_BIN}`));
      const r = await runCommand('systemd-analyze', ['verify', unit], { allowFailure: true });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
    });
  });

  it('sends READY=1 once the listener accepts, RELOADING=1 then READY=1 around SIGHUP, and STOPPING=1 on SIGTERM', async () => {
    const configPath = path.join(tmp, 'notify.yaml');
    writeFileSync(configPath, config(15011));
    const address = path.join(tmp, 'notify.sock');
    const receiver = await startReceiver((cmd, args) => {
      const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      host.push(c);
      return c;
    }, address);
    const sluice = run(configPath, [], { NOTIFY_SOCKET: address });
    try {
      await waitForSequence(receiver, ['READY=1']);
      // Ready means traffic can flow: the listener is up already.
      assert.equal(await listeners(15011), 1);
      await sluice.waitFor((l) => l.msg === 'sluice started', 10_000, '"sluice started"');
      assert.ok(messages(receiver)[0]!.some((a) => a.startsWith('STATUS=serving 1 inbound: in4@127.0.0.1')), JSON.stringify(messages(receiver)));

      sluice.child.kill('SIGHUP');
      await waitForSequence(receiver, ['READY=1', 'RELOADING=1', 'READY=1']);
      await sluice.waitFor((l) => l.msg === 'config reloaded', 10_000, '"config reloaded"');

      sluice.child.kill('SIGTERM');
      await waitForSequence(receiver, ['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
      const status = await sluice.exited;
      assert.equal(status.code, 0, sluice.describe());
      assert.equal(sluice.stderr.trim(), '', 'no warning that systemd-notify failed');
    } finally {
      await sluice.stop('SIGKILL');
      await receiver.stop('SIGKILL');
    }
  });

  it('with two worker processes, sends one READY=1 for the pool, to an abstract socket (@name)', async () => {
    const configPath = path.join(tmp, 'workers.yaml');
    writeFileSync(configPath, config(15012));
    // Abstract unix sockets belong to a network namespace: the receiver runs in Sluice's.
    const address = `@sluice-test-${process.pid}`;
    const receiver = await startReceiver((cmd, args) => ns.spawn(cmd, args), address);
    const sluice = run(configPath, ['--workers', '2', '--worker-mode', 'process'], { NOTIFY_SOCKET: address });
    try {
      await waitForSequence(receiver, ['READY=1']);
      // Both workers listen (SO_REUSEPORT) by the time the pool says it is ready.
      assert.equal(await listeners(15012), 2);
      await sluice.waitUntil(() => (sluice.lines.filter((l) => l.msg === 'worker started').length === 2 ? true : undefined), 10_000, 'two "worker started"');
      sluice.child.kill('SIGTERM');
      await waitForSequence(receiver, ['READY=1', 'STOPPING=1']);
      assert.equal((await sluice.exited).code, 0, sluice.describe());
      // Workers do not inherit NOTIFY_SOCKET: the only READY=1 is the pool's.
      assert.equal(messages(receiver).filter(has('READY=1')).length, 1, JSON.stringify(messages(receiver)));
    } finally {
      await sluice.stop('SIGKILL');
      await receiver.stop('SIGKILL');
    }
  });

  describe('log output', () => {
    it('piped: JSON lines, with one "inbound ready" line per inbound and the rules and outbounds', async () => {
      const configPath = path.join(tmp, 'json.yaml');
      writeFileSync(configPath, config(15013));
      const sluice = run(configPath);
      try {
        const ready = await sluice.waitFor((l) => l.msg === 'inbound ready', 15_000, '"inbound ready"');
        assert.deepEqual(
          { inbound: ready.inbound, address: ready.address, network: ready.network, sniff: ready.sniff },
          { inbound: 'in4', address: '127.0.0.1:15013', network: ['tcp', 'udp'], sniff: false },
        );
        const outbounds = await sluice.waitFor((l) => l.msg === 'outbounds ready', 5_000, '"outbounds ready"');
        assert.deepEqual(outbounds.outbounds, [{ tag: 'direct', type: 'direct' }, { tag: 'deny', type: 'block' }]);
        const rules = await sluice.waitFor((l) => l.msg === 'rules loaded', 5_000, '"rules loaded"');
        assert.equal(rules.rules, 1);
        assert.ok(sluice.lines.every((l) => l.text === undefined), 'every stdout line is JSON');
      } finally {
        await sluice.stop('SIGTERM');
      }
    });

    it('--log-format pretty: coloured human lines, one per inbound with address, networks and sniffing', async () => {
      const configPath = path.join(tmp, 'pretty.yaml');
      writeFileSync(configPath, config(15014));
      // colorette colours a pipe only when asked; a terminal gets them by itself.
      const sluice = run(configPath, ['--log-format', 'pretty'], { FORCE_COLOR: '1' });
      try {
        const line = await sluice.waitFor((l) => textOf(l).includes('inbound in4:'), 15_000, 'the inbound line');
        assert.match(textOf(line), /inbound in4: tproxy on 127\.0\.0\.1:15014, tcp\+udp, sniff off/);
        await sluice.waitFor((l) => textOf(l).includes('outbounds: direct (direct), deny (block)'), 5_000, 'the outbounds line');
        const started = sluice.lines.find((l) => textOf(l).includes('sluice started'));
        assert.ok(started, sluice.describe());
        assert.match(textOf(started), /\u001b\[32mINFO\u001b\[39m/, 'the level is coloured');
        assert.ok(sluice.lines.every((l) => typeof l.text === 'string'), 'no JSON lines');
        // The pretty stream flushes too: the last line is out before a clean exit.
        assert.equal((await sluice.stop('SIGTERM')).code, 0, sluice.describe());
        assert.match(textOf(sluice.lines.at(-1)!), /sluice stopped/);
      } finally {
        await sluice.stop('SIGTERM');
      }
    });

    it('on a terminal (script(1) gives it one), pretty by default', async () => {
      const configPath = path.join(tmp, 'tty.yaml');
      writeFileSync(configPath, config(15015));
      const cmd = [process.execPath, SLUICE_BIN, 'run', '-c', configPath].join(' ');
      const child = ns.spawn('script', ['-qefc', cmd, '/dev/null']);
      const sluice = new ChildWatch(child, 'sluice run on a terminal');
      try {
        const line = await sluice.waitFor((l) => textOf(l).includes('sniff off'), 15_000, 'the inbound line');
        assert.match(textOf(line), /inbound in4: tproxy on 127\.0\.0\.1:15015, tcp\+udp, sniff off/);
        assert.ok(!sluice.lines.some((l) => l.msg !== undefined), 'no JSON lines on a terminal');
      } finally {
        await sluice.stop('SIGKILL');
      }
    });

    it('after its terminal hangs up, it keeps running and a SIGTERM still exits 0 (no crash restoring the terminal)', async () => {
      const configPath = path.join(tmp, 'hangup.yaml');
      writeFileSync(configPath, config(15016));
      const pidFile = path.join(tmp, 'hangup.pid');
      const statusFile = path.join(tmp, 'hangup.status');
      // sh ignores the hangup so that it outlives the terminal and records how Sluice exits;
      // Sluice installs its own SIGHUP handler (a reload), so the ignore does not reach it.
      const script = path.join(tmp, 'hangup.sh');
      writeFileSync(
        script,
        [
          "trap '' HUP",
          `'${process.execPath}' '${SLUICE_BIN}' run -c '${configPath}' &`,
          `echo $! > '${pidFile}'`,
          'wait $!',
          `echo $? > '${statusFile}'`,
          '',
        ].join('\n'),
      );
      const terminal = new ChildWatch(ns.spawn('script', ['-qefc', `sh ${script}`, '/dev/null']), 'sluice run on a terminal that hangs up');
      let pid = 0;
      try {
        await terminal.waitFor((l) => textOf(l).includes('sniff off'), 15_000, 'the inbound line');
        pid = Number(readFileSync(pidFile, 'utf8'));
        assert.ok(pid > 0, `pid file: ${readFileSync(pidFile, 'utf8')}`);
        // Closing the terminal's master side hangs it up: Sluice's stdout then points at a deleted pty.
        await terminal.stop('SIGKILL');
        await waitUntil(() => readlinkSync(`/proc/${pid}/fd/1`).endsWith('(deleted)'), 10_000, 'the terminal to hang up');
        assert.ok(existsSync(`/proc/${pid}`), 'Sluice outlived the hangup');
        process.kill(pid, 'SIGTERM');
        await waitUntil(() => existsSync(statusFile) && readFileSync(statusFile, 'utf8').trim() !== '', 15_000, 'Sluice to exit');
        // 0: a clean stop. Node 20's own terminal restore would abort (134) or crash (139) here without the guard.
        assert.equal(readFileSync(statusFile, 'utf8').trim(), '0');
        pid = 0;
      } finally {
        await terminal.stop('SIGKILL');
        if (pid > 0 && existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
      }
    });
  });
});

/** Resolves once `check()` is true (polled every 50 ms); rejects after `timeoutMs` naming `what`. */
async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // Not there yet (a file or /proc entry that does not exist yet).
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
