/**
 * What changed between two schemas, as a client sees it on the wire.
 *
 * Both sides are descriptors (query-qmp-schema's shape), so a generated
 * release, a schema file and a live QEMU's introspection all compare the same
 * way. The walk starts at the commands and events and follows their types in
 * pairs, member by member and branch by branch, so that a type renamed between
 * releases (or masked as a number by introspection) is still compared with its
 * counterpart rather than reported as removed and added. A change is told
 * once, on the definition a user would look up: a named type, or the command
 * or event itself for its implicit argument type.
 *
 * When one side is a single build's introspection, two kinds of difference are
 * not changes of the release and are handled so: its integers are all 'int'
 * (widths are then not compared), and what the other side builds only under a
 * condition may just not be in that build (a removal says which condition).
 */
import {
  enumValues,
  type SchemaDescriptor,
  type SchemaIfCond,
  type SchemaInfo,
  type SchemaInfoEnum,
  type SchemaInfoEnumMember,
  type SchemaInfoObject,
} from '../../runtime/schema/descriptor.js';
import { ifcondToText } from '../ifcond.js';

/** What a change is about. */
export type ChangeSubject = 'member' | 'value' | 'branch' | 'alternative' | 'arguments' | 'returns' | 'definition';

export type ChangeKind =
  | 'added'
  | 'removed'
  /** A member became optional, or required. */
  | 'optional'
  | 'required'
  /** A member's (or the return value's) type is another one. */
  | 'type'
  /** A feature ('deprecated', 'unstable'...) was added to or removed from it. */
  | 'feature-added'
  | 'feature-removed';

export interface Change {
  subject: ChangeSubject;
  kind: ChangeKind;
  /** The member, value, branch or alternative ('' for the definition itself, its arguments or return value). */
  name: string;
  /** For 'added' members: whether optional. */
  optional?: boolean;
  /** The type before and after ('type'), or the type of what was added or removed. */
  from?: string;
  to?: string;
  /** For feature changes: the feature. */
  feature?: string;
  /**
   * When the side that lacks it is one build (introspection): the condition
   * the other side has it under, which that build lacks. Not a change of the release.
   */
  notBuilt?: string;
}

export interface DefinitionChanges {
  name: string;
  meta: 'command' | 'event' | 'type';
  /** The name on the old side, when it was another (a renamed type). */
  was?: string;
  /** The old type this one is one of several copies of (with the same members, under new names). */
  splitFrom?: string;
  changes: Change[];
  /** For types: the commands and events whose arguments, returns or data reach it (new side). */
  usedBy?: string[];
}

export interface Definitions {
  /** What only the new side has; `notBuilt` when the old side is one build that lacks it for that condition. */
  added: { name: string; notBuilt?: string }[];
  removed: { name: string; notBuilt?: string }[];
  changed: DefinitionChanges[];
}

export interface SchemaDiff {
  from: string;
  to: string;
  commands: Definitions;
  events: Definitions;
  /** Named types with changes, or renamed; sorted by name. */
  types: DefinitionChanges[];
  /** False when one side's integers are collapsed to 'int' (introspection): widths were not compared. */
  integerWidths: boolean;
}

export interface DiffSide {
  /** What the reports call it: '7.2', or a file name. */
  label: string;
  descriptor: SchemaDescriptor;
  /**
   * Whether it is one build's introspection rather than a whole release's
   * schema. Default: guessed, true when no member uses a sized integer type.
   */
  build?: boolean;
}

