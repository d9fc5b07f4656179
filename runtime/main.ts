/**
 * The package entry point, `import { connectQmp, QmpError, validate } from 'qapi-ts'`:
 * the runtime and the newest supported QEMU release's SDK (its types,
 * connectQmp, schema and table). `qapi-ts/runtime` is the runtime alone;
 * `qapi-ts/qemu-<V>` pins a release and re-exports the client API too.
 */
export * from './index.js';
export * from '../generated/latest.js';
// Both name these: the runtime's descriptor types win, as the package has always given them
// (the release's own query-qmp-schema types stay importable from 'qapi-ts/qemu-<V>').
export type {
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
