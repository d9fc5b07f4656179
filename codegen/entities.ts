/**
 * The resolved schema model: one class per kind of definition. Constructed
 * from checked expressions by Schema, which then check()s them: references
 * by name become references to entities, and the rules that need the whole
 * schema are enforced. After that the model is read-only.
 */
import type { QapiDoc } from './doc.js';
import { QapiSemanticError } from './errors.js';
import type { IfCond } from './ifcond.js';
import {
  type Alternatives,
  type Branches,
  checkFeatureClash,
  connectFeatures,
  type EnumMember,
  type Feature,
  type ObjectMember,
  type SeenMembers,
} from './members.js';
import type { SourceInfo } from './source.js';
import type { Module, SchemaVisitor } from './modules.js';

/** What entities need from the schema while being checked. */
export interface CheckContext {
  lookupType(name: string): Type | undefined;
  /** Looks a type up, or reports `what` (text, or text computed from the location) using an unknown type. */
  resolveType(name: string, info: SourceInfo | undefined, what: string | ((info: SourceInfo) => string)): Type;
}

export type EntityKind = 'include' | 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';

/** JSON types of values: what introspection reports and what alternates dispatch on. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'value' | 'array' | 'object';

/** QType values as an alternate's tag sees them. */
export type QType = 'qnull' | 'qstring' | 'qnum' | 'qbool' | 'qlist' | 'qdict';

const JSON_TO_QTYPE: Partial<Record<JsonType, QType>> = {
  null: 'qnull',
  string: 'qstring',
  number: 'qnum',
  int: 'qnum',
  boolean: 'qbool',
  array: 'qlist',
  object: 'qdict',
};

function fail(info: SourceInfo | undefined, msg: string): never {
  throw new QapiSemanticError(info, msg);
}

export abstract class Entity {
  abstract readonly kind: EntityKind;
  private home: Module | undefined;
  protected checked = false;

  constructor(
    /**
     * Where it is defined; for implicit entities the definition that caused
     * them (the first one, for shared array types); undefined for built-ins.
     */
    readonly info: SourceInfo | undefined,
  ) {}

  get module(): Module {
    if (!this.home) throw new Error('entity is not in a module yet');
    return this.home;
  }

  /** @internal The location whose file decides the module. */
  moduleInfo(): SourceInfo | undefined {
    return this.info;
  }

  /** @internal */
  setModule(module: Module): void {
    this.home = module;
    module.add(this);
  }

  /** @internal */
  check(_schema: CheckContext): void {
    this.checked = true;
  }

  /** @internal */
  connectDoc(_doc?: QapiDoc): void {}

  abstract visit(visitor: SchemaVisitor): void;
}

/** An include directive, kept so that modules can be walked as files. */
export class Include extends Entity {
  readonly kind = 'include';
  constructor(
    /** The included file's module. */
    readonly target: Module,
    info: SourceInfo,
  ) {
    super(info);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitInclude?.(this);
  }
}

/** Anything with a name: types, commands and events. */
export abstract class Definition extends Entity {
  /** "struct", "union", "enum", "command"... as used in messages. */
  abstract readonly meta: string;

  constructor(
    readonly name: string,
    info: SourceInfo | undefined,
    readonly doc: QapiDoc | undefined,
    private readonly cond: IfCond | undefined,
    readonly features: readonly Feature[],
  ) {
    super(info);
    for (const f of features) f.setDefinedIn(name);
  }

  /** Present in a build when this holds; undefined means always. */
  get ifcond(): IfCond | undefined {
    return this.cond;
  }

  /** Defined by the generator rather than written in the schema (built-ins, arrays, q_* types). */
  get isImplicit(): boolean {
    return !this.info;
  }

  override check(schema: CheckContext): void {
    if (this.checked) throw new Error(`${this.describe()} checked twice`);
    super.check(schema);
    checkFeatureClash(this.features, this.info);
  }

  override connectDoc(doc?: QapiDoc): void {
    connectFeatures(this.features, doc ?? this.doc);
  }

  describe(): string {
    return `${this.meta} '${this.name}'`;
  }
}

export abstract class Type extends Definition {
  abstract jsonType(): JsonType;

