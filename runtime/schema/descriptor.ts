/**
 * A schema as data: the shape of QEMU's own introspection (the reply of
 * `query-qmp-schema`, defined in QEMU's qapi/introspect.json), so that code
 * reading descriptors works both for the descriptors generated with the SDK
 * (`generated/<label>/schema.ts`) and for one fetched from a running QEMU.
 *
 * The two differ in naming only:
 *
 * - Generated descriptors use the real type names ('BlockdevOptions', the
 *   implicit argument types as 'q_obj_blockdev-add-arg', 'q_empty' for "no
 *   arguments" or "returns nothing"), and list every built-in as itself
 *   ('int8', 'uint64', 'size'... each with json-type 'int'), so that values
 *   can be checked exactly, ranges included. Every built-in is listed, used or
 *   not. Arrays are named as QEMU names them, '[' element ']' (e.g. '[str]',
 *   '[BlockDeviceInfo]').
 * - A live descriptor masks the names of enums, objects and alternates as
 *   numbers ('42'), and collapses every integer type into 'int' (arrays of
 *   them into '[int]'). Its 'int' therefore stands for any 64-bit integer,
 *   signed or not. A descriptor without a built-in 'int64' is such a
 *   collapsed one.
 *
 * Commands and events come first, in schema order, then the types they use,
 * in order of first use (as QEMU orders its introspection).
 */
import type { JsonValue } from '../wire/json.js';

export type SchemaMetaType = 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';

/** JSON types as introspection names them; 'int' is a number without fraction, 'value' anything. */
export type JsonTypeName = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'object' | 'array' | 'value';

/**
 * A build condition as the schema writes it: a configuration symbol
 * (CONFIG_VNC, TARGET_S390X...) or all/any/not of conditions.
 */
export type SchemaIfCond = string | { all: SchemaIfCond[] } | { any: SchemaIfCond[] } | { not: SchemaIfCond };

/**
 * Extension, only in generated descriptors (introspection leaves out what
 * the build lacks and never says why): the build condition of an entity,
 * member, branch, enum value or alternative. What has one may be absent
 * from a given QEMU: validation accepts a conditional member missing.
 */
interface Conditional {
  if?: SchemaIfCond;
}

interface SchemaInfoBase extends Conditional {
  name: string;
  'meta-type': SchemaMetaType;
  /** Feature names, 'deprecated' and 'unstable' among them; absent when none. */
  features?: string[];
}

export interface SchemaInfoBuiltin extends SchemaInfoBase {
  'meta-type': 'builtin';
  'json-type': JsonTypeName;
}

export interface SchemaInfoEnumMember extends Conditional {
  name: string;
  features?: string[];
}

export interface SchemaInfoEnum extends SchemaInfoBase {
  'meta-type': 'enum';
  members: SchemaInfoEnumMember[];
  /**
   * The member names again: deprecated, so absent under
   * `-compat deprecated-output=hide` (read them with enumValues()).
   */
  values?: string[];
}

/** An enum's values, from whichever of its two lists the descriptor has (QEMU before 6.2 had only `values`). */
export function enumValues(e: SchemaInfoEnum): string[] {
  return Array.isArray(e.members) ? e.members.map((m) => m.name) : (e.values ?? []);
}

export interface SchemaInfoArray extends SchemaInfoBase {
  'meta-type': 'array';
  'element-type': string;
}

export interface SchemaInfoObjectMember extends Conditional {
  name: string;
  type: string;
  /** Present (null) exactly when the member is optional. */
  default?: JsonValue;
  features?: string[];
}

export interface SchemaInfoObjectVariant extends Conditional {
  /** A value of the tag member's enum. */
  case: string;
  /** An object type whose members join the common ones when the tag has this value. */
  type: string;
}

export interface SchemaInfoObject extends SchemaInfoBase {
  'meta-type': 'object';
  /** Common members, a base's included. */
  members: SchemaInfoObjectMember[];
  /** For unions: the member whose value selects a variant. */
  tag?: string;
  variants?: SchemaInfoObjectVariant[];
}

export interface SchemaInfoAlternateMember extends Conditional {
  type: string;
}

export interface SchemaInfoAlternate extends SchemaInfoBase {
  'meta-type': 'alternate';
  /** The alternatives, told apart by JSON type. */
  members: SchemaInfoAlternateMember[];
}

export interface SchemaInfoCommand extends SchemaInfoBase {
  'meta-type': 'command';
  /** An object type; the empty one when the command takes no arguments. */
  'arg-type': string;
  /** The empty object type when the command returns nothing (it replies `{}`). */
  'ret-type': string;
  'allow-oob'?: boolean;
  /**
   * Extension, never in a live descriptor: the schema says `'gen': false`,
   * i.e. the command takes members beyond those listed (device_add takes the
   * device's properties), so validation accepts unknown argument members.
   */
  gen?: false;
}

export interface SchemaInfoEvent extends SchemaInfoBase {
  'meta-type': 'event';
  /** An object type; the empty one when the event has no data. */
  'arg-type': string;
}

export type SchemaInfo =
  | SchemaInfoBuiltin
  | SchemaInfoEnum
  | SchemaInfoArray
  | SchemaInfoObject
  | SchemaInfoAlternate
  | SchemaInfoCommand
  | SchemaInfoEvent;

/** A whole schema: what `query-qmp-schema` returns, or a generated `schema`. */
export type SchemaDescriptor = SchemaInfo[];

/**
 * A descriptor from its JSON text, parsed when first read: a QMP schema's
 * is a quarter of a megabyte, and a program whose calls need no
 * validation (those without arguments) never pays for parsing it. It is an
 * array in every way (Array.isArray, indexing, iteration, JSON.stringify)
 * and read-only.
 */
export function lazyDescriptor(json: string): SchemaDescriptor {
  let parsed: SchemaInfo[] | undefined;
  const real = (): SchemaInfo[] => (parsed ??= JSON.parse(json) as SchemaInfo[]);
  const readOnly = (): boolean => {
    throw new TypeError('a generated schema descriptor is read-only');
  };
  return new Proxy([] as SchemaInfo[], {
    get: (_t, key): unknown => Reflect.get(real(), key),
    has: (_t, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      // The target's own length is not configurable: report it the same way.
      return d && key === 'length' ? { ...d, configurable: false } : d;
    },
    set: readOnly,
    defineProperty: readOnly,
    deleteProperty: readOnly,
  });
}

const byNameCache = new WeakMap<SchemaDescriptor, Map<string, SchemaInfo>>();

/** A descriptor's entries by name, made once per descriptor (a live one: masked names). */
export function entriesByName(schema: SchemaDescriptor): Map<string, SchemaInfo> {
  let byName = byNameCache.get(schema);
  if (!byName) byNameCache.set(schema, (byName = new Map(schema.map((e) => [e.name, e]))));
  return byName;
}
