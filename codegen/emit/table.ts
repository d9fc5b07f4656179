/**
 * The runtime table (runtime/schema/table.ts): method names and flags per command,
 * the events, and the members holding 64-bit integers per object type.
 */
import { AlternateType, ArrayType, BuiltinType, type Command, type Event, ObjectType, type Type } from '../entities.js';
import { QapiError } from '../errors.js';
import type { Feature } from '../members.js';
import type { Schema } from '../schema.js';
import type { CommandEntry, EventEntry, RuntimeTable } from '../../runtime/schema/table.js';
import { buildDescriptor } from './descriptor.js';

/**
 * The client method for a command: camelCase of its wire name, words split
 * at '-', '_' and '.'. 'blockdev-add' → 'blockdevAdd', 'qmp_capabilities' →
 * 'qmpCapabilities'; a downstream prefix loses its underscores and dots:
 * '__com.redhat_drive-add' → 'comRedhatDriveAdd'.
 */
export function methodName(wireName: string): string {
  const words = wireName.split(/[-_.]+/).filter(Boolean);
  const name = words.map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w)).join('');
  if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)) {
    throw new QapiError(`command '${wireName}' has no valid method name (got '${name}')`);
  }
  return name;
}

/** The 64-bit integer built-ins: their values may be beyond 2^53 and then arrive as bigint. */
const INT64_TYPES = new Set(['int', 'int64', 'uint64', 'size']);

/** Whether values of `type` may be (or contain at top level of arrays/alternates) a 64-bit integer. */
function holdsInt64(type: Type): boolean {
  if (type instanceof BuiltinType) return INT64_TYPES.has(type.name);
  if (type instanceof ArrayType) return holdsInt64(type.elementType);
  if (type instanceof AlternateType) return type.alternatives.variants.some((v) => holdsInt64(v.type));
  return false;
}

function flags(features: readonly Feature[]): { deprecated?: true; unstable?: true } {
  const out: { deprecated?: true; unstable?: true } = {};
  if (features.some((f) => f.name === 'deprecated')) out.deprecated = true;
  if (features.some((f) => f.name === 'unstable')) out.unstable = true;
  return out;
}

export function buildTable(schema: Schema, protocol: 'qmp' | 'qga'): RuntimeTable {
  const commands: { [wireName: string]: CommandEntry } = {};
  const events: { [name: string]: EventEntry } = {};
  const methods = new Map<string, string>();

  schema.visit({
    visitCommand(c: Command) {
      const method = methodName(c.name);
      const other = methods.get(method);
      if (other !== undefined) {
        throw new QapiError(`commands '${other}' and '${c.name}' would both be the client method '${method}'`);
      }
      methods.set(method, c.name);
      const entry: CommandEntry = { method };
      if (c.allowOob) entry.oob = true;
      if (!c.successResponse) entry.noReply = true;
      Object.assign(entry, flags(c.features));
      if (c.boxed) entry.boxed = true;
      commands[c.name] = entry;
    },
    visitEvent(e: Event) {
      events[e.name] = flags(e.features);
    },
  });

  // Object types in descriptor order, so the table and the descriptor agree on names and order.
  const int64: { [typeName: string]: string[] } = {};
  for (const info of buildDescriptor(schema)) {
    if (info['meta-type'] !== 'object') continue;
    const type = schema.lookupType(info.name);
    if (!(type instanceof ObjectType)) throw new Error(`descriptor object '${info.name}' is not in the schema`);
    const members = type.members.filter((m) => holdsInt64(m.type)).map((m) => m.name);
    if (members.length) int64[info.name] = members;
  }
  return { protocol, commands, events, int64 };
}
