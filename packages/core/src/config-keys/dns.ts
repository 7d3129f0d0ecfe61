import { anyOf, boolValue, cidrValue, enumValue, intValue, listOf, mappingOf, oneOrList, stringValue, textValue, withOneOf, type ConfigField } from './field';

/** Defaults of the `dns` section. */
export const DNS_DEFAULTS = {
  cache: { size: 4096, min_ttl: 0, max_ttl: 86400, negative_ttl: 30 },
  mapping_size: 65536,
  fake_ip_range: ['198.18.0.0/15', 'fc00::/18'],
  fake_ip_store: '/var/lib/sluice/fake-ip.json',
} as const;

/** The URL forms `dns.upstreams[].address` takes. */
export const UPSTREAM_URL_PATTERN = '^(udp|tcp|tls|https)://[^\\s]+$';
const TTL_MAX = 7 * 24 * 3600;

/** One entry of `dns.upstreams` written as a mapping. */
export const DNS_UPSTREAM_FIELDS: readonly ConfigField[] = [
  { key: 'tag', value: stringValue, defaultText: '`upstreams[i]`', description: 'what `dns.rules[].upstream` names' },
  {
    key: 'address',
    value: textValue('upstream URL', UPSTREAM_URL_PATTERN),
    required: true,
    description:
      '`udp://IP[:port]` (53), `tcp://IP[:port]` (53), `tls://host[:port]` (853, DNS over TLS, certificate verified), `https://host[:port]/path` (DNS over HTTPS, RFC 8484); `tcp`, `tls` and `https` connections are kept open between queries (closed after 10 s idle)',
  },
  { key: 'via', value: stringValue, description: 'an outbound whose `dialTcp`/`dialUdp` carries the queries (a SOCKS chain, a marked `direct`); absent: a plain socket of this host' },
  {
    key: 'method',
    value: enumValue(['GET', 'POST']),
    defaultText: '`POST`',
    description: '`https://` only: `POST` sends the query as the body, `GET` as `?dns=` in base64url without padding (RFC 8484 §4.1)',
  },
];

/** One entry of `dns.rules`. */
export const DNS_RULE_FIELDS: readonly ConfigField[] = [
  { key: 'domain', value: oneOrList(textValue('domain name')), description: 'names matched exactly' },
  { key: 'domain_suffix', value: oneOrList(textValue('domain name')), description: 'names matched with every name under them' },
  { key: 'rule_set', value: oneOrList(stringValue), description: 'tags of `route.rule_sets`' },
  { key: 'upstream', value: stringValue, required: true, description: 'the tag of the upstream that answers a matching name' },
];

/** `dns.cache`. */
export const DNS_CACHE_FIELDS: readonly ConfigField[] = [
  { key: 'size', value: intValue(0, 10_000_000), default: DNS_DEFAULTS.cache.size, description: 'most cached responses (least recently used dropped first); `0` disables the cache' },
  { key: 'min_ttl', value: intValue(0, TTL_MAX), default: DNS_DEFAULTS.cache.min_ttl, description: 'TTLs below this are raised to it for caching (seconds); at most `max_ttl`' },
  { key: 'max_ttl', value: intValue(0, TTL_MAX), default: DNS_DEFAULTS.cache.max_ttl, description: 'TTLs above this are lowered to it for caching (seconds)' },
  {
    key: 'negative_ttl',
    value: intValue(0, TTL_MAX),
    default: DNS_DEFAULTS.cache.negative_ttl,
    description: 'how long NXDOMAIN and empty answers are kept when the upstream gave no SOA (with one, its minimum)',
  },
];

/** `dns`: the built-in resolver. */
export const DNS_FIELDS: readonly ConfigField[] = [
  {
    key: 'listen',
    value: oneOrList(textValue('"IP:port"')),
    required: true,
    description: 'list of `"IP:port"` / `"[IPv6]:port"`; a UDP socket and a TCP listener on each',
  },
  {
    key: 'upstreams',
    value: listOf(anyOf('upstream URL or mapping', textValue('upstream URL', UPSTREAM_URL_PATTERN), mappingOf(DNS_UPSTREAM_FIELDS)), 1),
    required: true,
    description: 'list of upstreams: a URL string, or `{ tag, address, via, method }` (table below). The first upstream answers every name no rule sends elsewhere',
  },
  {
    key: 'rules',
    value: listOf({ ...mappingOf(DNS_RULE_FIELDS), schema: withOneOf(mappingOf(DNS_RULE_FIELDS).schema, ['domain', 'domain_suffix', 'rule_set']) }),
    default: [],
    description: 'list of `{ domain, domain_suffix, rule_set, upstream }`: a name matching any of the patterns goes to the upstream tagged `upstream`; first match wins',
  },
  { key: 'cache', value: mappingOf(DNS_CACHE_FIELDS), description: 'the answer cache (table below)' },
  {
    key: 'hosts',
    value: {
      schema: { type: 'object', additionalProperties: { anyOf: [textValue('IP').schema, { type: 'array', items: textValue('IP').schema, minItems: 1 }] } },
      label: 'mapping of name to IP(s)',
    },
    default: {},
    description: 'static names: `name: IP` or `name: [IP, …]`; answered by Sluice itself (TTL 10)',
  },
  {
    key: 'mode',
    value: enumValue(['mapping', 'fake-ip']),
    default: 'mapping',
    description: '`mapping`: real answers, each A/AAAA address remembered as IP → name; `fake-ip`: A/AAAA answers from `fake_ip_range`',
  },
  { key: 'mapping_size', value: intValue(1, 10_000_000), default: DNS_DEFAULTS.mapping_size, description: 'most IP → name entries (`mapping`) or fake addresses per family (`fake-ip`)' },
  { key: 'fake_ip_range', value: oneOrList(cidrValue), default: [...DNS_DEFAULTS.fake_ip_range], description: 'one CIDR per family; at most /30 or /126' },
  {
    key: 'fake_ip_filter',
    value: anyOf('name pattern or list', textValue('name pattern'), listOf(textValue('name pattern'))),
    default: [],
    description: 'names that always get real answers: `*.lan` (one label under `lan`), `+.example.com` (the name and everything under it), `example.com` (exactly), `rule-set:TAG`',
  },
  {
    key: 'fake_ip_store',
    value: textValue('file path'),
    default: DNS_DEFAULTS.fake_ip_store,
    description: "where the fake-IP mapping is kept across restarts (relative paths: against the config's directory)",
  },
  {
    key: 'hijack',
    value: boolValue,
    default: false,
    description: "`sluice rules` redirects clients' DNS (UDP and TCP port 53, IPv4 and IPv6) to `listen`; needs a non-loopback `listen` address",
  },
];
