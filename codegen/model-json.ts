/**
 * The checked model as plain JSON: what `--json` prints and what tools other
 * than our own emitters can consume. Entities come in visit order (module by
 * module, definition order within a module); every object is built with a
 * fixed key order and optional keys are omitted when empty, so the output is
 * deterministic. Paths are relative to the main schema file's directory.
 */
import path from 'node:path';
import type { DocDialect } from './expressions.js';
import type { DocSection, QapiDoc, SectionKind } from './doc.js';
import {
  AlternateType,
  ArrayType,
  BuiltinType,
  Command,
  type Definition,
  type Entity,
  EnumType,
  Event,
  Include,
  type JsonType,
  ObjectType,
} from './entities.js';
import type { IfCond } from './ifcond.js';
import type { Feature, Member, ObjectMember, Variant } from './members.js';
import type { Schema } from './schema.js';
import type { SourceInfo } from './source.js';

export const IR_VERSION = 1;

export interface IrLocation {
  file: string;
  line: number;
}

export interface IrSection {
  kind: SectionKind;
  /** The tag as written, for legacy free-form tagged sections ('Note', 'Example'...). */
  tag?: string;
  /** The member or feature described, for 'member' and 'feature' sections. */
  name?: string;
  text: string;
}

export interface IrDoc {
  location: IrLocation;
  body: string;
  /** Every section after the body in reading order, member and feature descriptions included. */
  sections: IrSection[];
}

export interface IrFeature {
  name: string;
  if?: IfCond;
  doc?: string;
}

interface IrMemberBase {
  name: string;
  if?: IfCond;
  /** The description from the doc comment, when the member is documented. */
  doc?: string;
}

export interface IrEnumValue extends IrMemberBase {
  features: IrFeature[];
}

export interface IrObjectMember extends IrMemberBase {
  type: string;
  optional: boolean;
  /** The (possibly implicit) object type whose definition declares the member. */
  definedIn: string;
  features: IrFeature[];
}

export interface IrVariant extends IrMemberBase {
  type: string;
}

interface IrEntityBase {
  name: string;
  module: string;
  /** null for built-ins, and for arrays of built-ins. */
  location: IrLocation | null;
  /** Generated rather than written: built-ins, arrays, q_obj_* argument and base types, q_empty, QType. */
  implicit: boolean;
  if?: IfCond;
  features: IrFeature[];
  doc?: IrDoc;
}

export interface IrBuiltin extends IrEntityBase {
  kind: 'builtin';
  jsonType: JsonType;
}

export interface IrEnum extends IrEntityBase {
  kind: 'enum';
  prefix?: string;
  values: IrEnumValue[];
}

export interface IrArray extends IrEntityBase {
  kind: 'array';
  elementType: string;
}

export interface IrObject extends IrEntityBase {
  kind: 'object';
  meta: 'struct' | 'union';
  base?: string;
  /** All non-variant members, base members first. */
  members: IrObjectMember[];
  /** A union's discriminator and one branch per discriminator value. */
  branches?: { tag: string; variants: IrVariant[] };
}

export interface IrAlternate extends IrEntityBase {
  kind: 'alternate';
  alternatives: IrVariant[];
}

export interface IrCommand extends IrEntityBase {
  kind: 'command';
  argType?: string;
  retType?: string;
  boxed: boolean;
  gen: boolean;
  successResponse: boolean;
  allowOob: boolean;
  allowPreconfig: boolean;
  coroutine: boolean;
}

export interface IrEvent extends IrEntityBase {
  kind: 'event';
  argType?: string;
  boxed: boolean;
}

export type IrEntity = IrBuiltin | IrEnum | IrArray | IrObject | IrAlternate | IrCommand | IrEvent;

export interface IrModule {
  name: string;
  /** Modules this one includes, in directive order (repeats included). */
  includes: { module: string; location: IrLocation }[];
}

export interface IrSchema {
  version: typeof IR_VERSION;
  main: string;
  dialect: DocDialect;
  files: string[];
  /** Feature names in use: the special ones first, then in order of first use. */
  features: string[];
  modules: IrModule[];
  entities: IrEntity[];
  /** Doc comments not attached to a definition (sections, headings, introductions). */
  freeformDocs: IrDoc[];
}

