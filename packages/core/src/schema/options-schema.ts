import { ignoreOverride, parseDef, zodToJsonSchema, type Options } from 'zod-to-json-schema';
import type { OptionsSchema } from '../adapter/plugin';
import type { JsonSchema } from '../config-keys/field';

// What the plugins' preprocess steps turn into numbers: marks written as "0x2" or "2".
const INT_STRING = { type: 'string', pattern: '^(0x[0-9a-fA-F]+|\\d+)$' };

interface ZodDefLike {
  readonly typeName?: string;
  readonly effect?: { readonly type?: string };
  readonly schema?: { readonly _def: unknown };
}

/**
 * A zod preprocess step accepts more than its inner schema (that is what it
 * is for: `mark: "0x2"` becomes 2), so the JSON Schema accepts the inner
 * schema or, for a number, a decimal or hex string; zod-to-json-schema alone
 * would give only the inner schema and reject valid configs.
 */
const preprocessAsInput: Options['override'] = (def, refs) => {
  const d = def as unknown as ZodDefLike;
  if (d.typeName !== 'ZodEffects' || d.effect?.type !== 'preprocess' || !d.schema) return ignoreOverride;
  const inner = parseDef(d.schema._def as never, refs) as { type?: string } | undefined;
  // A preprocess step over anything else accepts what only its own code knows: any value.
  const schema = inner && (inner.type === 'number' || inner.type === 'integer') ? { anyOf: [inner, INT_STRING] } : {};
  return schema as ReturnType<NonNullable<Options['override']>>;
};

/**
 * The JSON Schema of an outbound type's options (the entry without `tag` and
 * `type`): the schema's own `jsonSchema` when it has one (core's hand-written
 * ones), the conversion of a zod schema, else any mapping (a schema written
 * some other way, which only its own `safeParse` can judge).
 */
export function optionsJsonSchema(options: OptionsSchema<unknown>): JsonSchema {
  if (options.jsonSchema) return options.jsonSchema;
  if (typeof (options as { _def?: unknown })._def === 'object') {
    const { $schema: _, ...schema } = zodToJsonSchema(options as never, {
      target: 'jsonSchema7',
      $refStrategy: 'none',
      effectStrategy: 'input',
      removeAdditionalStrategy: 'strict',
      override: preprocessAsInput,
    }) as Record<string, unknown>;
    return schema;
  }
  return { type: 'object' };
}
