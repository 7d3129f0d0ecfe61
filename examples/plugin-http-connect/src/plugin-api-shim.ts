/*
 * ─── SHIM: delete this file when `@sluice/core` exports definePlugin/defineOutbound (issue #8) ───
 *
 * A stand-in for the plugin API being added to core, with the same call
 * shape, adapted to the `register(container)` contract today's core loads.
 * index.ts is written against the real API; switching is changing its import
 * to '@sluice/core' and removing this file.
 */
import type { z } from 'zod';
import { OUTBOUND_FACTORY, configErrorFromZod, type Outbound, type OutboundDeps, type OutboundFactory, type SluicePlugin } from '@sluice/core';

/** What `create` gets besides the options (the real API's deps). */
export interface PluginOutboundDeps {
  readonly tag: string;
  readonly logger: OutboundDeps['logger'];
  resolve(tag: string): Outbound;
  service<T>(token: symbol): T;
}

/** One outbound type as the real `defineOutbound` takes it. */
export interface OutboundDefinition<S extends z.ZodTypeAny> {
  readonly type: string;
  readonly options: S;
  dependencies?(options: z.output<S>): readonly string[];
  create(options: z.output<S>, deps: PluginOutboundDeps): Outbound;
}

/** Stand-in for core's `defineOutbound`. */
export const defineOutbound = <S extends z.ZodTypeAny>(d: OutboundDefinition<S>): OutboundDefinition<S> => d;

/** Stand-in for core's `definePlugin` (the `sluice` range is not checked here). */
export function definePlugin(p: { name: string; sluice: string; outbounds: readonly OutboundDefinition<z.ZodTypeAny>[] }): SluicePlugin {
  type Parsed = { tag: string; options: unknown };
  const factories = p.outbounds.map(
    (d): OutboundFactory<Parsed> => ({
      type: d.type,
      parse(raw, path) {
        const { tag, type: _type, ...rest } = raw;
        const r = d.options.safeParse(rest);
        if (!r.success) throw configErrorFromZod(r.error.issues, path);
        return { tag: String(tag), options: r.data };
      },
      dependencies: (parsed) => d.dependencies?.(parsed.options) ?? [],
      create: (parsed, deps) =>
        d.create(parsed.options, { tag: deps.tag, logger: deps.logger, resolve: (t) => deps.resolve(t), service: (t) => deps.container.resolve(t) }),
    }),
  );
  return {
    name: p.name,
    register: (container) => factories.forEach((f) => container.register(OUTBOUND_FACTORY, { useValue: f })),
  };
}
