import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { installService, renderServiceUnit, SERVICE_FILE_LIMIT, unreadableByOthers } from '@sluice/core/cli';
import { runCli } from '../helpers/cli';

const REPO = path.resolve(__dirname, '..', '..', '..');

/** The `[Service]` assignments of a unit, key → values in order. */
function serviceKeys(unit: string): Map<string, string[]> {
  const section = unit.split('[Service]')[1]!.split(/^\[/m)[0]!;
  const keys = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

const config = (port: number): string => `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
`;

describe('cli: sluice install-service', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'sluice-service-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('renders a notify unit for a dynamic user with CAP_NET_ADMIN only, rules applied before start and removed after stop', () => {
    const unit = renderServiceUnit({ configPath: '/etc/sluice/config.yaml', sluice: ['/usr/bin/node', '/opt/sluice/bin/sluice.js'], bindLowPorts: false });
    const k = serviceKeys(unit);
    const sluice = '/usr/bin/node /opt/sluice/bin/sluice.js';
    assert.deepEqual(k.get('Type'), ['notify']);
    assert.deepEqual(k.get('NotifyAccess'), ['all']);
    assert.deepEqual(k.get('DynamicUser'), ['yes']);
    assert.deepEqual(k.get('StateDirectory'), ['sluice']);
    assert.deepEqual(k.get('AmbientCapabilities'), ['CAP_NET_ADMIN']);
    assert.deepEqual(k.get('CapabilityBoundingSet'), ['CAP_NET_ADMIN']);
    assert.deepEqual(k.get('ExecStartPre'), [`+${sluice} rules -c /etc/sluice/config.yaml --apply`]);
    assert.deepEqual(k.get('ExecStart'), [`${sluice} run -c /etc/sluice/config.yaml`]);
    assert.deepEqual(k.get('ExecStopPost'), [`-+${sluice} rules -c /etc/sluice/config.yaml --remove`]);
    assert.deepEqual(k.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    assert.deepEqual(k.get('Restart'), ['on-failure']);
    assert.deepEqual(k.get('LimitNOFILE'), [String(SERVICE_FILE_LIMIT)]);
    assert.match(unit, /^\[Install\]\nWantedBy=multi-user\.target$/m);
  });

  it('adds CAP_NET_BIND_SERVICE only for a listener below port 1024', async () => {
    const low = path.join(dir, 'low.yaml');
    const high = path.join(dir, 'high.yaml');
    writeFileSync(low, config(53));
    writeFileSync(high, config(15001));
    const lowUnit = await runCli('install-service', '-c', low, '--print');
    const highUnit = await runCli('install-service', '-c', high, '--print');
    assert.equal(lowUnit.code, 0, lowUnit.stderr);
    assert.equal(highUnit.code, 0, highUnit.stderr);
    assert.deepEqual(serviceKeys(lowUnit.stdout).get('AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE']);
    assert.deepEqual(serviceKeys(lowUnit.stdout).get('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_BIND_SERVICE']);
    assert.deepEqual(serviceKeys(highUnit.stdout).get('AmbientCapabilities'), ['CAP_NET_ADMIN']);
  });

  it('--print runs this node and this sluice, with the config path made absolute', async () => {
    writeFileSync(path.join(dir, 'c.yaml'), config(15001));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await runCli('install-service', '-c', 'c.yaml', '--print');
      assert.equal(r.code, 0, r.stderr);
      const bin = path.join(REPO, 'packages', 'core', 'bin', 'sluice.js');
      assert.deepEqual(serviceKeys(r.stdout).get('ExecStart'), [`${process.execPath} ${bin} run -c ${path.join(dir, 'c.yaml')}`]);
    } finally {
      process.chdir(cwd);
    }
  });

  it('quotes arguments with spaces and doubles % and $ so systemd takes paths literally', () => {
    const unit = renderServiceUnit({ configPath: '/etc/my sluice/100%$x.yaml', sluice: ['/usr/local/bin/sluice'], bindLowPorts: false });
    assert.deepEqual(serviceKeys(unit).get('ExecStart'), ['/usr/local/bin/sluice run -c "/etc/my sluice/100%%$$x.yaml"']);
  });

  it('warns when the service user could not read the config (a directory without o+x on the way)', async () => {
    chmodSync(dir, 0o700);
    writeFileSync(path.join(dir, 'c.yaml'), config(15001));
    const hidden = await runCli('install-service', '-c', path.join(dir, 'c.yaml'), '--print');
    assert.equal(hidden.code, 0, hidden.stderr);
    assert.match(hidden.stderr, new RegExp(`warning: ${dir} is not searchable by other users; the service's unprivileged user cannot read ${dir}/c\\.yaml`));
    chmodSync(dir, 0o755);
    chmodSync(path.join(dir, 'c.yaml'), 0o600);
    assert.equal(unreadableByOthers(path.join(dir, 'c.yaml')), `${dir}/c.yaml is not readable by other users`);
    chmodSync(path.join(dir, 'c.yaml'), 0o644);
    assert.equal(unreadableByOthers(path.join(dir, 'c.yaml')), undefined);
  });

  it('refuses an invalid config without printing a unit', async () => {
    writeFileSync(path.join(dir, 'bad.yaml'), 'inbounds: [{ tag: x, type: tproxy, listen: nowhere, port: 1 }]\n');
    const r = await runCli('install-service', '-c', path.join(dir, 'bad.yaml'), '--print');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /inbounds\[0\]\.listen/);
  });

  it('packaging/sluice.service is the unit rendered for /etc/sluice/config.yaml and /usr/local/bin/sluice', () => {
    const committed = readFileSync(path.join(REPO, 'packaging', 'sluice.service'), 'utf8');
    const rendered = renderServiceUnit({ configPath: '/etc/sluice/config.yaml', sluice: ['/usr/local/bin/sluice'], bindLowPorts: false });
    assert.equal(committed, rendered, 'regenerate packaging/sluice.service from renderServiceUnit');
  });

  it('writes the unit, then runs systemctl daemon-reload and systemctl enable', async () => {
    const unitPath = path.join(dir, 'sluice.service');
    const calls: string[] = [];
    const lines: string[] = [];
    const code = await installService({
      unit: '[Service]\nExecStart=/bin/true\n',
      unitPath,
      run: async (argv) => (calls.push(argv.join(' ')), { code: 0, stderr: '' }),
      write: (l) => lines.push(l),
    });
    assert.equal(code, 0);
    assert.equal(readFileSync(unitPath, 'utf8'), '[Service]\nExecStart=/bin/true\n');
    assert.deepEqual(calls, ['systemctl daemon-reload', 'systemctl enable sluice']);
    assert.match(lines.at(-1)!, /systemctl start sluice/);
  });

  it('keeps the written unit and names the commands left when systemctl fails', async () => {
    const unitPath = path.join(dir, 'sluice.service');
    const lines: string[] = [];
    const code = await installService({
      unit: 'x\n',
      unitPath,
      run: async () => ({ code: 1, stderr: 'System has not been booted with systemd as init system (PID 1).' }),
      write: (l) => lines.push(l),
    });
    assert.equal(code, 1);
    assert.equal(readFileSync(unitPath, 'utf8'), 'x\n');
    assert.match(lines.join('\n'), /systemctl daemon-reload failed \(exit 1\): System has not been booted/);
    assert.match(lines.join('\n'), /systemctl daemon-reload && systemctl enable --now sluice/);
  });
});