  /** How an alternate tells this type's values apart; undefined when it cannot. */
  alternateQType(): QType | undefined {
    return JSON_TO_QTYPE[this.jsonType()];
  }

  override check(schema: CheckContext): void {
    super.check(schema);
    for (const f of this.features) {
      if (f.isSpecial) fail(this.info, `types cannot have feature '${f.name}'`);
    }
  }

  override describe(): string {
    return `${this.meta} type '${this.name}'`;
  }
}

export type BuiltinName =
  | 'str'
  | 'number'
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'size'
  | 'bool'
  | 'any'
  | 'null';

export class BuiltinType extends Type {
  readonly kind = 'builtin';
  readonly meta = 'built-in';

  constructor(
    override readonly name: BuiltinName,
    private readonly json: JsonType,
  ) {
    super(name, undefined, undefined, undefined, []);
  }

  jsonType(): JsonType {
    return this.json;
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitBuiltinType?.(this);
  }
}

export class EnumType extends Type {
  readonly kind = 'enum';
  readonly meta = 'enum';

  constructor(
    name: string,
    info: SourceInfo | undefined,
    doc: QapiDoc | undefined,
    ifcond: IfCond | undefined,
    features: readonly Feature[],
    readonly members: readonly EnumMember[],
    /** Overrides the prefix of the generated C constants. */
    readonly prefix: string | undefined,
  ) {
    super(name, info, doc, ifcond, features);
    for (const m of members) m.setDefinedIn(name);
  }

  /** QType is predefined, hence implicit, though it has a proper name. */
  override get isImplicit(): boolean {
    return this.name === 'QType';
  }

  memberNames(): string[] {
    return this.members.map((m) => m.name);
  }

  jsonType(): JsonType {
    return 'string';
  }

  override check(schema: CheckContext): void {
    super.check(schema);
    const seen: SeenMembers = new Map();
    for (const m of this.members) m.checkClash(this.info, seen);
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    for (const m of this.members) m.connectDoc(d);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitEnumType?.(this);
  }
}

/** ['T'] in the schema: named TList, defined on first use (for built-ins, always). */
export class ArrayType extends Type {
  readonly kind = 'array';
  readonly meta = 'array';
  private element: Type | undefined;

  constructor(
    name: string,
    info: SourceInfo | undefined,
    readonly elementTypeName: string,
  ) {
    super(name, info, undefined, undefined, []);
  }

  get elementType(): Type {
    if (!this.element) throw new Error(`${this.describe()} has not been checked`);
    return this.element;
  }

  /** An array exists exactly when its element type does. */
  override get ifcond(): IfCond | undefined {
    return this.elementType.ifcond;
  }

  override get isImplicit(): boolean {
    return true;
  }

  override check(schema: CheckContext): void {
    super.check(schema);
    this.element = schema.resolveType(this.elementTypeName, this.info, this.info?.defnMeta ?? 'array');
  }

  override moduleInfo(): SourceInfo | undefined {
    return this.elementType.info;
  }

  jsonType(): JsonType {
    return 'array';
  }

  override describe(): string {
    return `${this.meta} type ['${this.elementTypeName}']`;
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitArrayType?.(this);
  }
}

/**
 * Structs, unions, and the implicit object types: a command's or event's
 * inline arguments (q_obj_NAME-arg), a union's inline base (q_obj_NAME-base)
 * and the empty type of branches nobody wrote (q_empty).
 */
export class ObjectType extends Type {
  readonly kind = 'object';
  readonly meta: 'struct' | 'union';
  private resolvedBase: ObjectType | undefined;
  private flat: ObjectMember[] | undefined;
  private complete = false;

  constructor(
    name: string,
    info: SourceInfo | undefined,
    doc: QapiDoc | undefined,
    ifcond: IfCond | undefined,
    features: readonly Feature[],
    /** The base type as written, if any. */
    readonly baseName: string | undefined,
    /** Members written in this definition (a union has none: its common members come from its base). */
    readonly localMembers: readonly ObjectMember[],
    /** A union's tag and branches; undefined for structs. */
    readonly branches: Branches | undefined,
  ) {
    super(name, info, doc, ifcond, features);
    this.meta = branches ? 'union' : 'struct';
    for (const m of localMembers) m.setDefinedIn(name);
    branches?.setDefinedIn(name);
  }

