/** The config's JSON Schema and docs tables, generated from the descriptors the config readers use. */
export { configJsonSchema } from './config-schema';
export { builtinOutboundDefinitions } from './builtin-definitions';
export { configDocTables, fillDocTables, fieldTable, outboundTable, schemaLabel } from './doc-tables';
export { optionsJsonSchema } from './options-schema';