/** `{key: value}`, or nothing when the value is undefined: keeps optional keys out of the output. */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export function schemaToJson(schema: Schema): IrSchema {
  const dir = path.dirname(schema.file);
  const rel = (file: string): string => path.relative(dir, file) || path.basename(file);
  const loc = (info: SourceInfo): IrLocation => ({ file: rel(info.file), line: info.line });

  const section = (s: DocSection): IrSection => ({
    kind: s.kind,
    ...opt('tag', s.kind === 'tagged' ? s.tag : undefined),
    ...opt('name', 'name' in s && typeof s.name === 'string' ? s.name : undefined),
    text: s.text,
  });
  const doc = (d: QapiDoc): IrDoc => ({
    location: loc(d.info),
    body: d.body.text,
    sections: d.allSections.slice(1).map(section),
  });
  const docText = (m: Member): string | undefined => m.doc?.text;

  const feature = (f: Feature): IrFeature => ({ name: f.name, ...opt('if', f.ifcond), ...opt('doc', docText(f)) });
  const member = (m: ObjectMember): IrObjectMember => ({
    name: m.name,
    type: m.type.name,
    optional: m.optional,
    definedIn: m.definedIn,
    ...opt('if', m.ifcond),
    features: m.features.map(feature),
    ...opt('doc', docText(m)),
  });
  const variant = (v: Variant): IrVariant => ({
    name: v.name,
    type: v.type.name,
    ...opt('if', v.ifcond),
    ...opt('doc', docText(v)),
  });

  /** Keys every definition has, in the order they come first. */
  const head = (e: Definition) => ({
    name: e.name,
    module: e.module.name,
    location: e.info ? loc(e.info) : null,
    implicit: e.isImplicit,
    ...opt('if', e.ifcond),
    features: e.features.map(feature),
  });
  /** The doc comment comes last: it is by far the bulkiest part. */
  const tail = (e: Definition) => opt('doc', e.doc && doc(e.doc));

  const entity = (e: Entity): IrEntity | undefined => {
    if (e instanceof BuiltinType) return { kind: 'builtin', ...head(e), jsonType: e.jsonType(), ...tail(e) };
    if (e instanceof EnumType) {
      const values = e.members.map((m): IrEnumValue => ({
        name: m.name,
        ...opt('if', m.ifcond),
        features: m.features.map(feature),
        ...opt('doc', docText(m)),
      }));
      return { kind: 'enum', ...head(e), ...opt('prefix', e.prefix), values, ...tail(e) };
    }
    if (e instanceof ArrayType) return { kind: 'array', ...head(e), elementType: e.elementType.name, ...tail(e) };
    if (e instanceof ObjectType) {
      const branches = e.branches && { tag: e.branches.tagMember.name, variants: e.branches.variants.map(variant) };
      return {
        kind: 'object',
        ...head(e),
        meta: e.meta,
        ...opt('base', e.base?.name),
        members: e.members.map(member),
        ...opt('branches', branches),
        ...tail(e),
      };
    }
    if (e instanceof AlternateType) {
      return { kind: 'alternate', ...head(e), alternatives: e.alternatives.variants.map(variant), ...tail(e) };
    }
    if (e instanceof Command) {
      return {
        kind: 'command',
        ...head(e),
        ...opt('argType', e.argType?.name),
        ...opt('retType', e.retType?.name),
        boxed: e.boxed,
        gen: e.gen,
        successResponse: e.successResponse,
        allowOob: e.allowOob,
        allowPreconfig: e.allowPreconfig,
        coroutine: e.coroutine,
        ...tail(e),
      };
    }
    if (e instanceof Event) {
      return { kind: 'event', ...head(e), ...opt('argType', e.argType?.name), boxed: e.boxed, ...tail(e) };
    }
    return undefined; // includes are listed with their module
  };

  const modules: IrModule[] = [];
  const entities: IrEntity[] = [];
  schema.visit({
    visitModule(m) {
      modules.push({ name: m.name, includes: [] });
    },
    // Everything is handled here, so no visit method is needed.
    visitNeeded(e) {
      if (e instanceof Include) {
        modules[modules.length - 1].includes.push({ module: e.target.name, location: loc(e.info!) });
      } else {
        const out = entity(e);
        if (out) entities.push(out);
      }
      return false;
    },
  });

  const attached = new Set<QapiDoc>();
  for (const e of schema.definitions()) if (e.doc) attached.add(e.doc);

  return {
    version: IR_VERSION,
    main: path.basename(schema.file),
    dialect: schema.dialect,
    files: schema.files.map(rel),
    features: schema.features().map((f) => f.name),
    modules,
    entities,
    freeformDocs: schema.docs.filter((d) => !attached.has(d)).map(doc),
  };
}
