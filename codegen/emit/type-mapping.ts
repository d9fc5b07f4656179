/**
 * What the type, command and event emitters share: the TypeScript names of
 * the schema's types, which direction each type travels in, and how a QAPI
 * type is written as a TypeScript type in a given position.
 *
 * Directions: a type reachable from command arguments is input, one
 * reachable from command results or event data is output. In output
 * positions an enum is open (`E | (string & {})`): a newer QEMU may send
 * values this version does not know. Types used in one direction only are
 * declared for that direction; the few object and alternate types used in
 * both are declared strictly and written `Returned<T>` where QEMU sends them
 * (only when they hold an enum somewhere: otherwise `Returned<T>` is `T`).
 */
import {
  AlternateType,
  ArrayType,
  BuiltinType,
  type Definition,
  EnumType,
  ObjectType,
  type Type,
} from '../entities.js';
import type { ObjectMember } from '../members.js';
import type { Schema } from '../schema.js';
import { type DocContext, memberDoc, type SinceOracle } from './jsdoc.js';
import { methodNames, propertyKey, stringLiteral, TypeNamer } from './naming.js';
import { type PropertyNode, ref, type Statement, type TypeNode, union } from './printer.js';

export type Protocol = 'qmp' | 'qga';

/** How values of a type travel: to QEMU, from QEMU, both ways, or not at all (unused types). */
export type Direction = 'in' | 'out' | 'both' | 'none';

/** How a type is written where it is used: strictly, or opened for what QEMU sends. */
export type Mode = 'strict' | 'out';

/** Types from the runtime that generated code may refer to. */
export type RuntimeType = 'JsonValue' | 'Int64';

const INT64_BUILTINS = new Set(['int', 'int64', 'uint64', 'size']);

const BUILTIN_TS: Record<string, string> = {
  str: 'string',
  bool: 'boolean',
  number: 'number',
  null: 'null',
  int8: 'number',
  int16: 'number',
  int32: 'number',
  uint8: 'number',
  uint16: 'number',
  uint32: 'number',
};

/** True for the 64-bit integer built-ins (int, int64, uint64, size) and arrays of them. */
export function is64BitInteger(type: Type): boolean {
  if (type instanceof ArrayType) return is64BitInteger(type.elementType);
  return type instanceof BuiltinType && INT64_BUILTINS.has(type.name);
}

/** The named types an emitter declares: enums (but QType), structs, unions and alternates. */
export function isDeclaredType(d: Definition): d is EnumType | ObjectType | AlternateType {
  return (d instanceof EnumType || d instanceof ObjectType || d instanceof AlternateType) && !d.isImplicit;
}

/** Which named (and implicit) types are reachable from inputs and from outputs. */
export function computeDirections(schema: Schema): Map<Type, Direction> {
  const input = new Set<Type>();
  const output = new Set<Type>();
  const walk = (t: Type, seen: Set<Type>): void => {
    if (seen.has(t)) return;
    seen.add(t);
    if (t instanceof ArrayType) walk(t.elementType, seen);
    else if (t instanceof ObjectType) {
      if (t.base) walk(t.base, seen);
      for (const m of t.members) walk(m.type, seen);
      for (const v of t.branches?.variants ?? []) walk(v.type, seen);
    } else if (t instanceof AlternateType) {
      for (const v of t.alternatives.variants) walk(v.type, seen);
    }
  };
  for (const c of schema.commands()) {
    if (c.argType) walk(c.argType, input);
    if (c.retType) walk(c.retType, output);
  }
  for (const e of schema.events()) if (e.argType) walk(e.argType, output);
  const dirs = new Map<Type, Direction>();
  for (const d of schema.definitions()) {
    if (d.kind === 'command' || d.kind === 'event') continue;
    const t = d as Type;
    const i = input.has(t);
    const o = output.has(t);
    dirs.set(t, i && o ? 'both' : i ? 'in' : o ? 'out' : 'none');
  }
  return dirs;
}

/** The types holding an enum somewhere, union discriminators aside: a fixed point, as types may contain themselves. */
function computeOpens(schema: Schema): Set<Type> {
  const opens = new Set<Type>();
  const types = schema.definitions().filter((d): d is Type => d.kind !== 'command' && d.kind !== 'event');
  const holds = (type: Type): boolean => {
    if (type instanceof EnumType) return true;
    if (type instanceof ArrayType) return opens.has(type.elementType);
    if (type instanceof AlternateType) return type.alternatives.variants.some((v) => opens.has(v.type));
    if (type instanceof ObjectType) {
      const tag = type.branches?.tagMember;
      return (
        type.members.some((m) => m !== tag && (m.type instanceof EnumType || opens.has(m.type))) ||
        (type.branches?.variants.some((v) => opens.has(v.type)) ?? false)
      );
    }
    return false;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const t of types) {
      if (!opens.has(t) && holds(t)) {
        opens.add(t);
        changed = true;
      }
    }
  }
  return opens;
}

/** Everything about one schema the emitters need. */
export class EmitContext {
  readonly names = new TypeNamer();
  readonly directions: Map<Type, Direction>;
  readonly doc: DocContext;
  /** Each command's client method name, by wire name. */
  readonly methods: Map<string, string>;
  /** Interface names of the command and event maps. */
  readonly commandsName: string;
  readonly eventsName: string;

