import { DEFAULTS } from './defaults';
import { boolValue, enumValue, intValue, oneOrList, stringValue, textValue, type ConfigField } from './field';

/** `network`: `tcp`, `udp`, or both. */
export const NETWORK_VALUE = oneOrList(enumValue(['tcp', 'udp']));

/** One entry of `inbounds`. */
export const INBOUND_FIELDS: readonly ConfigField[] = [
  { key: 'tag', value: stringValue, required: true, description: 'non-empty, unique among inbounds; rules refer to it with `inbound:`' },
  { key: 'type', value: enumValue(['tproxy', 'redirect']), required: true, description: '`tproxy`, or `redirect` (nat redirect, TCP only; see below)' },
  {
    key: 'listen',
    value: textValue('IP literal'),
    required: true,
    description:
      'an IP literal (`127.0.0.1`, `::1`, `0.0.0.0`, `::`); no host names, no zone ids, so no link-local (`fe80::/10`) address, and no IPv4-mapped one (`::ffff:127.0.0.1`: write `127.0.0.1`); each would fail to bind with `EINVAL`',
  },
  { key: 'port', value: intValue(1, 65535), required: true, description: 'the port both listeners (TCP and UDP) bind' },
  {
    key: 'network',
    value: NETWORK_VALUE,
    default: [...DEFAULTS.network],
    defaultText: '`[tcp, udp]` (`redirect`: `tcp`)',
    description: '`tcp`, `udp`, or both; `redirect` inbounds take `tcp` only (`inbounds[0].network: a redirect inbound carries TCP only …`)',
  },
  { key: 'reuse_port', value: boolValue, default: false, description: 'set `SO_REUSEPORT` on the listeners' },
  {
    key: 'sniff',
    value: boolValue,
    default: DEFAULTS.inbound.sniff,
    description: "read the host name from each flow's first bytes before routing it: TLS ClientHello SNI and HTTP/1 `Host` on TCP (QUIC Initial on UDP); see [Sniffing](#sniffing)",
  },
  {
    key: 'sniff_timeout_ms',
    value: intValue(1, 60_000),
    default: DEFAULTS.inbound.sniff_timeout_ms,
    description: "how long a client that has sent nothing, or an incomplete ClientHello or request head, may hold its flow's routing",
  },
  {
    key: 'override_destination',
    value: boolValue,
    default: DEFAULTS.inbound.override_destination,
    description: 'hand outbounds the sniffed name to dial (`socks` sends it as a domain name, `direct` resolves it) instead of the original address',
  },
];
