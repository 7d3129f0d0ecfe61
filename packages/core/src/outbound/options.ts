import type { OutboundDefinition } from '../adapter/plugin';
import { configErrorFromIssues } from '../util/zod-issues';

/**
 * Validates one outbound config entry (`tag` and `type` included, as written
 * in config) with its definition's schema. The schema sees the entry without
 * `tag` and `type`: core checks those itself, and the outbound learns its tag
 * from `deps.tag`. Throws a `ConfigError` with one issue per problem, at paths
 * under `path` (`outbounds[2].port: must be 1-65535`, one `unknown key` issue
 * per unknown key). Plugin tests use it to check their error messages.
 */
export function parseOutboundOptions<O>(definition: OutboundDefinition<O>, entry: Readonly<Record<string, unknown>>, path: string): O {
  const { tag: _tag, type: _type, ...options } = entry;
  const result = definition.options.safeParse(options);
  if (!result.success) throw configErrorFromIssues(result.error.issues, path);
  return result.data;
}