  get base(): ObjectType | undefined {
    this.assertComplete();
    return this.resolvedBase;
  }

  /** Base members first (recursively), then local ones; each knows where it is defined. Branches not included. */
  get members(): readonly ObjectMember[] {
    this.assertComplete();
    return this.flat!;
  }

  get isUnion(): boolean {
    return this.branches !== undefined;
  }

  override get isImplicit(): boolean {
    return this.name.startsWith('q_');
  }

  get isEmpty(): boolean {
    return !this.members.length && !this.branches;
  }

  hasConditionalMembers(): boolean {
    return this.members.some((m) => m.ifcond !== undefined);
  }

  jsonType(): JsonType {
    return 'object';
  }

  private assertComplete(): void {
    if (!this.complete) throw new Error(`${this.describe()} has not been checked`);
  }

  /**
   * Checks this type and everything its value contains inline (base and
   * branch types, but not member types: members are references). Called
   * again through other types, hence idempotent; re-entering an unfinished
   * check means the type would contain itself.
   */
  override check(schema: CheckContext): void {
    if (this.complete) return;
    if (this.checked) fail(this.info, `object ${this.name} contains itself`);
    super.check(schema);

    const seen: SeenMembers = new Map();
    if (this.baseName !== undefined) {
      const base = schema.resolveType(this.baseName, this.info, "'base'");
      if (!(base instanceof ObjectType) || base.branches) {
        fail(this.info, `'base' must be a struct type, and ${base.describe()} is not`);
      }
      this.resolvedBase = base;
      base.check(schema);
      base.checkClash(this.info, seen);
    }
    for (const m of this.localMembers) {
      m.check(schema);
      m.checkClash(this.info, seen);
    }
    const members = [...seen.values()] as ObjectMember[];
    if (this.branches) {
      this.branches.check(schema, seen);
      this.branches.checkClash(this.info, seen);
    }
    this.flat = members;
    this.complete = true;
  }

  /** @internal Adds this type's members (and each branch's, separately) to `seen`, reporting clashes at `info`. */
  checkClash(info: SourceInfo | undefined, seen: SeenMembers): void {
    for (const m of this.members) m.checkClash(info, seen);
    this.branches?.checkClash(info, seen);
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    // An inline base is documented with the union.
    if (this.resolvedBase?.isImplicit) this.resolvedBase.connectDoc(d);
    for (const m of this.localMembers) m.connectDoc(d);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitObjectType?.(this);
  }
}

/** A value of one of several types, told apart by JSON type. */
export class AlternateType extends Type {
  readonly kind = 'alternate';
  readonly meta = 'alternate';

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | undefined,
    ifcond: IfCond | undefined,
    features: readonly Feature[],
    readonly alternatives: Alternatives,
  ) {
    super(name, info, doc, ifcond, features);
    alternatives.setDefinedIn(name);
    alternatives.tagMember.setDefinedIn(name);
  }

  jsonType(): JsonType {
    return 'value';
  }

  override check(schema: CheckContext): void {
    super.check(schema);
    this.alternatives.tagMember.check(schema);
    this.alternatives.check(schema);
    // Alternative names are not tied to any enum, so clashes are checked here.
    const seen: SeenMembers = new Map();
    const claimedBy = new Map<QType, string>();
    for (const v of this.alternatives.variants) {
      v.checkClash(this.info, seen);
      const type = v.type;
      const qtype = type.alternateQType();
      if (!qtype) fail(this.info, `${v.describe(this.info)} cannot be ${type.describe()}`);
      // A string on the wire could also be parsed as a number or boolean by some
      // input visitors, so a string-like alternative claims those too unless an
      // enum's values rule it out.
      const claims = new Set<QType>([qtype]);
      if (qtype === 'qstring') {
        if (type instanceof EnumType) {
          for (const m of type.members) {
            if (m.name === 'on' || m.name === 'off') claims.add('qbool');
            if (/^[-+0-9.]/.test(m.name)) claims.add('qnum');
          }
        } else {
          claims.add('qnum');
          claims.add('qbool');
        }
      }
      for (const q of claims) {
        const other = claimedBy.get(q);
        if (other !== undefined) fail(this.info, `${v.describe(this.info)} is indistinguishable from '${other}'`);
        claimedBy.set(q, v.name);
      }
    }
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    for (const v of this.alternatives.variants) v.connectDoc(d);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitAlternateType?.(this);
  }
}

