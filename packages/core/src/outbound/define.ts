import type { Outbound, OutboundDeps } from '../adapter/outbound';
import type { OptionsSchema, OutboundDefinition, OutboundEgress, SchemaOutput, SluicePlugin } from '../adapter/plugin';
import { ErrorCode, SluiceError } from '../errors';

/** What {@link defineOutbound} takes: an {@link OutboundDefinition} whose options type comes from its schema. */
export interface OutboundSpec<S extends OptionsSchema<unknown>> {
  readonly type: string;
  readonly options: S;
  /** Tags of the outbounds this one is carried by (its `via`); see {@link OutboundDefinition.dependencies}. */
  dependencies?(options: SchemaOutput<S>): readonly string[];
  /** How an outbound with these options sends its own traffic; see {@link OutboundDefinition.egress}. */
  egress?(options: SchemaOutput<S>): OutboundEgress;
  /** Creates the outbound from its parsed options. */
  create(options: SchemaOutput<S>, deps: OutboundDeps): Outbound;
}

/**
 * Declares one outbound type. `create` and `dependencies` get the schema's
 * output (`z.infer<typeof schema>`), validated by core with errors at config
 * key paths (`outbounds[2].port: must be 1-65535`).
 *
 * @example
 * defineOutbound({ type: 'echo', options: z.object({ prefix: z.string().default('') }).strict(), create: (o, deps) => new Echo(deps.tag, o.prefix) })
 */
export function defineOutbound<S extends OptionsSchema<unknown>>(spec: OutboundSpec<S>): OutboundDefinition<SchemaOutput<S>> {
  const problem = definitionProblem(spec);
  if (problem !== undefined) throw new SluiceError(ErrorCode.PLUGIN, `defineOutbound: ${problem}`);
  return Object.freeze({ ...spec }) as unknown as OutboundDefinition<SchemaOutput<S>>;
}

/**
 * Declares a plugin: its package name, the `@sluice/core` versions it works
 * with (a semver range, checked when core loads it) and its outbound types.
 * Export the result as `plugin` (or as the default export).
 */
export function definePlugin(plugin: SluicePlugin): SluicePlugin {
  const problem = pluginProblem(plugin);
  if (problem !== undefined) throw new SluiceError(ErrorCode.PLUGIN, `definePlugin: ${problem}`);
  return Object.freeze({ ...plugin, outbounds: Object.freeze([...plugin.outbounds]) });
}

/**
 * Why `value` is not a usable plugin object, or `undefined` when it is. Checked
 * structurally, not with `instanceof`: a plugin may be built with another copy
 * of `@sluice/core`. The range itself is checked by the loader.
 */
export function pluginProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'a plugin is an object made by definePlugin()';
  const p = value as Partial<Record<keyof SluicePlugin | 'register', unknown>>;
  if (typeof p.register === 'function' && p.outbounds === undefined) {
    return 'it uses the old register(container) API; write it with definePlugin() from @sluice/core (docs/plugins.md)';
  }
  if (typeof p.name !== 'string' || p.name === '') return '"name" must be the package name';
  if (typeof p.sluice !== 'string' || p.sluice.trim() === '') {
    return `plugin "${p.name}" gives no "sluice" range: say which @sluice/core versions it works with, e.g. sluice: "^0.1.0"`;
  }
  if (!Array.isArray(p.outbounds)) return `plugin "${p.name}": "outbounds" must be an array of defineOutbound() results`;
  for (const [i, d] of p.outbounds.entries()) {
    const problem = definitionProblem(d);
    if (problem !== undefined) return `plugin "${p.name}": outbounds[${i}]: ${problem}`;
  }
  return undefined;
}

function definitionProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'an outbound definition is an object made by defineOutbound()';
  const d = value as Partial<Record<keyof OutboundDefinition, unknown>>;
  if (typeof d.type !== 'string' || d.type === '') return '"type" must be a non-empty string';
  const schema = d.options as { safeParse?: unknown } | undefined;
  if (typeof schema?.safeParse !== 'function') return `type "${d.type}": "options" must be a schema with safeParse() (a zod object)`;
  if (typeof d.create !== 'function') return `type "${d.type}": "create" must be a function`;
  if (d.dependencies !== undefined && typeof d.dependencies !== 'function') return `type "${d.type}": "dependencies" must be a function`;
  if (d.egress !== undefined && typeof d.egress !== 'function') return `type "${d.type}": "egress" must be a function`;
  return undefined;
}
