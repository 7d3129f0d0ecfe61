import { ConfigError } from '../errors';
import type { SluiceConfig } from './types';
import { readInbounds, readOutbounds } from './endpoints';
import { IssueList, isObj, readObject } from './reader';
import { readRoute } from './route';
import { checkListenerOverlaps } from './listeners';
import { readControl } from './control';
import { keysOf } from '../config-keys/field';
import { ROOT_FIELDS } from '../config-keys/root';
import { checkDnsPlacement, readDns, ruleSetTags } from './dns';
import { checkHijackDns, routeTargets } from './hijack-dns';
import { readFirewall, readLog, readPlugins, readTimeouts, readRelay, readUdp, readLimits, readWorkerMode, readWorkers } from './settings';

const TOP_KEYS = keysOf(ROOT_FIELDS);

/**
 * Validates an already-parsed config document and fills in every default.
 * Every section is read even after an error elsewhere, so one run reports all
 * problems.
 *
 * @throws {ConfigError} listing every issue found.
 */
export function normalizeConfig(doc: unknown, baseDir: string): SluiceConfig {
  if (doc !== undefined && doc !== null && !isObj(doc)) {
    throw new ConfigError([{ path: '', message: 'the config must be a mapping of sections (inbounds, outbounds, route…)' }]);
  }
  const issues = new IssueList();
  const root = doc ? (readObject(doc, '', TOP_KEYS, issues) ?? {}) : {};
  const log = readLog(root, issues);
  const plugins = readPlugins(root, issues);
  const { inbounds, tags: inboundTags } = readInbounds(root.inbounds, issues);
  const { outbounds, tags: outboundTags } = readOutbounds(root.outbounds, issues);
  const route = readRoute(
    root.route,
    { inbounds: inboundTags, outbounds: routeTargets(outboundTags), outboundOrder: [...outboundTags] },
    issues,
    baseDir,
  );
  const firewall = readFirewall(root, outbounds, issues);
  const timeouts = readTimeouts(root, issues);
  const udp = readUdp(root, issues);
  const limits = readLimits(root, issues);
  const workers = readWorkers(root, issues);
  const worker_mode = readWorkerMode(root, issues);
  const relay = readRelay(root, issues);
  const control = readControl(root, issues);
  const dns = readDns(root.dns, { outbounds: outboundTags, ruleSets: ruleSetTags(root.route) }, issues);
  checkDnsPlacement(dns, workers, firewall.local, issues);
  checkHijackDns(route, outbounds, dns, issues);
  checkListenerOverlaps(inbounds, workers, issues);
  if (issues.length > 0) throw new ConfigError(issues.items);
  return { log, plugins, inbounds, outbounds, route, firewall, timeouts, udp, limits, workers, worker_mode, relay, baseDir, ...(control ? { control } : {}), ...(dns ? { dns } : {}) };
}
