import type { Network } from './flow';
import type { Outbound, OutboundDeps } from './outbound';

/**
 * One problem a schema reports: the parts of a zod issue core reads. Typed
 * structurally, so any copy or version of zod with this shape fits, and core
 * needs no zod of its own.
 */
export interface SchemaIssue {
  /** Key path inside the validated object, e.g. `['port']` or `['local_address', 1]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** zod's issue code; `unrecognized_keys` is reported one issue per key. */
  readonly code?: string;
  /** The unknown keys of an `unrecognized_keys` issue. */
  readonly keys?: readonly string[];
}

/** What {@link OptionsSchema.safeParse} returns: the parsed value or the issues. */
export type SchemaResult<T> = { readonly success: true; readonly data: T } | { readonly success: false; readonly error: { readonly issues: readonly SchemaIssue[] } };

/**
 * An outbound's options schema: anything with zod's `safeParse`
 * (`z.object({...}).strict()` is the usual one). It sees the outbound's config
 * entry without `tag` and `type`, which core owns and checks itself.
 */
export interface OptionsSchema<T> {
  /** Parses `input` without throwing: the value, or the issues found. */
  safeParse(input: unknown): SchemaResult<T>;
  /**
   * The JSON Schema (draft-07) of the input, for `sluice.schema.json` and the
   * docs. Optional: a zod schema is converted without it; a schema written by
   * hand (core's `block` and groups) gives it here.
   */
  readonly jsonSchema?: { readonly [keyword: string]: unknown };
}

/** The parsed options type of a schema: `z.infer` for a zod schema. */
export type SchemaOutput<S> = S extends {
  /** See {@link OptionsSchema.safeParse}. */
  safeParse(input: unknown): infer R;
} ? (R extends { success: true; data: infer T } ? T : never) : never;

/**
 * One outbound type, as written with `defineOutbound`: the `type:` value in
 * config, the options schema, and how to build an outbound from parsed options.
 */
export interface OutboundDefinition<O = unknown> {
  /** The `type:` value in config (`socks`, `direct`…), unique across the loaded plugins. */
  readonly type: string;
  /** Validates the entry's options (the entry minus `tag` and `type`). */
  readonly options: OptionsSchema<O>;
  /**
   * Tags of the outbounds this one is carried by (its `via`): core creates
   * them first, reports an unknown tag or a cycle at `<entry>.via`, and lets
   * `deps.resolve` return only these.
   */
  dependencies?(options: O): readonly string[];
  /**
   * How an outbound with these options sends its own traffic, for the checks
   * `sluice check` makes before anything starts (`firewall.local` needs every
   * socket marked; a UDP inbound needs an outbound that carries UDP).
   * Optional: an outbound type without it is not checked.
   */
  egress?(options: O): OutboundEgress;
  /** Builds the outbound. Must not do I/O: `start()` is for that. */
  create(options: O, deps: OutboundDeps): Outbound;
}

/** What {@link OutboundDefinition.egress} tells core about one outbound's traffic. */
export interface OutboundEgress {
  /**
   * The `SO_MARK` on the sockets it opens; `undefined` when they carry none;
   * `'via'` when it opens none of its own (its traffic rides on its `via`,
   * which is checked in turn).
   */
  readonly mark: number | undefined | 'via';
  /** The networks it carries; with a `via`, core also requires the via to carry them. */
  readonly networks: readonly Network[];
}

/**
 * A plugin package's main export (`exports.plugin`, the default export, or the
 * module itself), as written with `definePlugin`.
 */
export interface SluicePlugin {
  /** The npm package name, used in error messages. */
  readonly name: string;
  /**
   * The semver range of `@sluice/core` this plugin works with (`"^0.1.0"`).
   * Core refuses to load a plugin whose range excludes it.
   */
  readonly sluice: string;
  /** The outbound types it adds. */
  readonly outbounds: readonly OutboundDefinition<any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- each definition has its own options type
}

/** One entry of the config's `outbounds` list, before its type validates the rest. */
export interface OutboundEntry {
  readonly tag: string;
  readonly type: string;
  /** The whole entry as written; the type's options schema validates it (without `tag` and `type`). */
  readonly raw: Record<string, unknown>;
  /** Key path of the entry, e.g. `outbounds[2]`. */
  readonly path: string;
}
