import type { OutboundDefinition } from '../adapter/plugin';
import type { ConfigField, JsonSchema } from '../config-keys/field';
import { isGroupType } from '../outbound/groups';
import { optionsJsonSchema } from './options-schema';
import { CONTROL_FIELDS } from '../config-keys/control';
import { DNS_CACHE_FIELDS, DNS_FIELDS, DNS_RULE_FIELDS, DNS_UPSTREAM_FIELDS } from '../config-keys/dns';
import { CHECK_FIELDS, GROUP_FIELDS } from '../config-keys/groups';
import { INBOUND_FIELDS } from '../config-keys/inbound';
import { CONDITION_FIELDS, ROUTE_FIELDS, RULE_SET_FIELDS } from '../config-keys/route';
import { FIREWALL_FIELDS, LIMIT_FIELDS, LOG_FIELDS, RELAY_FIELDS, TIMEOUT_FIELDS, UDP_FIELDS, WORKER_FIELDS } from '../config-keys/settings';

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function shown(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => String(v)).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0 ? '{}' : JSON.stringify(value);
  return String(value);
}

function defaultCell(f: ConfigField): string {
  if (f.defaultText !== undefined) return f.defaultText;
  if (f.default !== undefined) return `\`${shown(f.default)}\``;
  return f.required ? 'required' : '—';
}

/** A markdown table of `fields`: key, type, default, description; `prefix` goes before each key (`cache.`). */
export function fieldTable(fields: readonly ConfigField[], prefix = ''): string {
  const rows = fields.map((f) => `| \`${prefix}${f.key}\` | ${cell(f.value.label)} | ${cell(defaultCell(f))} | ${cell(f.description)} |`);
  return ['| key | type | default | description |', '|---|---|---|---|', ...rows].join('\n');
}

function groupTable(): string {
  const rows = [
    ...GROUP_FIELDS.map((f) => `| \`${f.key}\` | ${f.types.length === 4 ? 'all' : f.types.map((t) => `\`${t}\``).join(', ')} | ${cell(f.value.label)} | ${cell(defaultCell(f))} | ${cell(f.description)} |`),
    ...CHECK_FIELDS.map((f) => `| \`check.${f.key}\` | | ${cell(f.value.label)} | ${cell(defaultCell(f))} | ${cell(f.description)} |`),
  ];
  return ['| key | types | type | default | description |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** A short reading of a JSON Schema for the docs' "type" column. */
export function schemaLabel(schema: JsonSchema): string {
  const s = schema as { type?: string | string[]; enum?: unknown[]; anyOf?: JsonSchema[]; items?: JsonSchema; minimum?: number; maximum?: number; pattern?: string };
  // A string that reads as a number keeps its quotes: `version: "4"` and `version: 4` are different YAML.
  const literal = (v: unknown): string => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? JSON.stringify(v) : String(v));
  if (s.enum) return s.enum.map((v) => `\`${literal(v)}\``).join(' | ');
  if (s.anyOf) return s.anyOf.map(schemaLabel).join(' or ');
  if (s.type === 'array') return `list of ${s.items ? schemaLabel(s.items) : 'values'}`;
  if (s.type === 'integer' || s.type === 'number') {
    return s.minimum !== undefined && s.maximum !== undefined ? `integer ${s.minimum}-${s.maximum}` : s.type;
  }
  if (s.type === 'string' && s.pattern === '^(0x[0-9a-fA-F]+|\\d+)$') return 'decimal or hex string';
  return Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any');
}

/** The options table of one outbound type, from its options' JSON Schema (a zod schema's `.describe()` texts). */
export function outboundTable(definition: OutboundDefinition): string {
  const schema = optionsJsonSchema(definition.options) as { properties?: Record<string, JsonSchema & { description?: string; default?: unknown }>; required?: string[] };
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties ?? {}).map(([key, p]) => {
    const def = p.default !== undefined ? `\`${shown(p.default)}\`` : required.has(key) ? 'required' : '—';
    return `| \`${key}\` | ${cell(schemaLabel(p))} | ${cell(def)} | ${cell(p.description ?? '')} |`;
  });
  return ['| key | type | default | description |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * The key tables of `docs/config.md`, by the name in their marker
 * (`<!-- generated: config-keys NAME -->`), made from the same descriptors
 * the config readers use; `outbound-TYPE` for each non-group type in
 * `definitions` that has keys, from its options schema.
 */
export function configDocTables(definitions: readonly OutboundDefinition[] = []): Map<string, string> {
  // Groups share one table; a type without keys (`block`) has nothing to tabulate.
  const tabled = definitions.filter((d) => !isGroupType(d.type) && Object.keys((optionsJsonSchema(d.options) as { properties?: object }).properties ?? {}).length > 0);
  const outbounds = tabled.map((d): [string, string] => [`outbound-${d.type}`, outboundTable(d)]);
  return new Map<string, string>([
    ...outbounds,
    ['log', fieldTable(LOG_FIELDS)],
    ['workers', fieldTable(WORKER_FIELDS)],
    ['relay', fieldTable(RELAY_FIELDS)],
    ['inbound', fieldTable(INBOUND_FIELDS)],
    ['groups', groupTable()],
    ['route', fieldTable(ROUTE_FIELDS)],
    ['rule-conditions', fieldTable(CONDITION_FIELDS)],
    ['rule-sets', fieldTable(RULE_SET_FIELDS)],
    ['firewall', fieldTable(FIREWALL_FIELDS)],
    ['timeouts', fieldTable(TIMEOUT_FIELDS)],
    ['udp', fieldTable(UDP_FIELDS)],
    ['limits', fieldTable(LIMIT_FIELDS)],
    ['control', fieldTable(CONTROL_FIELDS)],
    ['dns', fieldTable(DNS_FIELDS)],
    ['dns-upstream', fieldTable(DNS_UPSTREAM_FIELDS)],
    ['dns-rule', fieldTable(DNS_RULE_FIELDS)],
    ['dns-cache', fieldTable(DNS_CACHE_FIELDS, 'cache.')],
  ]);
}

const MARKER = /(<!-- generated: config-keys ([\w-]+) -->\n)[\s\S]*?(<!-- end generated -->)/g;

/**
 * `doc` with the text between each `<!-- generated: config-keys NAME -->`
 * and the next `<!-- end generated -->` replaced by table NAME. Throws for a
 * marker whose name has no table, so a typo cannot leave a stale table.
 */
export function fillDocTables(doc: string, tables: ReadonlyMap<string, string>): string {
  return doc.replace(MARKER, (_all, open: string, name: string, close: string) => {
    const table = tables.get(name);
    if (table === undefined) throw new Error(`docs marker "config-keys ${name}" names no table (known: ${[...tables.keys()].join(', ')})`);
    return `${open}${table}\n${close}`;
  });
}
