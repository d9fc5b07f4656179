/**
 * The schema: builds the model from checked expressions (defining the
 * built-ins and the implicit array and object types along the way), then
 * checks it as a whole: references, clashes, unions and alternates, docs.
 * Entities are defined and checked in a fixed order so that the first error
 * reported is the same one QEMU's generator reports.
 */
import path from 'node:path';
import type { DocDialect, QapiDict, QapiExpression, QapiValue } from './expressions.js';
import type { QapiDoc } from './doc.js';
import {
  AlternateType,
  ArrayType,
  BuiltinType,
  type BuiltinName,
  type CheckContext,
  Command,
  type Definition,
  type Entity,
  EnumType,
  Event,
  Include,
  type JsonType,
  ObjectType,
  type Type,
} from './entities.js';
import { QapiSemanticError, QapiSourceError } from './errors.js';
import { ifcondFrom, type IfCond } from './ifcond.js';
import { Alternatives, Branches, EnumMember, Feature, ObjectMember, Variant } from './members.js';
import type { SourceInfo } from './source.js';
import { Module, type SchemaVisitor } from './modules.js';

// prettier-ignore
const BUILTINS: ReadonlyArray<readonly [BuiltinName, JsonType]> = [
  ['str', 'string'],
  ['number', 'number'],
  ['int', 'int'],
  ['int8', 'int'],
  ['int16', 'int'],
  ['int32', 'int'],
  ['int64', 'int'],
  ['uint8', 'int'],
  ['uint16', 'int'],
  ['uint32', 'int'],
  ['uint64', 'int'],
  ['size', 'int'],
  ['bool', 'boolean'],
  ['any', 'value'],
  ['null', 'null'],
];

const QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'];

/** A schema may use at most this many distinct feature names (they become bits in a 64-bit mask). */
const MAX_FEATURES = 64;

export interface SchemaInput {
  /** The main schema file, as given to the parser. */
  readonly file: string;
  /** Expressions after checkExprs(). */
  readonly exprs: readonly QapiExpression[];
  /** Every doc comment, in source order. */
  readonly docs: readonly QapiDoc[];
  /** Files read, main file first. */
  readonly files?: readonly string[];
  readonly dialect?: DocDialect;
}

