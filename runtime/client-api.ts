/**
 * What every release entry (`qapi-ts/qemu-<V>`, `qapi-ts/qsd-<V>`, and
 * with agent-api.ts `qapi-ts/qga-<V>`) re-exports besides its own SDK, so
 * that one import line is enough: the QMP client, its options and events,
 * the errors, lossless JSON and validation. Not the descriptor types: a release's own `SchemaInfo`
 * (query-qmp-schema's return type) has their names.
 */
export {
  CallbackError,
  ConnectionError,
  ProtocolError,
  QapiError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
  HmpError,
  LibvirtError,
  type LibvirtErrorCode,
  type ArgumentProblem,
  type ConnectionErrorCode,
  type ProtocolErrorCode,
  type QmpErrorCode,
  type UsageErrorCode,
} from './errors.js';
export type { StallInfo } from './core/requests.js';
export {
  connect,
  QmpClient,
  type CallOptions,
  type ClientOptions,
  type ClientProblem,
  type ConnectQmp,
  type ClientStats,
  type QmpGreeting,
  type TapEntry,
  type ValidateMode,
} from './qmp/client.js';
export type { Disposable, EventStream, EventStreamOptions, EventWait, QmpEvent, WaitOptions } from './qmp/events.js';
export { validate, type ValidationProblem, type ValidationTarget } from './schema/validate.js';
export { supports, type SchemaQuery } from './schema/query.js';
export {
  parseJson,
  stringifyJson,
  type Int64,
  type Int64Mode,
  type JsonValue,
  type Register,
  type RegisteredInt64Mode,
  type ConnectOptions,
} from './wire/json.js';
export type { Target } from './wire/transport.js';
export type { LibvirtTarget } from './libvirt/virsh.js';
export {
  addBitmap,
  backingFileOf,
  BackupError,
  clearBitmap,
  fleece,
  fullBackup,
  ImageError,
  imagesEqual,
  incrementalBackup,
  JobError,
  JobUsageError,
  listBitmaps,
  mergeBitmaps,
  qemuIo,
  removeBitmap,
  restoreChain,
  runJob,
  type BackupErrorCode,
  type BackupHost,
  type BackupResult,
  type BitmapInfo,
  type CompareOptions,
  type Fleece,
  type FleeceOptions,
  type FullBackupOptions,
  type ImageErrorCode,
  type ImageToolOptions,
  type IncrementalBackupOptions,
  type JobControl,
  type JobErrorCode,
  type JobHost,
  type JobProgress,
  type JobResult,
  type RunJobOptions,
} from './block/index.js';
export { hmpError } from './qmp/hmp.js';