export interface CommandFlags {
  /** false: the C marshalling is hand-written. */
  readonly gen: boolean;
  /** false: the command sends no reply on success (guest agent shutdown and friends). */
  readonly successResponse: boolean;
  /** The arguments are passed as one object rather than member by member. */
  readonly boxed: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
}

/** Shared by commands and events: 'data' names an object type, or an implicit one for inline members. */
function checkArgType(owner: Command | Event, schema: CheckContext, typeName: string, boxed: boolean): ObjectType {
  const what = `${owner.meta}'s 'data'`;
  const type = schema.resolveType(typeName, owner.info, what);
  if (!(type instanceof ObjectType)) fail(owner.info, `${what} cannot be ${type.describe()}`);
  if (type.branches && !boxed) fail(owner.info, `${what} can be ${type.describe()} only with 'boxed': true`);
  type.check(schema);
  if (type.hasConditionalMembers() && !boxed) {
    fail(owner.info, `${owner.meta} arguments with conditions need 'boxed': true`);
  }
  return type;
}

export class Command extends Definition implements CommandFlags {
  readonly kind = 'command';
  readonly meta = 'command';
  private args: ObjectType | undefined;
  private ret: Type | undefined;
  readonly gen: boolean;
  readonly successResponse: boolean;
  readonly boxed: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | undefined,
    ifcond: IfCond | undefined,
    features: readonly Feature[],
    /** The argument type's name (implicit q_obj_NAME-arg for inline arguments); undefined when none. */
    readonly argTypeName: string | undefined,
    readonly retTypeName: string | undefined,
    flags: CommandFlags,
  ) {
    super(name, info, doc, ifcond, features);
    this.gen = flags.gen;
    this.successResponse = flags.successResponse;
    this.boxed = flags.boxed;
    this.allowOob = flags.allowOob;
    this.allowPreconfig = flags.allowPreconfig;
    this.coroutine = flags.coroutine;
  }

  get argType(): ObjectType | undefined {
    return this.args;
  }

  get retType(): Type | undefined {
    return this.ret;
  }

  override check(schema: CheckContext): void {
    const info = this.info!;
    super.check(schema);
    if (this.argTypeName) this.args = checkArgType(this, schema, this.argTypeName, this.boxed);
    if (this.retTypeName) {
      const ret = schema.resolveType(this.retTypeName, info, "command's 'returns'");
      this.ret = ret;
      if (!info.pragma.commandReturnsExceptions.includes(this.name)) {
        const inner = ret instanceof ArrayType ? ret.elementType : ret;
        if (!(inner instanceof ObjectType)) fail(info, `command's 'returns' cannot be ${ret.describe()}`);
      }
    }
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (!d) return;
    if (this.args?.isImplicit) this.args.connectDoc(d);
    if (this.ret && this.info) d.ensureReturns(this.info);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitCommand?.(this);
  }
}

export class Event extends Definition {
  readonly kind = 'event';
  readonly meta = 'event';
  private args: ObjectType | undefined;

  constructor(
    name: string,
    info: SourceInfo,
    doc: QapiDoc | undefined,
    ifcond: IfCond | undefined,
    features: readonly Feature[],
    readonly argTypeName: string | undefined,
    readonly boxed: boolean,
  ) {
    super(name, info, doc, ifcond, features);
  }

  get argType(): ObjectType | undefined {
    return this.args;
  }

  override check(schema: CheckContext): void {
    super.check(schema);
    if (this.argTypeName) this.args = checkArgType(this, schema, this.argTypeName, this.boxed);
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (d && this.args?.isImplicit) this.args.connectDoc(d);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitEvent?.(this);
  }
}

/** Every kind of definition, for exhaustive switches on `kind`. */
export type AnyDefinition = BuiltinType | EnumType | ArrayType | ObjectType | AlternateType | Command | Event;
export type AnyEntity = AnyDefinition | Include;
