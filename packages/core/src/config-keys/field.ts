/**
 * Config keys as data: the one source the config readers take their key lists
 * and defaults from, the JSON Schema (`schema/sluice.schema.json`) is built
 * from, and `docs/config.md`'s key tables are generated from
 * (`npm run gen:config-docs`). Adding a key is adding a descriptor here and
 * reading it in the section's reader.
 */

/** A JSON Schema (draft-07) fragment. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** What a value may be: its JSON Schema and the short label the docs' "type" column shows. */
export interface ValueSpec {
  readonly schema: JsonSchema;
  readonly label: string;
  /** An integer's inclusive bounds, which the reader checks (`must be 1-65535`). */
  readonly range?: { readonly min: number; readonly max: number };
}

/** One config key. */
export interface ConfigField {
  readonly key: string;
  readonly value: ValueSpec;
  /** Markdown for the docs table, also the schema's `description` (editors show it on hover). */
  readonly description: string;
  /** Must be written. */
  readonly required?: boolean;
  /** The value the reader fills in when the key is absent (emitted as the schema's `default`). */
  readonly default?: unknown;
  /** Markdown for the docs' "default" column when the default is not one fixed value. */
  readonly defaultText?: string;
}

/** The descriptor of `key` in `fields`; throws when there is none (a reader naming a key no descriptor has is a bug). */
export function fieldOf(fields: readonly ConfigField[], key: string): ConfigField {
  const f = fields.find((x) => x.key === key);
  if (!f) throw new Error(`no config key descriptor for "${key}"`);
  return f;
}

/** The keys of a mapping, in order: what the reader's unknown-key check accepts. */
export function keysOf(fields: readonly ConfigField[]): string[] {
  return fields.map((f) => f.key);
}

/** A mapping with exactly these keys (unknown keys refused, as the readers do). */
export function objectSchema(fields: readonly ConfigField[], description?: string): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const f of fields) {
    const s: Record<string, unknown> = { ...f.value.schema, description: f.description };
    if (f.default !== undefined) s.default = f.default;
    properties[f.key] = s;
  }
  const required = fields.filter((f) => f.required).map((f) => f.key);
  return {
    type: 'object',
    ...(description ? { description } : {}),
    properties,
    ...(required.length > 0 ? { required } : {}),
    additionalProperties: false,
  };
}

// An integer may be written as a decimal or hex string too (reader.ts toInt): "0x2", "2".
const INT_STRING = { type: 'string', pattern: '^\\s*(0[xX][0-9a-fA-F]+|[0-9]+)\\s*$' } as const;

/** An integer `min`-`max`, as a number or a decimal/hex string. */
export function intValue(min: number, max: number): ValueSpec {
  return { schema: { anyOf: [{ type: 'integer', minimum: min, maximum: max }, INT_STRING] }, label: `integer ${min}-${max}`, range: { min, max } };
}

/** A 32-bit mark, `0x2` or `2`. */
export const markValue: ValueSpec = { ...intValue(1, 0xffffffff), label: 'mark (integer, hex allowed)' };

/** `true` or `false`. */
export const boolValue: ValueSpec = { schema: { type: 'boolean' }, label: 'boolean' };

/** A non-empty string. */
export const stringValue: ValueSpec = { schema: { type: 'string', minLength: 1 }, label: 'string' };

/** One of these strings. */
export function enumValue(values: readonly string[]): ValueSpec {
  return { schema: { type: 'string', enum: [...values] }, label: values.map((v) => `\`${v}\``).join(' | ') };
}

/** A string that the reader checks further (an address, a URL…); `label` says what. */
export function textValue(label: string, pattern?: string): ValueSpec {
  return { schema: { type: 'string', minLength: 1, ...(pattern ? { pattern } : {}) }, label };
}

/** One value or a non-empty list of them (the readers' `readList`). */
export function oneOrList(item: ValueSpec): ValueSpec {
  return { schema: { anyOf: [item.schema, { type: 'array', items: item.schema, minItems: 1 }] }, label: `${item.label} or list` };
}

/** A list (may be empty). */
export function listOf(item: ValueSpec, minItems = 0): ValueSpec {
  return { schema: { type: 'array', items: item.schema, ...(minItems > 0 ? { minItems } : {}) }, label: `list of ${item.label}` };
}

/** Any of these forms. */
export function anyOf(label: string, ...values: ValueSpec[]): ValueSpec {
  return { schema: { anyOf: values.map((v) => v.schema) }, label };
}

/** A literal value (`auto`, `true`…). */
export function constValue(value: string | boolean | number): ValueSpec {
  return { schema: { const: value }, label: `\`${String(value)}\`` };
}

/** A strict mapping of these fields. */
export function mappingOf(fields: readonly ConfigField[], label = 'mapping'): ValueSpec {
  return { schema: objectSchema(fields), label };
}

/** `schema` that must also have at least one of `keys` (a rule needs a condition). */
export function withOneOf(schema: JsonSchema, keys: readonly string[]): JsonSchema {
  return { ...schema, anyOf: keys.map((k) => ({ required: [k] })) };
}

/** A CIDR or a bare address. */
export const cidrValue = textValue('CIDR');

/** A port 1-65535 or a range `"5000-5100"`. */
export const portValue = anyOf('port or "from-to"', intValue(1, 65535), textValue('port range', '^\\s*[^-\\s]+\\s*-\\s*[^-\\s]+\\s*$'));