  constructor(
    readonly schema: Schema,
    readonly protocol: Protocol,
    since?: SinceOracle,
  ) {
    this.directions = computeDirections(schema);
    this.methods = methodNames(schema);
    this.doc = { product: protocol === 'qga' ? 'the guest agent' : 'QEMU', since };
    this.commandsName = protocol === 'qga' ? 'QgaCommands' : 'QmpCommands';
    this.eventsName = protocol === 'qga' ? 'QgaEvents' : 'QmpEvents';
    for (const d of schema.definitions()) if (isDeclaredType(d)) this.names.declare(d.name);
  }

  direction(type: Type): Direction {
    return this.directions.get(type) ?? 'none';
  }

  /**
   * Whether `Returned<T>` would change `type`: it holds an enum somewhere
   * (a union's discriminator aside, which stays literal in each branch).
   */
  opensInOutput(type: Type): boolean {
    this.opens ??= computeOpens(this.schema);
    return this.opens.has(type);
  }

  private opens: Set<Type> | undefined;

  /** How the members of a declared type are written: opened when the type only travels from QEMU. */
  declarationMode(type: Type): Mode {
    return this.direction(type) === 'out' ? 'out' : 'strict';
  }
}

/**
 * Writes type references for one generated file and records what the file
 * must import: named schema types, the runtime's JsonValue and Int64, Returned.
 */
export class TypeWriter {
  readonly usedTypes = new Set<string>();
  readonly usedRuntime = new Set<RuntimeType>();

  constructor(
    readonly ctx: EmitContext,
    /** Writes an implicit object type inline (command and event arguments). */
    private readonly inlineObject: (type: ObjectType, mode: Mode, writer: TypeWriter) => TypeNode,
  ) {}

  /** `type` as a TypeScript type in a position of the given mode. */
  ref(type: Type, mode: Mode): TypeNode {
    if (type instanceof BuiltinType) {
      if (type.name === 'any') return this.runtime('JsonValue');
      if (INT64_BUILTINS.has(type.name)) return this.runtime('Int64');
      return ref(BUILTIN_TS[type.name]);
    }
    if (type instanceof EnumType) {
      const strict = type.isImplicit
        ? union(type.members.map((m) => ref(stringLiteral(m.name))))
        : ref(this.named(type.name));
      return mode === 'out' ? union([strict, OPEN_STRING]) : strict;
    }
    if (type instanceof ArrayType) return { kind: 'array', element: this.ref(type.elementType, mode) };
    if (type instanceof ObjectType && type.isImplicit) return this.inlineObject(type, mode, this);
    const name = this.named(type.name);
    if (mode === 'out' && this.ctx.direction(type) === 'both' && this.ctx.opensInOutput(type)) {
      this.usedTypes.add('Returned');
      return ref(`Returned<${name}>`);
    }
    return ref(name);
  }

  /** The TypeScript name of a named schema type, recorded as used. */
  named(qapiName: string): string {
    const name = this.ctx.names.get(qapiName);
    this.usedTypes.add(name);
    return name;
  }

  runtime(name: RuntimeType): TypeNode {
    this.usedRuntime.add(name);
    return ref(name);
  }
}

/** What opens a string-literal union to any string while keeping the literals for completion. */
export const OPEN_STRING: TypeNode = ref('(string & {})');

// ---------------------------------------------------------------- what every emitter writes with

/** The note on members holding 64-bit integers. */
export const INT64_NOTE = 'A 64-bit integer (`Int64`): a `bigint` beyond 2^53 by default; see the `int64` option.';

/** The note on required members that are optional in the types because of their build condition. */
export const CONDITIONAL_NOTE =
  'Optional here because of its build condition: QEMU requires it when built with it, and lacks it otherwise.';

/**
 * Whether a member may be absent in the types: optional in the schema, or
 * present only in some builds (a member with an 'if'), since the types are
 * for every build of the release.
 */
export function mayBeAbsent(m: ObjectMember): boolean {
  return m.optional || m.ifcond !== undefined;
}

/** Members of an object type, in order, each with its doc comment. */
export function memberProperties(members: readonly ObjectMember[], mode: Mode, writer: TypeWriter): PropertyNode[] {
  return members.map((m) => ({
    key: propertyKey(m.name),
    optional: mayBeAbsent(m),
    type: writer.ref(m.type, mode),
    doc: memberDoc(m.doc, writer.ctx.doc, {
      ifcond: m.ifcond,
      features: m.features,
      member: m,
      notes: [...(is64BitInteger(m.type) ? [INT64_NOTE] : []), ...(m.optional || !m.ifcond ? [] : [CONDITIONAL_NOTE])],
    }),
  }));
}

/** An implicit object type written inline; one without members is `Record<string, never>`. */
export function inlineObjectType(type: ObjectType, mode: Mode, writer: TypeWriter): TypeNode {
  if (type.branches) throw new Error(`${type.describe()} cannot be written inline`);
  return { kind: 'object', members: memberProperties(type.members, mode, writer) };
}

/** The writer the emitters use: implicit objects inline. */
export function typeWriter(ctx: EmitContext): TypeWriter {
  return new TypeWriter(ctx, inlineObjectType);
}

export interface EmittedFile {
  /** Statements after the imports. */
  readonly statements: Statement[];
  /** What the statements refer to (for the file's imports). */
  readonly writer: TypeWriter;
}

/** An object with no members, as arguments, returns and event data are written when there are none. */
export const EMPTY_OBJECT = 'Record<string, never>';
