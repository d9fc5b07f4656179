/**
 * The parts of definitions: object members, enum values, features, and the
 * branches of unions and alternates. Each knows the definition that declares
 * it (`definedIn`), which is what error messages and flattened member lists
 * need, and after doc connection the doc section that describes it.
 */
import type { DocArgSection, Documentable, QapiDoc } from './doc.js';
import { type CheckContext, EnumType, ObjectType, type Type } from './entities.js';
import { QapiSemanticError } from './errors.js';
import type { IfCond } from './ifcond.js';
import { cName } from './names.js';
import type { SourceInfo } from './source.js';

/** Members seen so far, by C name: names that map to the same C identifier clash. */
export type SeenMembers = Map<string, Member>;

export abstract class Member implements Documentable {
  private owner: string | undefined;
  private section: DocArgSection | undefined;

  constructor(
    readonly name: string,
    /** The definition's location (members have no line of their own). */
    readonly info: SourceInfo | undefined,
    readonly ifcond: IfCond | undefined,
  ) {}

  /** "member", "value", "feature", "branch": what the thing is called in messages and docs. */
  abstract get role(): string;

  /**
   * Name of the definition declaring this member: for object members the
   * (possibly implicit) object type, even when reached through a base; for
   * features the definition, member or value carrying them.
   */
  get definedIn(): string {
    if (this.owner === undefined) throw new Error(`${this.role} '${this.name}' belongs to nothing`);
    return this.owner;
  }

  /** The doc comment section describing this, once docs are connected. */
  get doc(): DocArgSection | undefined {
    return this.section;
  }

  /** @internal */
  setDefinedIn(name: string): void {
    if (this.owner !== undefined) throw new Error(`${this.role} '${this.name}' already belongs to '${this.owner}'`);
    this.owner = name;
  }

  /** @internal Records this member in `seen`; reports a clash on behalf of `info` (possibly another definition's). */
  checkClash(info: SourceInfo | undefined, seen: SeenMembers): void {
    const key = cName(this.name);
    const other = seen.get(key);
    if (other) throw new QapiSemanticError(info, `${this.describe(info)} clashes with ${other.describe(info)}`);
    seen.set(key, this);
  }

  /** @internal */
  connectDoc(doc: QapiDoc | undefined): void {
    if (!doc) return;
    doc.connectMember(this);
    this.section = doc.args.get(this.name);
  }

  /** @internal For features, which live in their own doc map. */
  attachDoc(section: DocArgSection | undefined): void {
    this.section = section;
  }

  /** e.g. "member 'x'", or "member 'x' of type 'Base'" when reported from another definition. */
  describe(info: SourceInfo | undefined): string {
    let role = this.role;
    let meta = 'type';
    let owner = this.definedIn;
    // Implicit object types are named q_obj_NAME-arg / q_obj_NAME-base: say what they stand for.
    if (owner.startsWith('q_obj_')) {
      owner = owner.slice('q_obj_'.length);
      if (owner.endsWith('-arg')) {
        role = 'parameter';
        meta = 'command';
        owner = owner.slice(0, -'-arg'.length);
      } else if (owner.endsWith('-base')) {
        role = `base ${role}`;
        owner = owner.slice(0, -'-base'.length);
      }
    }
    return owner === info?.defnName ? `${role} '${this.name}'` : `${role} '${this.name}' of ${meta} '${owner}'`;
  }
}

export class Feature extends Member {
  /** Features with a meaning fixed by QAPI itself, the same in every schema. */
  static readonly SPECIAL = ['deprecated', 'unstable'] as const;

  get role(): string {
    return 'feature';
  }

  get isSpecial(): boolean {
    return (Feature.SPECIAL as readonly string[]).includes(this.name);
  }
}

/** @internal Features of one definition or member must have distinct names. */
export function checkFeatureClash(features: readonly Feature[], info: SourceInfo | undefined): void {
  const seen: SeenMembers = new Map();
  for (const f of features) f.checkClash(info, seen);
}

/** @internal */
export function connectFeatures(features: readonly Feature[], doc: QapiDoc | undefined): void {
  if (!doc) return;
  for (const f of features) {
    doc.connectFeature(f);
    f.attachDoc(doc.features.get(f.name));
  }
}

export class EnumMember extends Member {
  constructor(
    name: string,
    info: SourceInfo | undefined,
    ifcond: IfCond | undefined,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }

  get role(): string {
    return 'value';
  }

  /** @internal */
  override connectDoc(doc: QapiDoc | undefined): void {
    super.connectDoc(doc);
    connectFeatures(this.features, doc);
  }
}

export class ObjectMember extends Member {
  private resolved: Type | undefined;

