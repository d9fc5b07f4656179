/**
 * The schema descriptor (runtime/schema/descriptor.ts): what `query-qmp-schema`
 * would report for the schema, with real type names and exact built-ins.
 *
 * Like QEMU's introspection: commands and events first, in visit order
 * (module by module, definition order within each), each with its argument
 * type (the empty object type 'q_empty' when there is none) and return type
 * ('q_empty' when none); then every type they reach, in order of first use,
 * followed by the built-ins nobody used (every built-in is listed, so a
 * descriptor without 'int64' is known to be a live, collapsed one). Object
 * types are flattened (bases folded in); implicit ones keep QEMU's names
 * ('q_obj_blockdev-add-arg'); arrays are named '[' element ']' as QEMU names
 * them ('[str]', '[int8]', '[BlockDeviceInfo]'), the schema's 'TList' name
 * never appears. Unlike QEMU's, integer types are not collapsed into 'int'
 * and nothing is left out for its build condition ('if'): we do not know the
 * build, so everything is listed, with its condition in a field of its own
 * ('if', as the schema writes it) on entities, members, branches, enum
 * values and alternatives.
 */
import {
  ArrayType,
  BuiltinType,
  type Command,
  EnumType,
  type Event,
  ObjectType,
  AlternateType,
  type Type,
} from '../entities.js';
import type { IfCond } from '../ifcond.js';
import type { Feature } from '../members.js';
import type { Schema } from '../schema.js';
import type {
  SchemaDescriptor,
  SchemaInfo,
  SchemaInfoAlternate,
  SchemaInfoCommand,
  SchemaInfoEnum,
  SchemaInfoEnumMember,
  SchemaInfoEvent,
  SchemaInfoObject,
  SchemaInfoObjectMember,
  SchemaInfoObjectVariant,
  SchemaInfoAlternateMember,
  SchemaIfCond,
} from '../../runtime/schema/descriptor.js';

function withFeatures<T extends { features?: string[]; if?: SchemaIfCond }>(
  obj: T,
  features: readonly Feature[],
  ifcond?: IfCond,
): T {
  withIf(obj, ifcond);
  if (features.length) obj.features = features.map((f) => f.name);
  return obj;
}

/** The build condition, as the schema writes it: the descriptor's one field that introspection never has. */
function withIf<T extends { if?: SchemaIfCond }>(obj: T, ifcond: IfCond | undefined): T {
  if (ifcond !== undefined) obj.if = ifcond as SchemaIfCond;
  return obj;
}

export function buildDescriptor(schema: Schema): SchemaDescriptor {
  const infos: SchemaInfo[] = [];
  const queue: Type[] = [];
  const queued = new Set<Type>();

  const use = (type: Type): string => {
    if (!queued.has(type)) {
      queued.add(type);
      queue.push(type);
    }
    if (type instanceof ArrayType) return `[${use(type.elementType)}]`;
    return type.name;
  };

  const entry = (type: Type): SchemaInfo => {
    if (type instanceof BuiltinType) {
      return { name: type.name, 'meta-type': 'builtin', 'json-type': type.jsonType() };
    }
    if (type instanceof EnumType) {
      return withFeatures<SchemaInfoEnum>(
        {
          name: type.name,
          'meta-type': 'enum',
          members: type.members.map((m) =>
            withFeatures<SchemaInfoEnumMember>(withIf<SchemaInfoEnumMember>({ name: m.name }, m.ifcond), m.features),
          ),
          values: type.members.map((m) => m.name),
        },
        type.features,
        type.ifcond,
      );
    }
    if (type instanceof ArrayType) {
      const element = use(type.elementType);
      return { name: `[${element}]`, 'meta-type': 'array', 'element-type': element };
    }
    if (type instanceof ObjectType) {
      const info: SchemaInfoObject = {
        name: type.name,
        'meta-type': 'object',
        members: type.members.map((m) => {
          const member: SchemaInfoObjectMember = { name: m.name, type: use(m.type) };
          if (m.optional) member.default = null;
          return withFeatures(withIf(member, m.ifcond), m.features);
        }),
      };
      if (type.branches) {
        info.tag = type.branches.tagMember.name;
        info.variants = type.branches.variants.map((v) =>
          withIf<SchemaInfoObjectVariant>({ case: v.name, type: use(v.type) }, v.ifcond),
        );
      }
      return withFeatures(info, type.features, type.ifcond);
    }
    if (type instanceof AlternateType) {
      return withFeatures<SchemaInfoAlternate>(
        {
          name: type.name,
          'meta-type': 'alternate',
          members: type.alternatives.variants.map((v) =>
            withIf<SchemaInfoAlternateMember>({ type: use(v.type) }, v.ifcond),
          ),
        },
        type.features,
        type.ifcond,
      );
    }
    throw new Error(`unexpected type ${type.describe()}`);
  };

  const empty = schema.emptyObjectType;
  schema.visit({
    visitCommand(c: Command) {
      const info: SchemaInfoCommand = {
        name: c.name,
        'meta-type': 'command',
        'arg-type': use(c.argType ?? empty),
        'ret-type': use(c.retType ?? empty),
      };
      if (c.allowOob) info['allow-oob'] = true;
      if (!c.gen) info.gen = false;
      infos.push(withFeatures(info, c.features, c.ifcond));
    },
    visitEvent(e: Event) {
      infos.push(
        withFeatures<SchemaInfoEvent>(
          { name: e.name, 'meta-type': 'event', 'arg-type': use(e.argType ?? empty) },
          e.features,
          e.ifcond,
        ),
      );
    },
  });
  // The queue grows while entries are made: each type's own references are queued behind it.
  for (let i = 0; i < queue.length; i++) infos.push(entry(queue[i]));
  for (const e of schema.entities) {
    if (e instanceof BuiltinType && !queued.has(e)) infos.push(entry(e));
  }
  return infos;
}