const str = (v: QapiValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const dict = (v: QapiValue | undefined): QapiDict | undefined => (v instanceof Map ? v : undefined);

export class Schema implements CheckContext {
  readonly file: string;
  readonly docs: readonly QapiDoc[];
  readonly files: readonly string[];
  readonly dialect: DocDialect;
  /** The type of union branches nobody wrote. */
  readonly emptyObjectType: ObjectType;

  private readonly entityList: Entity[] = [];
  private readonly entityMap = new Map<string, Definition>();
  private readonly moduleMap = new Map<string, Module>();
  /** Files as spelled in locations, to their module: saves normalizing paths per entity. */
  private readonly moduleByFile = new Map<string, Module>();
  /** First use of each feature name; the special ones come first. */
  private readonly featureMap = new Map<string, Feature>();
  private readonly schemaDir: string;
  private predefining = true;

  constructor(input: SchemaInput) {
    this.file = input.file;
    this.docs = input.docs;
    this.files = input.files ?? [input.file];
    this.dialect = input.dialect ?? 'modern';
    this.schemaDir = path.dirname(input.file);
    for (const name of Feature.SPECIAL) this.featureMap.set(name, new Feature(name, undefined, undefined));

    this.makeModule(Module.BUILTIN);
    this.makeModule(input.file);
    // Parsers that drop include directives still tell us the files, in inclusion order.
    for (const f of this.files) this.makeModule(f);

    for (const [name, json] of BUILTINS) this.defineBuiltin(name, json);
    this.emptyObjectType = new ObjectType('q_empty', undefined, undefined, undefined, [], undefined, [], undefined);
    this.define(this.emptyObjectType);
    const qtypeValues = QTYPE_VALUES.map((v) => new EnumMember(v, undefined, undefined));
    this.define(new EnumType('QType', undefined, undefined, undefined, [], qtypeValues, undefined));
    this.predefining = false;

    for (const e of input.exprs) this.defineExpr(e);
    this.check();
  }

  // ------------------------------------------------------------ lookup

  /** Every entity, in definition order. */
  get entities(): readonly Entity[] {
    return this.entityList;
  }

  /** Modules in the order their files were first included; './builtin' first. */
  get modules(): readonly Module[] {
    return [...this.moduleMap.values()];
  }

  /** Feature names in use, each with its first use ('deprecated' and 'unstable' always, first). */
  features(): readonly Feature[] {
    return [...this.featureMap.values()];
  }

  lookupEntity(name: string): Definition | undefined {
    return this.entityMap.get(name);
  }

  lookupType(name: string): Type | undefined {
    const e = this.entityMap.get(name);
    return e && isType(e) ? e : undefined;
  }

  resolveType(name: string, info: SourceInfo | undefined, what: string | ((info: SourceInfo) => string)): Type {
    const type = this.lookupType(name);
    if (type) return type;
    if (!info) throw new Error(`built-in reference to unknown type '${name}'`);
    const subject = typeof what === 'function' ? what(info) : what;
    throw new QapiSemanticError(info, `${subject} refers to unknown type '${name}'`);
  }

  /** Every definition (includes left out), in definition order. */
  definitions(): Definition[] {
    return this.entityList.filter((e): e is Definition => !(e instanceof Include));
  }

  commands(): Command[] {
    return this.entityList.filter((e): e is Command => e instanceof Command);
  }

  events(): Event[] {
    return this.entityList.filter((e): e is Event => e instanceof Event);
  }

  /** Walks modules in order, and each module's entities in definition order. */
  visit(visitor: SchemaVisitor): void {
    visitor.visitBegin?.(this);
    for (const m of this.moduleMap.values()) m.visit(visitor);
    visitor.visitEnd?.();
  }

  // ------------------------------------------------------------ modules

  /** Module of a file, named by its path relative to the main file's directory. */
  private makeModule(file: string): Module {
    let m = this.moduleByFile.get(file);
    if (m) return m;
    const builtin = file === Module.BUILTIN;
    const name = builtin ? file : path.relative(this.schemaDir, file);
    m = this.moduleMap.get(name);
    if (!m) {
      m = new Module(name, builtin ? undefined : file);
      this.moduleMap.set(name, m);
    }
    this.moduleByFile.set(file, m);
    return m;
  }

  // ------------------------------------------------------------ definitions

  private addEntity(e: Entity): void {
    this.entityList.push(e);
  }

  private define(defn: Definition): void {
    if (!defn.info && !this.predefining) throw new Error(`${defn.describe()} has no location`);
    this.addEntity(defn);
    const other = this.entityMap.get(defn.name);
    if (other) {
      if (other.info) {
        const where = new QapiSourceError(other.info, 'the previous definition is here');
        throw new QapiSemanticError(defn.info, `'${defn.name}' is defined more than once\n${where.format()}`);
      }
      throw new QapiSemanticError(defn.info, `${other.describe()} is already defined`);
    }
    this.entityMap.set(defn.name, defn);
  }

  private defineBuiltin(name: BuiltinName, json: JsonType): void {
    this.define(new BuiltinType(name, json));
    // Arrays of every built-in exist whether used or not: QEMU shares their generated code across schemas.
    this.makeArrayType(name, undefined);
  }

  /** Records feature names schema-wide (first use wins) and builds the features of one definition or member. */
  private makeFeatures(features: QapiValue | undefined, info: SourceInfo): Feature[] {
    if (!Array.isArray(features)) return [];
    const list = features as QapiDict[];
    for (const f of list) {
      const name = f.get('name') as string;
      if (!this.featureMap.has(name)) this.featureMap.set(name, new Feature(name, info, undefined));
    }
    return list.map((f) => new Feature(f.get('name') as string, info, ifcondFrom(f.get('if'))));
  }

  private makeEnumMembers(values: QapiDict[], info: SourceInfo): EnumMember[] {
    return values.map(
      (v) =>
        new EnumMember(
          v.get('name') as string,
          info,
          ifcondFrom(v.get('if')),
          this.makeFeatures(v.get('features'), info),
        ),
    );
  }

  /** Name of the array type of `elementType`, defining it on first use. */
  private makeArrayType(elementType: string, info: SourceInfo | undefined): string {
    const name = elementType + 'List'; // user-defined type names may not end in 'List'
    if (!this.lookupType(name)) this.define(new ArrayType(name, info, elementType));
    return name;
  }

  /** A type reference as written: a name, or ['T'] for an array. */
  private typeRef(ref: QapiValue, info: SourceInfo): string {
    return Array.isArray(ref) ? this.makeArrayType(ref[0] as string, info) : (ref as string);
  }

  /** The implicit object type for inline members; undefined when there are none. */
  private makeImplicitObjectType(
    owner: string,
    info: SourceInfo,
    ifcond: IfCond | undefined,
    role: 'arg' | 'base',
    members: ObjectMember[],
  ): string | undefined {
    if (!members.length) return undefined;
    const name = `q_obj_${owner}-${role}`; // see Member.describe()
    // Already there only when its owner is defined twice, which define() reports shortly.
    if (!this.lookupEntity(name)) {
      this.define(new ObjectType(name, info, undefined, ifcond, [], undefined, members, undefined));
    }
    return name;
  }

  private makeMembers(data: QapiDict, info: SourceInfo): ObjectMember[] {
    const members: ObjectMember[] = [];
    for (const [key, value] of data) {
      const m = value as QapiDict;
      const optional = key.startsWith('*');
      const name = optional ? key.slice(1) : key;
      const ifcond = ifcondFrom(m.get('if'));
      const type = this.typeRef(m.get('type')!, info);
      members.push(new ObjectMember(name, info, type, optional, ifcond, this.makeFeatures(m.get('features'), info)));
    }
    return members;
  }

  private makeVariants(data: QapiDict, info: SourceInfo): Variant[] {
    const variants: Variant[] = [];
    for (const [key, value] of data) {
      const v = value as QapiDict;
      variants.push(new Variant(key, info, this.typeRef(v.get('type')!, info), ifcondFrom(v.get('if'))));
    }
    return variants;
  }

  private defineExpr({ expr, info, doc }: QapiExpression): void {
    const include = str(expr.get('include'));
    if (include !== undefined) {
      this.addEntity(new Include(this.makeModule(include), info));
      return;
    }
    // Features first, then members, then the definition: the order QEMU registers features and arrays in.
    const ifcond = ifcondFrom(expr.get('if'));
    const features = (): Feature[] => this.makeFeatures(expr.get('features'), info);
    if (expr.has('enum')) {
      const f = features();
      this.define(
        new EnumType(
          str(expr.get('enum'))!,
          info,
          doc,
          ifcond,
          f,
          this.makeEnumMembers(expr.get('data') as QapiDict[], info),
          str(expr.get('prefix')),
        ),
      );
    } else if (expr.has('struct')) {
      const f = features();
      const members = this.makeMembers(dict(expr.get('data'))!, info);
      this.define(
        new ObjectType(str(expr.get('struct'))!, info, doc, ifcond, f, str(expr.get('base')), members, undefined),
      );
    } else if (expr.has('union')) {
      const name = str(expr.get('union'))!;
      const f = features();
      const rawBase = expr.get('base');
      const base = dict(rawBase)
        ? this.makeImplicitObjectType(name, info, ifcond, 'base', this.makeMembers(dict(rawBase)!, info))
        : str(rawBase);
      const variants = this.makeVariants(dict(expr.get('data'))!, info);
      const branches = new Branches(info, variants, str(expr.get('discriminator'))!);
      this.define(new ObjectType(name, info, doc, ifcond, f, base, [], branches));
    } else if (expr.has('alternate')) {
      const f = features();
      const variants = this.makeVariants(dict(expr.get('data'))!, info);
      const tag = new ObjectMember('type', info, 'QType', false, undefined);
      this.define(
        new AlternateType(str(expr.get('alternate'))!, info, doc, ifcond, f, new Alternatives(info, variants, tag)),
      );
    } else if (expr.has('command')) {
      const name = str(expr.get('command'))!;
      const f = features();
      const args = this.argType(name, expr.get('data'), info, ifcond);
      const rets = expr.get('returns');
      const retType = rets === undefined ? undefined : this.typeRef(rets, info);
      const flag = (key: string, dflt: boolean): boolean => {
        const v = expr.get(key);
        return v === undefined ? dflt : v === true;
      };
      this.define(
        new Command(name, info, doc, ifcond, f, args, retType, {
          gen: flag('gen', true),
          successResponse: flag('success-response', true),
          boxed: flag('boxed', false),
          allowOob: flag('allow-oob', false),
          allowPreconfig: flag('allow-preconfig', false),
          coroutine: flag('coroutine', false),
        }),
      );
    } else if (expr.has('event')) {
      const name = str(expr.get('event'))!;
      const f = features();
      const args = this.argType(name, expr.get('data'), info, ifcond);
      this.define(new Event(name, info, doc, ifcond, f, args, expr.get('boxed') === true));
    } else {
      throw new Error('unchecked expression');
    }
  }

  private argType(
    owner: string,
    data: QapiValue | undefined,
    info: SourceInfo,
    ifcond: IfCond | undefined,
  ): string | undefined {
    const inline = dict(data);
    if (inline) return this.makeImplicitObjectType(owner, info, ifcond, 'arg', this.makeMembers(inline, info));
    return str(data);
  }

  // ------------------------------------------------------------ check

  private check(): void {
    for (const e of this.entityList) {
      e.check(this);
      e.connectDoc();
    }
    for (const e of this.entityList) {
      const info = e.moduleInfo();
      e.setModule(this.makeModule(info ? info.file : Module.BUILTIN));
    }
    for (const doc of this.docs) doc.check();

    const features = this.features();
    if (features.length > MAX_FEATURES) {
      throw new QapiSemanticError(features[MAX_FEATURES].info, `a schema may use at most ${MAX_FEATURES} features`);
    }
  }
}

function isType(e: Definition): e is Type {
  return e.kind !== 'command' && e.kind !== 'event';
}
