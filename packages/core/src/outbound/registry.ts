import type { Logger } from 'pino';
import type { DependencyContainer } from 'tsyringe';
import type { Outbound, OutboundFactory } from '../adapter/outbound';
import type { OutboundEntry } from '../config/types';
import { ConfigError, type ConfigIssue } from '../errors';
import { OUTBOUND_FACTORY } from '../tokens';

interface Parsed {
  entry: OutboundEntry;
  factory: OutboundFactory;
  options: unknown;
  deps: readonly string[];
}

/** The factories registered in `container`, by type. Two factories for one type is a plugin error. */
export function factoriesByType(container: DependencyContainer): Map<string, OutboundFactory> {
  const map = new Map<string, OutboundFactory>();
  const all = container.isRegistered(OUTBOUND_FACTORY, true) ? container.resolveAll(OUTBOUND_FACTORY) : [];
  for (const f of all) {
    if (map.has(f.type)) throw new ConfigError([{ path: 'plugins', message: `outbound type "${f.type}" is registered twice` }]);
    map.set(f.type, f);
  }
  return map;
}

/**
 * Parses every outbound entry with its type's factory and orders them so each
 * comes after its `via` dependencies. Collects all problems (unknown type,
 * bad options, unknown or cyclic `via`) into one {@link ConfigError}.
 */
export function planOutbounds(entries: readonly OutboundEntry[], factories: Map<string, OutboundFactory>): Parsed[] {
  const issues: ConfigIssue[] = [];
  const parsed = new Map<string, Parsed>();
  for (const entry of entries) {
    const factory = factories.get(entry.type);
    if (!factory) {
      issues.push({ path: `${entry.path}.type`, message: `unknown outbound type "${entry.type}" (known: ${[...factories.keys()].sort().join(', ')})` });
      continue;
    }
    try {
      const options = factory.parse(entry.raw, entry.path);
      parsed.set(entry.tag, { entry, factory, options, deps: factory.dependencies?.(options) ?? [] });
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else issues.push({ path: entry.path, message: (err as Error).message });
    }
  }
  const known = new Set(entries.map((e) => e.tag));
  for (const p of parsed.values()) {
    for (const dep of p.deps) {
      if (!known.has(dep)) issues.push({ path: `${p.entry.path}.via`, message: `unknown outbound "${dep}"` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return topologicalOrder(parsed);
}

function topologicalOrder(parsed: Map<string, Parsed>): Parsed[] {
  const order: Parsed[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (tag: string, stack: string[]): void => {
    const s = state.get(tag);
    if (s === 'done') return;
    const p = parsed.get(tag);
    if (!p) return;
    if (s === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(tag)), tag].join(' -> ');
      throw new ConfigError([{ path: `${p.entry.path}.via`, message: `cycle in via: ${cycle}` }]);
    }
    state.set(tag, 'visiting');
    for (const dep of p.deps) visit(dep, [...stack, tag]);
    state.set(tag, 'done');
    order.push(p);
  };
  for (const tag of parsed.keys()) visit(tag, []);
  return order;
}

/** Instantiates planned outbounds in dependency order. */
export function createOutbounds(plan: readonly Parsed[], container: DependencyContainer, logger: Logger): Map<string, Outbound> {
  const made = new Map<string, Outbound>();
  for (const p of plan) {
    const tag = p.entry.tag;
    const allowed = new Set(p.deps);
    const outbound = p.factory.create(p.options, {
      tag,
      logger: logger.child({ component: `outbound/${p.entry.type}[${tag}]` }),
      container,
      resolve(dep) {
        const o = made.get(dep);
        if (!o || !allowed.has(dep)) throw new Error(`outbound "${tag}" resolved "${dep}", which its dependencies() did not declare`);
        return o;
      },
    });
    made.set(tag, outbound);
  }
  return made;
}
