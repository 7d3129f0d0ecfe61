import { strict as assert } from 'node:assert';
import type { FlowMetadata } from '@sluice/core';
import { logFlowClosed } from '@sluice/core/testing';
import { createRootLogger } from '@sluice/core';

/** A root logger as `sluice run` makes it (redaction on), writing into an array. */
function capture(level: string): { logger: ReturnType<typeof createRootLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = createRootLogger({ level, destination: { write: (s: string) => void out.push(s) } });
  return { logger, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const flow: FlowMetadata = {
  id: 'f-1',
  network: 'tcp',
  inbound: 'in4',
  src: { address: '198.18.1.2', port: 40000 },
  dst: { address: '198.19.2.2', port: 80, host: 'example.test' },
};

describe('access log', () => {
  it('writes the contract fields with the flow logger’s bindings, at info, and failed flows at warn', () => {
    const { logger, lines } = capture('info');
    const flowLogger = logger.child({ component: 'flow' });
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 10, down: 20, startedAt: Date.now() });
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 0, down: 0, startedAt: Date.now(), error: 'ECONNREFUSED' });
    const [ok, failed] = lines();
    const { time, durationMs, pid, ...rest } = ok!;
    assert.equal(typeof time, 'number');
    assert.equal(typeof durationMs, 'number');
    assert.equal(pid, process.pid);
    assert.deepEqual(rest, {
      level: 'info',
      component: 'flow',
      flowId: 'f-1',
      network: 'tcp',
      src: '198.18.1.2:40000',
      dst: '198.19.2.2:80',
      inbound: 'in4',
      rule: 'final',
      outbound: 'direct',
      up: 10,
      down: 20,
      host: 'example.test',
      msg: 'flow closed',
    });
    assert.equal(failed!.level, 'warn');
    assert.equal(failed!.error, 'ECONNREFUSED');
  });

  it('names a detected protocol (`protocol: dns`) next to the host fields, and only when one was detected', () => {
    const { logger, lines } = capture('info');
    const dnsFlow: FlowMetadata = { ...flow, network: 'udp', dst: { address: '198.19.2.53', port: 5353 }, protocol: 'dns' };
    const sniffed: FlowMetadata = { ...flow, sniffed: 'http', hostSource: 'sniff' };
    for (const f of [dnsFlow, sniffed, flow]) logFlowClosed(logger, f, { rule: 'rules[0]', outbound: 'hijack-dns', up: 40, down: 80, startedAt: Date.now() });
    const [dns, http, plain] = lines();
    assert.equal(dns!.protocol, 'dns');
    assert.equal(dns!.host, undefined);
    assert.equal(dns!.dst, '198.19.2.53:5353');
    assert.deepEqual([http!.sniffed, http!.host_source, http!.host], ['http', 'sniff', 'example.test']);
    assert.equal('protocol' in http!, false);
    assert.equal('protocol' in plain!, false);
    assert.deepEqual(Object.keys(dns!).filter((k) => k !== 'pid' && k !== 'hostname'), ['level', 'time', 'flowId', 'network', 'src', 'dst', 'inbound', 'rule', 'outbound', 'up', 'down', 'durationMs', 'protocol', 'msg']);
  });

  it('follows the flow logger’s level, also when it changes later; other lines are still redacted', () => {
    const { logger, lines } = capture('info');
    const flowLogger = logger.child({ component: 'flow' });
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 1, down: 1, startedAt: Date.now() });
    flowLogger.level = 'warn';
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 2, down: 2, startedAt: Date.now() });
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 3, down: 3, startedAt: Date.now(), error: 'reset' });
    flowLogger.level = 'error';
    logFlowClosed(flowLogger, flow, { rule: 'final', outbound: 'direct', up: 4, down: 4, startedAt: Date.now(), error: 'reset' });
    flowLogger.error({ password: 'hunter2', options: { password: 'hunter2' } }, 'other');
    const got = lines();
    assert.deepEqual(
      got.filter((l) => l.msg === 'flow closed').map((l) => l.up),
      [1, 3],
    );
    const other = got.find((l) => l.msg === 'other')!;
    assert.equal(other.password, '[redacted]');
    assert.deepEqual(other.options, { password: '[redacted]' });
  });
});
