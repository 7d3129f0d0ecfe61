import { CONTROL_FIELDS } from './control';
import { DNS_FIELDS } from './dns';
import { anyOf, boolValue, listOf, mappingOf, type ConfigField } from './field';
import { INBOUND_FIELDS } from './inbound';
import { ROUTE_FIELDS } from './route';
import { FIREWALL_FIELDS, LIMIT_FIELDS, LOG_FIELDS, RELAY_FIELDS, TIMEOUT_FIELDS, UDP_FIELDS, WORKER_FIELDS } from './settings';

/** Where the schema keeps one outbound entry (a `oneOf` over the outbound types). */
export const OUTBOUND_REF = '#/definitions/outbound';

/** The top level of a config file. */
export const ROOT_FIELDS: readonly ConfigField[] = [
  { key: 'log', value: mappingOf(LOG_FIELDS), description: 'logging' },
  WORKER_FIELDS.find((f) => f.key === 'plugins')!,
  { key: 'inbounds', value: listOf(mappingOf(INBOUND_FIELDS, 'inbound'), 1), required: true, description: 'where captured traffic arrives; at least one' },
  {
    key: 'outbounds',
    value: listOf({ schema: { $ref: OUTBOUND_REF }, label: 'outbound' }, 1),
    required: true,
    description: 'where flows leave; at least one. `tag` and `type`, plus the keys of that type',
  },
  { key: 'route', value: mappingOf(ROUTE_FIELDS), description: 'rules that pick an outbound for each flow' },
  { key: 'firewall', value: mappingOf(FIREWALL_FIELDS), description: 'what `sluice rules` renders' },
  { key: 'timeouts', value: mappingOf(TIMEOUT_FIELDS), description: 'connect and idle timeouts' },
  { key: 'udp', value: mappingOf(UDP_FIELDS), description: 'UDP sessions' },
  { key: 'limits', value: mappingOf(LIMIT_FIELDS), description: 'flow limits' },
  WORKER_FIELDS.find((f) => f.key === 'workers')!,
  WORKER_FIELDS.find((f) => f.key === 'worker_mode')!,
  { key: 'relay', value: mappingOf(RELAY_FIELDS), description: 'kernel and native fast paths' },
  {
    key: 'control',
    value: anyOf('mapping or boolean', boolValue, mappingOf(CONTROL_FIELDS)),
    description: 'the control API, dashboard and metrics; absent = off, `true` = all defaults',
  },
  { key: 'dns', value: mappingOf(DNS_FIELDS), description: 'the built-in resolver; absent = none runs' },
];
