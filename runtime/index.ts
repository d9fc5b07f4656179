/**
 * The runtime alone, `import { connect, QmpError, validate } from 'qapi-ts/runtime'`:
 * no generated release is loaded. Nothing here depends on more than Node.
 */

// The wire: lossless JSON, framing, QEMU's parser limits.
export {
  JsonParseError,
  parseJson,
  stringifyJson,
  type Int64,
  type Int64Mode,
  type JsonValue,
  type Register,
} from './wire/json.js';
export { MessageDecoder, type DecoderEvents, type DecoderOptions, type JsonObject } from './wire/framing.js';
export { QEMU_JSON_LIMITS } from './wire/limits.js';
export type { Target } from './wire/transport.js';

// Schemas at run time: descriptors, tables, validation.
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
export { validate, type ValidationProblem, type ValidationTarget } from './schema/validate.js';

// Errors, each with a `code`.
export {
  CallbackError,
  QapiError,
  ConnectionError,
  ProtocolError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
  type ArgumentProblem,
  type ConnectionErrorCode,
  type ProtocolErrorCode,
  type UsageErrorCode,
} from './errors.js';
export type { StallInfo } from './core/requests.js';

// The QMP client.
export {
  bindConnect,
  connect,
  QmpClient,
  type CallOptions,
  type ClientOptions,
  type ClientProblem,
  type ClientStats,
  type CommandMap,
  type CommandName,
  type CommandSpec,
  type Method,
  type Methods,
  type QmpGreeting,
  type TapEntry,
  type VersionData,
} from './qmp/client.js';
export type { Disposable, EventStream, EventStreamOptions, EventWait, QmpEvent, WaitOptions } from './qmp/events.js';
export { redact, redactArguments, REDACTED } from './qmp/redact.js';