const INTEGERS = new Set(['int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'size']);

/** Whether a descriptor reads as one build's introspection: integers all collapsed to 'int'. */
export function isCollapsed(d: SchemaDescriptor): boolean {
  let int = false;
  for (const e of d) {
    if (e['meta-type'] !== 'object') continue;
    for (const m of e.members) {
      if (m.type === 'int' || m.type === '[int]') int = true;
      else if (INTEGERS.has(m.type.replace(/^\[(.*)\]$/, '$1'))) return false;
    }
  }
  return int;
}

/** A masked (introspection) or implicit name, which no user writes: never a definition of its own. */
function isAnonymous(name: string): boolean {
  return /^\d+$/.test(name) || name.startsWith('q_obj_') || name === 'q_empty' || name.startsWith('[');
}

function condText(cond: SchemaIfCond | undefined): string | undefined {
  return cond === undefined ? undefined : ifcondToText(cond);
}

class Side {
  readonly byName: Map<string, SchemaInfo>;
  /**
   * Types that are only one command's or event's arguments: implicit in a
   * schema from source, but given made-up names ('MigrateArg') when written
   * back from introspection.
   */
  readonly argumentsOnly = new Set<string>();
  constructor(
    readonly d: SchemaDescriptor,
    readonly collapsed: boolean,
  ) {
    this.byName = new Map(d.map((e) => [e.name, e]));
    const uses = new Map<string, number>();
    const use = (t: string, n = 1): void => void uses.set(t, (uses.get(t) ?? 0) + n);
    const args: string[] = [];
    for (const e of d) {
      if (e['meta-type'] === 'command' || e['meta-type'] === 'event') {
        args.push(e['arg-type']);
        use(e['arg-type']);
        if (e['meta-type'] === 'command') use(e['ret-type'], 2);
      } else if (e['meta-type'] === 'object') {
        for (const m of e.members ?? []) use(m.type, 2);
        for (const v of e.variants ?? []) use(v.type, 2);
      } else if (e['meta-type'] === 'array') use(e['element-type'], 2);
      else if (e['meta-type'] === 'alternate') for (const m of e.members ?? []) use(m.type, 2);
    }
    for (const t of args) if (uses.get(t) === 1) this.argumentsOnly.add(t);
  }

  get(name: string): SchemaInfo {
    const e = this.byName.get(name);
    if (!e) throw new Error(`descriptor has no type '${name}'`);
    return e;
  }

  /** How a type reads in a report: its name, or what it is when the name is masked. */
  show(name: string): string {
    const e = this.byName.get(name);
    if (!e) return name;
    if (e['meta-type'] === 'array') return `[${this.show(e['element-type'])}]`;
    if (/^\d+$/.test(name)) return `(${e['meta-type']})`;
    if (name === 'q_empty') return '{}';
    return name;
  }
}

function features(e: { features?: string[] }): Set<string> {
  return new Set(e.features ?? []);
}

/** The member (or value) names of an object, enum or alternate. */
function namesOf(e: SchemaInfo): string[] {
  if (e['meta-type'] === 'object')
    return [...(e.members ?? []).map((m) => m.name), ...(e.variants ?? []).map((v) => v.case)];
  if (e['meta-type'] === 'enum') return enumValues(e);
  if (e['meta-type'] === 'alternate') return (e.members ?? []).map((m) => m.type);
  return [];
}

/** Whether two types share at least half of their names (both empty counts as alike). */
function similar(x: SchemaInfo, y: SchemaInfo): boolean {
  const nx = new Set(namesOf(x));
  const ny = namesOf(y);
  if (!nx.size && !ny.length) return true;
  const shared = ny.filter((n) => nx.has(n)).length;
  return shared * 2 >= Math.max(nx.size, ny.length);
}

function featureChanges(
  a: { features?: string[] },
  b: { features?: string[] },
  subject: ChangeSubject,
  name: string,
): Change[] {
  const fa = features(a);
  const fb = features(b);
  const out: Change[] = [];
  for (const f of fb) if (!fa.has(f)) out.push({ subject, kind: 'feature-added', name, feature: f });
  for (const f of fa) if (!fb.has(f)) out.push({ subject, kind: 'feature-removed', name, feature: f });
  return out;
}

const byName = (x: { name: string }, y: { name: string }): number => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);

/** Compares two schemas; `from` is the older. */
export function diffSchemas(from: DiffSide, to: DiffSide): SchemaDiff {
  const a = new Side(from.descriptor, from.build ?? isCollapsed(from.descriptor));
  const b = new Side(to.descriptor, to.build ?? isCollapsed(to.descriptor));
  const widths = !a.collapsed && !b.collapsed;
  const visited = new Set<string>();
  const types = new Map<string, DefinitionChanges>();
  /** Something missing from one side is explained by a condition of the other only when it is one build. */
  const notBuilt = (cond: SchemaIfCond | undefined): string | undefined => (b.collapsed ? condText(cond) : undefined);
  const notBuiltBefore = (cond: SchemaIfCond | undefined): string | undefined =>
    a.collapsed ? condText(cond) : undefined;
  /** A name no user writes: masked, implicit, or (next to a build) a command's arguments' made-up name. */
  const anonymous = (side: Side, name: string): boolean =>
    isAnonymous(name) || ((a.collapsed || b.collapsed) && side.argumentsOnly.has(name));

  const typeRecord = (nameA: string, nameB: string): DefinitionChanges => {
    let r = types.get(nameB);
    if (!r) {
      r = { name: nameB, meta: 'type', changes: [] };
      if (nameA !== nameB && !anonymous(a, nameA)) r.was = nameA;
      types.set(nameB, r);
    }
    return r;
  };

  const sameBuiltin = (x: string, y: string): boolean => x === y || (!widths && INTEGERS.has(x) && INTEGERS.has(y));

  /**
   * Whether the types named x (old) and y (new) are the same type, possibly
   * renamed, so that they are compared inside rather than reported as a
   * change of type: the same kind, and names that agree or were not kept by
   * both sides.
   */
  const counterpart = (x: string, y: string): boolean => {
    const ex = a.get(x);
    const ey = b.get(y);
    if (ex['meta-type'] !== ey['meta-type']) return false;
    if (ex['meta-type'] === 'builtin') return sameBuiltin(x, y);
    if (ex['meta-type'] === 'array') return counterpart(ex['element-type'], (ey as typeof ex)['element-type']);
    if (x === y || anonymous(a, x) || anonymous(b, y)) return true;
    // Renamed: the old name is gone from the new side, the new one was not on the old side, and they
    // share at least half their member (or value) names.
    return !b.byName.has(x) && !a.byName.has(y) && similar(ex, ey);
  };

  /** Compares a member's (or a return value's) type; `owner` gets a 'type' change when they differ. */
  const compareUse = (
    x: string,
    y: string,
    owner: DefinitionChanges,
    subject: ChangeSubject,
    name: string,
    inside = '',
  ): void => {
    if (!counterpart(x, y)) {
      owner.changes.push({ subject, kind: 'type', name, from: a.show(x), to: b.show(y) });
      // Another type of the same kind (both named, both still there): what differs still matters to the caller.
      const ex = a.get(x);
      if (ex['meta-type'] === b.get(y)['meta-type'] && (ex['meta-type'] === 'object' || ex['meta-type'] === 'enum'))
        compareTypes(x, y, owner, true, inside);
      return;
    }
    compareTypes(x, y, owner, false, inside);
  };

  /** `at`: where the objects are inside `rec` when they have no name of their own ('backend.data.'). */
  const compareObjects = (ea: SchemaInfoObject, eb: SchemaInfoObject, rec: DefinitionChanges, at: string): void => {
    const ma = new Map(ea.members.map((m) => [m.name, m]));
    const mb = new Map(eb.members.map((m) => [m.name, m]));
    for (const m of eb.members) {
      const old = ma.get(m.name);
      if (!old) {
        const nb = notBuiltBefore(m.if);
        rec.changes.push({
          subject: 'member',
          kind: 'added',
          name: at + m.name,
          optional: 'default' in m,
          to: b.show(m.type),
          ...(nb && { notBuilt: nb }),
        });
        continue;
      }
      const wasOptional = 'default' in old;
      const isOptional = 'default' in m;
      if (wasOptional !== isOptional)
        rec.changes.push({ subject: 'member', kind: isOptional ? 'optional' : 'required', name: at + m.name });
      rec.changes.push(...featureChanges(old, m, 'member', at + m.name));
      compareUse(old.type, m.type, rec, 'member', at + m.name, `${at}${m.name}.`);
    }
    for (const m of ea.members) {
      if (!mb.has(m.name)) {
        const nb = notBuilt(m.if);
        rec.changes.push({
          subject: 'member',
          kind: 'removed',
          name: at + m.name,
          from: a.show(m.type),
          ...(nb && { notBuilt: nb }),
        });
      }
    }
    const va = new Map((ea.variants ?? []).map((v) => [v.case, v]));
    const vb = new Map((eb.variants ?? []).map((v) => [v.case, v]));
    for (const v of eb.variants ?? []) {
      const old = va.get(v.case);
      if (!old) {
        const nb = notBuiltBefore(v.if);
        rec.changes.push({
          subject: 'branch',
          kind: 'added',
          name: at + v.case,
          to: b.show(v.type),
          ...(nb && { notBuilt: nb }),
        });
      } else compareUse(old.type, v.type, rec, 'branch', at + v.case, `${at.replace(/\.$/, '')}[${eb.tag}=${v.case}].`);
    }
    for (const v of ea.variants ?? []) {
      if (!vb.has(v.case)) {
        const nb = notBuilt(v.if);
        rec.changes.push({
          subject: 'branch',
          kind: 'removed',
          name: at + v.case,
          from: a.show(v.type),
          ...(nb && { notBuilt: nb }),
        });
      }
    }
  };

  /** Compares two counterpart types; changes go to the named one, or to `owner` for an anonymous one. */
  function compareTypes(x: string, y: string, owner: DefinitionChanges, intoOwner = false, inside = ''): void {
    if (b.get(y)['meta-type'] === 'builtin') return;
    const unnamed = anonymous(b, y) || intoOwner;
    // An anonymous type is told under each definition that reaches it (once, at the first place).
    const key = `${x}\0${y}\0${unnamed ? `${owner.meta}:${owner.name}` : ''}`;
    if (visited.has(key)) {
      // Visited already: only a rename still needs its record.
      if (!unnamed && x !== y && !anonymous(a, x)) typeRecord(x, y);
      return;
    }
    visited.add(key);
    const ea = a.get(x);
    const eb = b.get(y);
    const rec = unnamed ? owner : typeRecord(x, y);
    const at = unnamed ? inside : '';
    if (rec !== owner) rec.changes.push(...featureChanges(ea, eb, 'definition', ''));
    // An unnamed type's own features are told where it is used.
    else if (inside) rec.changes.push(...featureChanges(ea, eb, 'member', inside.replace(/\.$/, '')));
    switch (eb['meta-type']) {
      case 'array':
        compareTypes((ea as typeof eb)['element-type'], eb['element-type'], owner, false, inside);
        return;
      case 'object':
        compareObjects(ea as SchemaInfoObject, eb, rec, at);
        return;
      case 'enum': {
        const ead = ea as typeof eb;
        const values = (e: SchemaInfoEnum): SchemaInfoEnumMember[] =>
          Array.isArray(e.members) ? e.members : enumValues(e).map((name) => ({ name }));
        const old = new Map(values(ead).map((m) => [m.name, m]));
        const now = values(eb);
        const nowNames = new Set(now.map((m) => m.name));
        for (const m of now) {
          const o = old.get(m.name);
          if (!o) {
            const nb = notBuiltBefore(m.if);
            rec.changes.push({ subject: 'value', kind: 'added', name: at + m.name, ...(nb && { notBuilt: nb }) });
          } else rec.changes.push(...featureChanges(o, m, 'value', at + m.name));
        }
        for (const [name, m] of old) {
          if (!nowNames.has(name)) {
            const nb = notBuilt(m.if);
            rec.changes.push({ subject: 'value', kind: 'removed', name: at + name, ...(nb && { notBuilt: nb }) });
          }
        }
        return;
      }
      case 'alternate': {
        // Alternatives have no names: they pair up by kind (QEMU tells them apart by JSON type).
        const ma = (ea as typeof eb).members.map((m) => m.type);
        const mb = eb.members.map((m) => m.type);
        const used = new Set<number>();
        for (const t of mb) {
          const i = ma.findIndex((s, k) => !used.has(k) && counterpart(s, t));
          if (i < 0) rec.changes.push({ subject: 'alternative', kind: 'added', name: b.show(t) });
          else {
            used.add(i);
            compareTypes(ma[i], t, rec, false, at);
          }
        }
        ma.forEach((s, k) => {
          if (!used.has(k)) rec.changes.push({ subject: 'alternative', kind: 'removed', name: a.show(s) });
        });
        return;
      }
      default:
        return;
    }
  }

  const definitions = (meta: 'command' | 'event'): Definitions => {
    const olds = a.d.filter((e) => e['meta-type'] === meta);
    const news = b.d.filter((e) => e['meta-type'] === meta);
    const oldNames = new Set(olds.map((e) => e.name));
    const newNames = new Set(news.map((e) => e.name));
    const out: Definitions = {
      added: news
        .filter((e) => !oldNames.has(e.name))
        .map((e) => {
          const nb = notBuiltBefore(e.if);
          return { name: e.name, ...(nb && { notBuilt: nb }) };
        })
        .sort(byName),
      removed: olds
        .filter((e) => !newNames.has(e.name))
        .map((e) => {
          const nb = notBuilt(e.if);
          return { name: e.name, ...(nb && { notBuilt: nb }) };
        })
        .sort(byName),
      changed: [],
    };
    for (const eb of news) {
      const ea = a.byName.get(eb.name);
      if (!ea || ea['meta-type'] !== meta) continue;
      const rec: DefinitionChanges = { name: eb.name, meta, changes: featureChanges(ea, eb, 'definition', '') };
      if (eb['meta-type'] === 'command' && ea['meta-type'] === 'command') {
        compareUse(ea['arg-type'], eb['arg-type'], rec, 'arguments', '');
        compareUse(ea['ret-type'], eb['ret-type'], rec, 'returns', '');
      } else if (eb['meta-type'] === 'event' && ea['meta-type'] === 'event') {
        compareUse(ea['arg-type'], eb['arg-type'], rec, 'arguments', '');
      }
      if (rec.changes.length) out.changed.push(rec);
    }
    out.changed.sort(byName);
    return out;
  };

  const commands = definitions('command');
  const events = definitions('event');
  // One old name for several new ones is a type split up (introspection does that to 'String'), not a rename.
  const olds = new Map<string, number>();
  for (const t of types.values()) if (t.was) olds.set(t.was, (olds.get(t.was) ?? 0) + 1);
  for (const t of types.values()) {
    if (t.was && olds.get(t.was)! > 1) {
      t.splitFrom = t.was;
      delete t.was;
    }
  }
  const changedTypes = [...types.values()].filter((t) => t.changes.length || t.was || t.splitFrom).sort(byName);
  const users = usersOf(b, new Set(changedTypes.map((t) => t.name)));
  for (const t of changedTypes) t.usedBy = users.get(t.name) ?? [];
  return { from: from.label, to: to.label, commands, events, types: changedTypes, integerWidths: widths };
}

/** For each wanted type: the commands and events that reach it, in schema order. */
function usersOf(side: Side, wanted: Set<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const reach = new Map<string, Set<string>>();
  const reachable = (name: string): Set<string> => {
    const done = reach.get(name);
    if (done) return done;
    const seen = new Set<string>();
    const stack = [name];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      const e = side.byName.get(n);
      if (!e) continue;
      if (e['meta-type'] === 'array') stack.push(e['element-type']);
      else if (e['meta-type'] === 'object') {
        for (const m of e.members) stack.push(m.type);
        for (const v of e.variants ?? []) stack.push(v.type);
      } else if (e['meta-type'] === 'alternate') for (const m of e.members) stack.push(m.type);
    }
    reach.set(name, seen);
    return seen;
  };
  for (const e of side.d) {
    if (e['meta-type'] !== 'command' && e['meta-type'] !== 'event') continue;
    const roots = e['meta-type'] === 'command' ? [e['arg-type'], e['ret-type']] : [e['arg-type']];
    const seen = new Set<string>();
    for (const r of roots) for (const t of reachable(r)) seen.add(t);
    for (const t of seen) {
      if (!wanted.has(t)) continue;
      if (!out.has(t)) out.set(t, []);
      out.get(t)!.push(e.name);
    }
  }
  return out;
}

/** New deprecations (and features) anywhere in a diff, as "what name" lines: for the reports' summary. */
export function featureChangesOf(
  diff: SchemaDiff,
  feature: string,
  kind: 'feature-added' | 'feature-removed' = 'feature-added',
): string[] {
  const out: string[] = [];
  const scan = (owner: DefinitionChanges): void => {
    for (const c of owner.changes) {
      if (c.kind !== kind || c.feature !== feature) continue;
      if (c.subject === 'definition') out.push(`${owner.meta} ${owner.name}`);
      else out.push(`${c.subject} ${owner.name}.${c.name}`);
    }
  };
  for (const d of [...diff.commands.changed, ...diff.events.changed, ...diff.types]) scan(d);
  return out;
}
