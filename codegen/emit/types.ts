/**
 * types.ts of a generated SDK: one declaration per named schema type, under
 * its QAPI name, in the schema's own order.
 *
 * - enum → a union of string literals, one doc comment per value;
 * - struct → an interface, `extends` its base;
 * - union → a discriminated union of one interface per branch
 *   (`Union$branch`), each extending the base (`UnionBase` when the base
 *   is written inline) and the branch's type, with the discriminator narrowed
 *   to the branch's value; a branch whose type is itself a union is an
 *   intersection instead;
 * - alternate → a union of its alternatives.
 *
 * Plus `Returned<T>`, the helper output positions use for the few types that
 * travel both ways (see type-mapping.ts).
 */
import type { QapiDoc } from '../doc.js';
import { AlternateType, type Definition, EnumType, ObjectType } from '../entities.js';
import {
  type EmitContext,
  type EmittedFile,
  INT64_NOTE,
  is64BitInteger,
  isDeclaredType,
  memberProperties,
  type TypeWriter,
  typeWriter,
} from './type-mapping.js';
import { convertRst, definitionDoc, memberDoc } from './jsdoc.js';
import { branchSuffix, propertyKey, stringLiteral } from './naming.js';
import { type PropertyNode, ref, type Statement, type TypeNode, union } from './printer.js';

const RETURNED_DOC = `\`T\` as QEMU sends it: every enum (a union of string literals) in it is opened
to \`E | (string & {})\`, because a newer QEMU may send values this version does
not know. A single literal, such as a union branch's discriminator, stays as
it is, so narrowing on the discriminator still works; a discriminator value
this version does not know is not in the types (the validator tolerates it).

Output positions use this only for the few types that also travel to QEMU
and hold an enum; types that only travel from QEMU are declared open already.`;

/** The helper's declarations, formatted: small, and instantiated only for a handful of types. */
const RETURNED_DECLARATIONS = `export type Returned<T> = [JsonValue] extends [T] ? T : Returned$Each<T>;
type Returned$Each<T> = T extends readonly (infer E)[]
  ? Returned$Value<E>[]
  : T extends object
    ? { [K in keyof T]: Returned$Value<Exclude<T[K], undefined>> }
    : T;
type Returned$Value<V> = Returned$Open<Extract<V, string>> | Returned<Exclude<V, string>>;
type Returned$Open<S> = [S] extends [never]
  ? never
  : string extends S
    ? S
    : Returned$IsUnion<S> extends true
      ? S | (string & {})
      : S;
type Returned$IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;`;

function enumDeclaration(type: EnumType, ctx: EmitContext): Statement {
  const values = type.members.map((m) => ({
    type: ref(stringLiteral(m.name)),
    doc: memberDoc(m.doc, ctx.doc, { ifcond: m.ifcond, features: m.features, member: m }),
  }));
  return {
    kind: 'alias',
    name: ctx.names.get(type.name),
    type: values.length ? union(values) : ref('never'),
    doc: definitionDoc(type, ctx.doc),
  };
}

function structDeclaration(type: ObjectType, ctx: EmitContext, writer: TypeWriter): Statement {
  const mode = ctx.declarationMode(type);
  const base = type.base;
  return {
    kind: 'interface',
    name: ctx.names.get(type.name),
    extends: base ? [flatRef(writer.ref(base, mode))] : undefined,
    members: memberProperties(base ? type.localMembers : type.members, mode, writer),
    doc: definitionDoc(type, ctx.doc),
  };
}

function flatRef(t: TypeNode): string {
  if (t.kind !== 'ref') throw new Error('expected a type reference');
  return t.text;
}

function unionDeclarations(type: ObjectType, ctx: EmitContext, writer: TypeWriter): Statement[] {
  const mode = ctx.declarationMode(type);
  const name = ctx.names.get(type.name);
  const branches = type.branches!;
  const tag = branches.tagMember;
  const out: Statement[] = [];
  const base = type.base!;
  let baseRef: string;
  if (base.isImplicit) {
    // `UnionBase` reads well in a compiler error; `Union$$base` only if a schema type has that name.
    baseRef = ctx.names.declare(
      `${type.name}$$base`,
      ctx.names.isFree(`${name}Base`) ? `${name}Base` : `${name}$$base`,
    );
    out.push({
      kind: 'interface',
      name: baseRef,
      members: memberProperties(base.members, mode, writer),
      doc: `The members every \`${name}\` has, whatever its \`${tag.name}\`.`,
    });
  } else {
    baseRef = flatRef(writer.ref(base, mode));
  }
  const tagValues = new Map((tag.type as EnumType).members.map((m) => [m.name, m]));
  const alternatives: TypeNode[] = [];
  for (const v of branches.variants) {
    const branchName = ctx.names.declare(`${type.name}$${v.name}`, `${name}$${branchSuffix(v.name)}`);
    alternatives.push(ref(branchName));
    const summary = `\`${name}\` when \`${tag.name}\` is \`${stringLiteral(v.name)}\`.`;
    // What the discriminator's enum says about the value: its doc, condition and features.
    const value = tagValues.get(v.name);
    const more = memberDoc(value?.doc, ctx.doc, { ifcond: v.ifcond, features: value?.features, member: value });
    const doc = more ? `${summary}\n\n${more}` : summary;
    const tagProperty: PropertyNode = { key: propertyKey(tag.name), type: ref(stringLiteral(v.name)) };
    const vt = v.type as ObjectType;
    if (vt.isUnion) {
      out.push({
        kind: 'alias',
        name: branchName,
        type: {
          kind: 'intersection',
          parts: [
            ref(baseRef),
            { kind: 'inlineObject', text: `{ ${tagProperty.key}: ${flatRef(tagProperty.type)} }` },
            writer.ref(vt, mode),
          ],
        },
        doc,
      });
      continue;
    }
    const extendsList = [baseRef];
    if (!vt.isEmpty) extendsList.push(flatRef(writer.ref(vt, mode)));
    out.push({ kind: 'interface', name: branchName, extends: extendsList, members: [tagProperty], doc });
  }
  out.unshift({ kind: 'alias', name, type: union(alternatives), doc: definitionDoc(type, ctx.doc) });
  return out;
}

