/** The package entry point: `import { connectQmp, QmpError, validate } from 'qapi-ts'`. Nothing here depends on more than Node. */
export { JsonParseError, parseJson, stringifyJson, type Int64, type JsonValue } from './json.js';
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
} from './descriptor.js';
export type { CommandEntry, EventEntry, RuntimeTable } from './table.js';
export { validate, type ValidationProblem, type ValidationTarget } from './validate.js';

// The QMP client.
export {
  bindConnect,
  connect,
  QmpClient,
  type CallOptions,
  type ClientOptions,
  type CommandMap,
  type CommandSpec,
  type Method,
  type Methods,
  type QmpGreeting,
  type TapEntry,
  type VersionData,
} from './client.js';
export {
  ConnectionError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
  type ArgumentProblem,
  type ConnectionErrorCode,
} from './errors.js';
export type { Disposable, EventStreamOptions, QmpEvent } from './events.js';
export { FramingError, MessageDecoder } from './framing.js';
export { redact } from './redact.js';
export type { Target } from './transport.js';

// The newest supported QEMU release's SDK: its types, connectQmp, schema and table.
export * from '../generated/latest.js';
