import { boolValue, enumValue, intValue, listOf, mappingOf, stringValue, textValue, type ConfigField } from './field';

/** The outbound types that are groups, built into core. */
export const GROUP_TYPES = ['selector', 'fallback', 'url-test', 'load-balance'] as const;
/** One of {@link GROUP_TYPES}. */
export type GroupType = (typeof GROUP_TYPES)[number];

/** How a `load-balance` group spreads flows. */
export const LOAD_BALANCE_STRATEGIES = ['consistent-hashing', 'round-robin', 'sticky-sessions'] as const;

/** Defaults of `check:` (mihomo's URL and interval). */
export const CHECK_DEFAULTS = { url: 'http://www.gstatic.com/generate_204', interval_ms: 300_000, timeout_ms: 5000, lazy: false } as const;

/** A group key and the group types that take it. */
export interface GroupField extends ConfigField {
  readonly types: readonly GroupType[];
}

const MAX_MS = 2_147_483_647;

/** A group's `check:` mapping. */
export const CHECK_FIELDS: readonly ConfigField[] = [
  {
    key: 'url',
    value: textValue('http:// URL', '^[hH][tT][tT][pP]://'),
    default: CHECK_DEFAULTS.url,
    description: 'a plain `http://` URL (`https://` is refused: the check writes its own request)',
  },
  { key: 'interval_ms', value: intValue(100, MAX_MS), default: CHECK_DEFAULTS.interval_ms, description: 'time between checks of every member; at least 100' },
  { key: 'timeout_ms', value: intValue(1, MAX_MS), default: CHECK_DEFAULTS.timeout_ms, description: 'a check slower than this fails' },
  {
    key: 'lazy',
    value: boolValue,
    default: CHECK_DEFAULTS.lazy,
    description: 'check only when a flow used the group since the last check (the first flow of a never-checked group starts one at once)',
  },
];

// Group options are plain numbers (no hex strings): the group parser takes integers as written.
const ms = (min: number) => ({ schema: { type: 'integer', minimum: min, maximum: MAX_MS }, label: `integer ≥ ${min}` });

/** The options of the group types (the entry without `tag` and `type`). */
export const GROUP_FIELDS: readonly GroupField[] = [
  {
    key: 'outbounds',
    types: GROUP_TYPES,
    value: listOf(stringValue, 1),
    required: true,
    description:
      'member tags, at least one, no repeats; members may be groups. A tag that names no outbound is an error at `outbounds[i].outbounds[j]`; a group that contains itself, directly or not, is `outbounds[i]: group cycle a -> b -> a`',
  },
  { key: 'default', types: ['selector'], value: stringValue, defaultText: 'the first member', description: 'the member selected at start' },
  {
    key: 'check',
    types: GROUP_TYPES,
    value: mappingOf(CHECK_FIELDS),
    defaultText: 'on for `fallback`, `url-test`, `load-balance` with the defaults below; off for `selector` unless given',
    description: 'the health check (table below)',
  },
  {
    key: 'tolerance_ms',
    types: ['url-test'],
    value: ms(0),
    default: 50,
    description: 'switch to another member only when its delay is lower by more than this',
  },
  { key: 'strategy', types: ['load-balance'], value: enumValue(LOAD_BALANCE_STRATEGIES), default: 'consistent-hashing', description: 'how flows are spread over the members' },
  {
    key: 'sticky_ttl_ms',
    types: ['load-balance'],
    value: ms(1),
    default: 600_000,
    description: '`sticky-sessions`: how long a source IP and destination stay on their member after their last flow',
  },
];

/** The fields group type `type` takes. */
export function groupFields(type: GroupType): GroupField[] {
  return GROUP_FIELDS.filter((f) => f.types.includes(type));
}
