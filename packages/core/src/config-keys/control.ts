import { boolValue, listOf, stringValue, textValue, type ConfigField } from './field';

/** Default `control.listen`. */
export const DEFAULT_CONTROL_LISTEN = '127.0.0.1:9090';

/** `control`: the control API, dashboard and metrics. */
export const CONTROL_FIELDS: readonly ConfigField[] = [
  {
    key: 'listen',
    value: textValue('"address:port"'),
    default: DEFAULT_CONTROL_LISTEN,
    description: '`address:port` the control server binds (IPv6 in brackets: `[::1]:9090`). An IP address, not a name',
  },
  {
    key: 'secret',
    value: stringValue,
    defaultText: 'none',
    description:
      'the token clients send as `Authorization: Bearer <secret>` (WebSockets may send `?token=<secret>`). **Required when `listen` is not a loopback address** (`control.secret: required when control.listen (…) is not a loopback address`)',
  },
  {
    key: 'cors_origins',
    value: listOf(textValue('origin')),
    default: ['*'],
    description: 'origins a browser may call the API from (`"*"` or `"https://dashboard.example"`); only with a `secret`: without one, no cross-origin request is allowed at all',
  },
  { key: 'ui', value: boolValue, default: false, description: 'serve the built-in dashboard at `/ui/`' },
  { key: 'metrics_without_auth', value: boolValue, default: false, description: '`GET /metrics` without the secret, for a Prometheus scraper on a trusted network' },
];
