import type { Logger } from 'pino';
import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { Outbound, OutboundDeps } from '../adapter/outbound';
import type { OutboundDefinition, OutboundEntry } from '../adapter/plugin';
import type { ServiceToken } from '../adapter/service';
import { ConfigError, ErrorCode, SluiceError, isConfigError, type ConfigIssue } from '../errors';
import { isGroupType } from './groups/options';
import { parseOutboundOptions } from './options';

/** An outbound type as registered in core's container: the definition and the plugin that brought it. */
export interface RegisteredOutboundType {
  readonly plugin: string;
  readonly definition: OutboundDefinition;
}

/** Multi-registration token of outbound types; core-internal (plugins declare types with `definePlugin`). */
const OUTBOUND_TYPE: InjectionToken<RegisteredOutboundType> = Symbol.for('sluice.OutboundType');

/** Adds one outbound type, brought by `plugin`, to `container`. */
export function registerOutboundType(container: DependencyContainer, plugin: string, definition: OutboundDefinition): void {
  container.register(OUTBOUND_TYPE, { useValue: { plugin, definition } });
}

/** The outbound definitions registered in `container`, by type. Two plugins defining one type is a plugin error. */
export function definitionsByType(container: DependencyContainer): Map<string, OutboundDefinition> {
  const map = new Map<string, RegisteredOutboundType>();
  const all = container.isRegistered(OUTBOUND_TYPE, true) ? container.resolveAll(OUTBOUND_TYPE) : [];
  for (const r of all) {
    const first = map.get(r.definition.type);
    if (first) {
      throw new ConfigError([{ path: 'plugins', message: `outbound type "${r.definition.type}" is registered twice (by "${first.plugin}" and "${r.plugin}")` }]);
    }
    map.set(r.definition.type, r);
  }
  return new Map([...map].map(([type, r]) => [type, r.definition]));
}

/** One validated outbound entry, ready for {@link createOutbounds}. */
export interface PlannedOutbound {
  readonly entry: OutboundEntry;
  readonly definition: OutboundDefinition;
  readonly options: unknown;
  /** Tags it needs created first (its `via`). */
  readonly deps: readonly string[];
}

/**
 * Parses every outbound entry with its type's schema and orders them so each
 * comes after its dependencies (its `via`, a group's members). Collects all
 * problems (unknown type, bad options, unknown, self or cyclic `via`, unknown
 * members) into one {@link ConfigError}; a cycle through a group is reported
 * at the entry as `group cycle a -> b -> a`.
 */
export function planOutbounds(entries: readonly OutboundEntry[], definitions: ReadonlyMap<string, OutboundDefinition>): PlannedOutbound[] {
  const issues: ConfigIssue[] = [];
  const parsed = new Map<string, PlannedOutbound>();
  for (const entry of entries) {
    const definition = definitions.get(entry.type);
    if (!definition) {
      issues.push({ path: `${entry.path}.type`, message: `unknown outbound type "${entry.type}" (known: ${[...definitions.keys()].sort().join(', ')})` });
      continue;
    }
    try {
      const options = parseOutboundOptions(definition, entry.raw, entry.path);
      parsed.set(entry.tag, { entry, definition, options, deps: definition.dependencies?.(options) ?? [] });
    } catch (err) {
      if (isConfigError(err)) issues.push(...err.issues);
      else issues.push({ path: entry.path, message: (err as Error).message });
    }
  }
  const known = new Set(entries.map((e) => e.tag));
  for (const p of parsed.values()) {
    // A group's dependencies are its members, listed under `outbounds`; anything else's is its `via`.
    const group = isGroupType(p.entry.type);
    p.deps.forEach((dep, i) => {
      const at = group ? `${p.entry.path}.outbounds[${i}]` : `${p.entry.path}.via`;
      if (dep === p.entry.tag) issues.push(group ? { path: p.entry.path, message: `group cycle ${dep} -> ${dep}` } : { path: at, message: 'must name another outbound, not itself' });
      else if (!known.has(dep)) issues.push({ path: at, message: `unknown outbound "${dep}"` });
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return topologicalOrder(parsed);
}

function topologicalOrder(parsed: Map<string, PlannedOutbound>): PlannedOutbound[] {
  const order: PlannedOutbound[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (tag: string, stack: string[]): void => {
    const s = state.get(tag);
    if (s === 'done') return;
    const p = parsed.get(tag);
    if (!p) return;
    if (s === 'visiting') {
      const tags = [...stack.slice(stack.indexOf(tag)), tag];
      const cycle = tags.join(' -> ');
      // Through a group, the cycle is one of membership (maybe mixed with a `via`): named at the entry, as a group cycle.
      if (tags.some((t) => isGroupType(parsed.get(t)?.entry.type ?? ''))) throw new ConfigError([{ path: p.entry.path, message: `group cycle ${cycle}` }]);
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

/**
 * Instantiates planned outbounds in dependency order. `deps.service(token)`
 * resolves from `container`, where the runtime put core's services
 * (`registerCoreServices`).
 */
export function createOutbounds(plan: readonly PlannedOutbound[], container: DependencyContainer, logger: Logger): Map<string, Outbound> {
  const made = new Map<string, Outbound>();
  for (const p of plan) {
    const tag = p.entry.tag;
    const allowed = new Set(p.deps);
    const deps: OutboundDeps = {
      tag,
      logger: logger.child({ component: `outbound/${p.entry.type}[${tag}]` }),
      resolve(dep) {
        const o = made.get(dep);
        if (!o || !allowed.has(dep)) throw new Error(`outbound "${tag}" resolved "${dep}", which its dependencies() did not declare`);
        return o;
      },
      service<T>(token: ServiceToken<T>): T {
        if (!container.isRegistered(token, true)) {
          throw new SluiceError(ErrorCode.PLUGIN, `outbound "${tag}" asked for service ${token.description ?? String(token)}, which this Sluice does not provide`);
        }
        return container.resolve<T>(token);
      },
    };
    made.set(tag, p.definition.create(p.options, deps));
  }
  return made;
}