function alternateDeclaration(type: AlternateType, ctx: EmitContext, writer: TypeWriter): Statement {
  const mode = ctx.declarationMode(type);
  const alternatives = type.alternatives.variants.map((v) => ({
    type: writer.ref(v.type, mode),
    doc: memberDoc(v.doc, ctx.doc, { ifcond: v.ifcond, notes: is64BitInteger(v.type) ? [INT64_NOTE] : [] }),
  }));
  return {
    kind: 'alias',
    name: ctx.names.get(type.name),
    type: union(alternatives),
    doc: definitionDoc(type, ctx.doc),
  };
}

/** Every named non-implicit struct, union, alternate and enum, in visit order, after Returned<T>. */
export function emitTypes(ctx: EmitContext): EmittedFile {
  const writer = typeWriter(ctx);
  writer.usedRuntime.add('JsonValue'); // Returned<T> refers to it
  const statements: Statement[] = [
    {
      kind: 'text',
      text: `/**\n${RETURNED_DOC.split('\n')
        .map((l) => ` * ${l}`.trimEnd())
        .join('\n')}\n */\n${RETURNED_DECLARATIONS}`,
    },
  ];
  const freeform = new FreeformDocs(ctx);
  const before = (t: Definition): void => {
    if (t.info) statements.push(...freeform.before(t.info.file, t.info.line));
  };
  ctx.schema.visit({
    visitModule: (m) => statements.push(...freeform.enter(m.file)),
    visitEnumType: (t) => {
      if (!isDeclaredType(t)) return;
      before(t);
      statements.push(enumDeclaration(t, ctx));
    },
    visitObjectType: (t) => {
      if (!isDeclaredType(t)) return;
      before(t);
      if (t.isUnion) statements.push(...unionDeclarations(t, ctx, writer));
      else statements.push(structDeclaration(t, ctx, writer));
    },
    visitAlternateType: (t) => {
      before(t);
      statements.push(alternateDeclaration(t, ctx, writer));
    },
  });
  statements.push(...freeform.finish());
  return { statements, writer };
}

/**
 * Free-form doc comments (section headings and introductions) belong to no
 * definition: they are kept as plain comments where they stood, before the
 * next type of their file, so that no documentation text is lost.
 */
class FreeformDocs {
  private readonly byFile = new Map<string, QapiDoc[]>();
  private current: string | undefined;

  constructor(ctx: EmitContext) {
    for (const d of ctx.schema.docs) {
      if (d.symbol !== undefined) continue;
      if (!this.byFile.has(d.info.file)) this.byFile.set(d.info.file, []);
      this.byFile.get(d.info.file)!.push(d);
    }
  }

  /** The comments of `file` above `line`. */
  before(file: string, line: number): Statement[] {
    const queue = this.byFile.get(file) ?? [];
    const out: Statement[] = [];
    while (queue.length && queue[0].info.line < line) out.push(freeformComment(queue.shift()!));
    return out;
  }

  /** Moving on to another module (a system module has no file): the rest of the current one's first. */
  enter(file: string | undefined): Statement[] {
    const out = this.current === undefined ? [] : this.before(this.current, Infinity);
    this.current = file;
    return out;
  }

  /** After the last module: whatever is left. */
  finish(): Statement[] {
    return [...this.byFile.keys()].flatMap((f) => this.before(f, Infinity));
  }
}

function freeformComment(doc: QapiDoc): Statement {
  const text = doc.allSections
    .map((sec) => sec.text)
    .filter(Boolean)
    .join('\n\n');
  // Converted like every other doc text: headings, directives and roles become Markdown.
  const lines = convertRst(headings(text.split('\n')))
    .join('\n')
    .replaceAll('*/', '*\\/')
    .split('\n')
    .map((l) => ` * ${l}`.trimEnd());
  return { kind: 'text', text: ['/*', ...lines, ' */'].join('\n') };
}

/**
 * Section headings as Markdown: rST's over- and underlined titles (`****`,
 * `====`, `----`, by nesting in order of first use, as rST ranks them) and
 * QEMU 7.2's `= Title` / `== Title` lines.
 */
function headings(lines: readonly string[]): string[] {
  const out: string[] = [];
  const ranks: string[] = [];
  const rule = (l: string | undefined): string | undefined =>
    l && /^([*=\-^~#])\1{2,}$/.test(l.trim()) ? l.trim()[0] : undefined;
  for (let i = 0; i < lines.length; i++) {
    const legacy = /^(=+) (.*)$/.exec(lines[i]);
    if (legacy) {
      out.push(`${'#'.repeat(legacy[1].length)} ${legacy[2].trim()}`);
      continue;
    }
    const over = rule(lines[i]);
    const title = lines[i + (over ? 1 : 0)];
    const under = rule(lines[i + (over ? 2 : 1)]);
    if (under && title?.trim() && !rule(title) && (!over || over === under)) {
      const key = (over ? 'over' : '') + under;
      if (!ranks.includes(key)) ranks.push(key);
      out.push(`${'#'.repeat(Math.min(ranks.indexOf(key) + 1, 6))} ${title.trim()}`);
      i += over ? 2 : 1;
      continue;
    }
    out.push(lines[i]);
  }
  return out;
}
