/**
 * The runtime alone, `import { connect, QmpError, validate } from 'qapi-ts/runtime'`:
 * no generated release is loaded. Nothing here depends on more than Node.
 */

// What every QMP release entry also gives: the client, its options and events, errors, JSON, validation.
export * from './client-api.js';
export * from './agent-api.js';

// The rest of the runtime, for tools and other faces.
export { JsonParseError, type Register } from './wire/json.js';
export { MessageDecoder, type DecoderEvents, type DecoderOptions, type JsonObject } from './wire/framing.js';
export { QEMU_JSON_LIMITS } from './wire/limits.js';
export { lazyDescriptor, type SchemaIfCond } from './schema/descriptor.js';
export { queryPath } from './schema/query.js';
export { drift, type DriftItem, type DriftReport } from './schema/drift.js';
export { deprecatedInput, type DeprecatedUse } from './schema/deprecation.js';
export type {
  JsonTypeName,
  SchemaDescriptor,
  SchemaInfo,
  SchemaInfoAlternate,
  SchemaInfoAlternateMember,
  SchemaInfoArray,
  SchemaInfoBuiltin,
  SchemaInfoCommand,
  SchemaInfoEnum,
  SchemaInfoEnumMember,
  SchemaInfoEvent,
  SchemaInfoObject,
  SchemaInfoObjectMember,
  SchemaInfoObjectVariant,
  SchemaMetaType,
} from './schema/descriptor.js';
export type { CommandEntry, RuntimeTable } from './schema/table.js';
export {
  bindConnect,
  type CommandMap,
  type CommandName,
  type CommandSpec,
  type Method,
  type Methods,
  type VersionData,
} from './qmp/client.js';
export { redact, redactArguments, REDACTED } from './redact.js';
export { bindConnectAgent } from './qga/client.js';
export { AGENT_TIMEOUTS, DEFAULT_AGENT_TIMEOUT } from './qga/timeouts.js';