  constructor(
    name: string,
    info: SourceInfo | undefined,
    /** The type as written (an array's implicit name, e.g. 'intList'). */
    readonly typeName: string,
    readonly optional: boolean,
    ifcond: IfCond | undefined,
    readonly features: readonly Feature[] = [],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }

  get role(): string {
    return 'member';
  }

  get type(): Type {
    if (!this.resolved) throw new Error(`${this.role} '${this.name}' has not been checked`);
    return this.resolved;
  }

  /** @internal */
  check(schema: CheckContext): void {
    this.resolved = schema.resolveType(this.typeName, this.info, (info) => this.describe(info));
    checkFeatureClash(this.features, this.info);
  }

  /** @internal */
  override connectDoc(doc: QapiDoc | undefined): void {
    super.connectDoc(doc);
    connectFeatures(this.features, doc);
  }
}

/** A union branch (named after a discriminator value) or an alternate's alternative. */
export class Variant extends ObjectMember {
  constructor(name: string, info: SourceInfo | undefined, typeName: string, ifcond: IfCond | undefined) {
    super(name, info, typeName, false, ifcond);
  }

  override get role(): string {
    return 'branch';
  }
}

/** What unions and alternates share: a tag member choosing among variants. */
export abstract class Variants {
  protected readonly list: Variant[];

  constructor(
    readonly info: SourceInfo | undefined,
    variants: Variant[],
  ) {
    this.list = variants;
  }

  /** For unions, one per discriminator value after check (values without a branch get the empty object type). */
  get variants(): readonly Variant[] {
    return this.list;
  }

  abstract get tagMember(): ObjectMember;

  /** @internal */
  setDefinedIn(name: string): void {
    for (const v of this.list) v.setDefinedIn(name);
  }
}

/** A union's branches: the discriminator is a member of the base, an enum; one branch per value. */
export class Branches extends Variants {
  private tag: ObjectMember | undefined;

  constructor(
    info: SourceInfo | undefined,
    variants: Variant[],
    /** The discriminator as written. */
    readonly tagName: string,
  ) {
    super(info, variants);
  }

  get tagMember(): ObjectMember {
    if (!this.tag) throw new Error(`discriminator '${this.tagName}' has not been checked`);
    return this.tag;
  }

  /** @internal `seen` holds the union's own (base) members, which must include the discriminator. */
  check(schema: CheckContext, seen: SeenMembers): void {
    const fail = (msg: string): never => {
      throw new QapiSemanticError(this.info, msg);
    };
    const tag = seen.get(cName(this.tagName));
    let base = "'base'";
    if (!(tag instanceof ObjectMember) || tag.name !== this.tagName) {
      return fail(`discriminator '${this.tagName}' is not a member of ${base}`);
    }
    this.tag = tag;
    const baseType = schema.lookupType(tag.definedIn);
    if (baseType && !baseType.isImplicit) base = `base type '${tag.definedIn}'`;
    const tagType = tag.type;
    if (!(tagType instanceof EnumType))
      return fail(`discriminator member '${this.tagName}' of ${base} must be an enum`);
    if (tag.optional) fail(`discriminator member '${this.tagName}' of ${base} may not be optional`);
    if (tag.ifcond !== undefined) fail(`discriminator member '${this.tagName}' of ${base} may not be conditional`);

    // Values without a branch of their own get an empty one.
    const cases = new Set(this.list.map((v) => v.name));
    for (const m of tagType.members) {
      if (cases.has(m.name)) continue;
      const v = new Variant(m.name, this.info, 'q_empty', m.ifcond);
      v.setDefinedIn(tag.definedIn);
      this.list.push(v);
    }
    if (!this.list.length) fail('the union has no branches');

    const values = new Set(tagType.members.map((m) => m.name));
    for (const v of this.list) {
      v.check(schema);
      if (!values.has(v.name)) fail(`branch '${v.name}' is not a value of ${tagType.describe()}`);
      const type = v.type;
      // Any object type will do, unions included.
      if (!(type instanceof ObjectType)) return fail(`${v.describe(this.info)} cannot be ${type.describe()}`);
      type.check(schema);
    }
  }

  /** @internal Each branch starts from the common members: names may repeat across branches. */
  checkClash(info: SourceInfo | undefined, seen: SeenMembers): void {
    for (const v of this.list) (v.type as ObjectType).checkClash(info, new Map(seen));
  }
}

/** An alternate's alternatives: the implicit tag is the JSON type of the value (enum QType). */
export class Alternatives extends Variants {
  constructor(
    info: SourceInfo | undefined,
    variants: Variant[],
    readonly tagMember: ObjectMember,
  ) {
    super(info, variants);
  }

  /** @internal */
  check(schema: CheckContext): void {
    for (const v of this.list) v.check(schema);
  }
}
