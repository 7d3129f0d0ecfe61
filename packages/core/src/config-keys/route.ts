import { DEFAULTS, MAX_TIMER_MS } from './defaults';
import { cidrValue, enumValue, intValue, keysOf, listOf, objectSchema, withOneOf, oneOrList, portValue, stringValue, textValue, type ConfigField, type JsonSchema, type ValueSpec } from './field';
import { NETWORK_VALUE } from './inbound';

/** What a `protocol` condition names, in the order error messages list them. */
export const RULE_PROTOCOLS = ['dns', 'tls', 'http', 'quic'] as const;

/** Where the schema keeps the condition mapping, which `all`, `any` and `not` nest. */
export const CONDITION_REF = '#/definitions/condition';

/** A nested condition: a mapping of conditions or a Clash condition line (`DOMAIN,a.com`). */
const NESTED: ValueSpec = { schema: { anyOf: [{ $ref: CONDITION_REF }, { type: 'string', minLength: 1 }] }, label: 'condition' };
const domains = oneOrList(textValue('domain name'));
const tags = oneOrList(stringValue);

/** The keys that make a condition, in a rule or inside `all`, `any` and `not`. */
export const CONDITION_FIELDS: readonly ConfigField[] = [
  { key: 'network', value: NETWORK_VALUE, description: '`tcp` / `udp`' },
  { key: 'inbound', value: tags, description: 'tag(s) of the inbound that accepted the flow; each must exist' },
  { key: 'src_cidr', value: oneOrList(cidrValue), description: "the client's address" },
  { key: 'dst_cidr', value: oneOrList(cidrValue), description: 'the original destination address' },
  { key: 'src_port', value: oneOrList(portValue), description: "the client's port" },
  { key: 'dst_port', value: oneOrList(portValue), description: 'the original destination port' },
  {
    key: 'protocol',
    value: oneOrList(enumValue(RULE_PROTOCOLS)),
    description:
      '`dns`: a flow to port 53, or (on an inbound with `sniff: true`) one whose first bytes are a DNS query; `tls`, `http`, `quic`: the sniffer that found the flow\'s name',
  },
  { key: 'domain', value: domains, description: "the flow's host name, exactly" },
  {
    key: 'domain_suffix',
    value: domains,
    description:
      "`example.com` matches example.com and every name under it (`www.example.com`, `a.b.example.com`), not `badexample.com`; `.example.com` matches only the names under it (sing-box's semantics)",
  },
  { key: 'domain_keyword', value: oneOrList(stringValue), description: 'the host name contains the string' },
  { key: 'domain_regex', value: oneOrList(textValue('regular expression')), description: 'a JavaScript regular expression, tested case-insensitively against the host name' },
  { key: 'rule_set', value: tags, description: 'tag(s) of `route.rule_sets`; matches when any of the sets matches' },
  {
    key: 'all',
    value: listOf(NESTED, 1),
    description: 'a list of conditions (mappings like a rule without `name`/`outbound`, or Clash conditions such as `"DOMAIN,a.com"`); all must match',
  },
  { key: 'any', value: listOf(NESTED, 1), description: 'the same; at least one must match' },
  { key: 'not', value: NESTED, description: 'one condition; must not match' },
];

/** A rule written as a mapping: its name and outbound besides the conditions. */
export const RULE_FIELDS: readonly ConfigField[] = [
  { key: 'name', value: stringValue, defaultText: '`rules[i]`', description: 'used in logs as `rule=`' },
  ...CONDITION_FIELDS,
  { key: 'outbound', value: stringValue, required: true, description: "an existing outbound's tag (a group's tag works like any other), or `hijack-dns` (built in: the flow's DNS queries answered by the `dns` resolver; needs a `dns` section, see [dns.md](dns.md#dns-on-the-tproxy-route-protocol-dns--hijack-dns))" },
];

/** One entry of `route.rule_sets`. */
export const RULE_SET_FIELDS: readonly ConfigField[] = [
  { key: 'tag', value: stringValue, required: true, description: 'unique; what `rule_set` and `RULE-SET` name' },
  { key: 'type', value: enumValue(['file']), default: 'file', description: 'the only type' },
  {
    key: 'path',
    value: textValue('file path'),
    required: true,
    description: 'relative to the config file\'s directory; must exist at start and on reload (else a config error, `route.rule_sets[0].path: file not found: …`)',
  },
  {
    key: 'format',
    value: enumValue(['text', 'clash', 'sing-box']),
    defaultText: 'from the extension (`.txt`/`.list` text, `.yaml`/`.yml` clash, `.json` sing-box)',
    description: '`text`, `clash` or `sing-box`',
  },
  {
    key: 'behavior',
    value: enumValue(['domain', 'ipcidr', 'classical']),
    defaultText: 'required with `format: clash`',
    description: '`domain`, `ipcidr` or `classical`: what the Clash payload holds',
  },
];

/** A rule: a mapping (strict) or a Clash rule line. */
const RULE_VALUE: ValueSpec = { schema: { anyOf: [{ $ref: '#/definitions/rule' }, { type: 'string', minLength: 1 }] }, label: 'rule' };

/** `route`. */
export const ROUTE_FIELDS: readonly ConfigField[] = [
  {
    key: 'rules',
    value: listOf(RULE_VALUE),
    default: [],
    description: 'ordered list of rules (mappings or Clash rule lines); the first rule whose conditions all match picks the outbound',
  },
  {
    key: 'rule_sets',
    value: listOf({ schema: { $ref: '#/definitions/rule_set' }, label: 'rule set' }),
    default: [],
    description: 'files of names, CIDRs or rules that rules refer to with `rule_set` / `RULE-SET` (below)',
  },
  {
    key: 'final',
    value: stringValue,
    defaultText: 'the only outbound, when there is exactly one',
    description: 'outbound for flows no rule matches; required with more than one outbound',
  },
  {
    key: 'hook_timeout_ms',
    value: intValue(1, MAX_TIMER_MS),
    default: DEFAULTS.route.hook_timeout_ms,
    description:
      "how long an embedder's routing hook may take ([embedding.md](embedding.md)); past it, or when the hook throws, the rules decide and a rate-limited warning is logged",
  },
];

/** Schema definitions the route fields refer to by `$ref`. */
export function routeDefinitions(): Record<string, JsonSchema> {
  return {
    condition: withOneOf(objectSchema(CONDITION_FIELDS), keysOf(CONDITION_FIELDS)),
    rule: withOneOf(objectSchema(RULE_FIELDS), keysOf(CONDITION_FIELDS)),
    rule_set: objectSchema(RULE_SET_FIELDS),
  };
}
