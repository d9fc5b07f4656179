/**
 * "Since" computed from the supported releases themselves: for every
 * definition, member and enum value, the first release (of those this package
 * generates, oldest first) whose schema has it. QEMU's own `Since:` and
 * "(since X.Y)" are written by hand, and sometimes missing or wrong; the docs
 * then say what the releases show (codegen/emit/jsdoc.ts asks through
 * SinceOracle).
 *
 * What the releases can tell is a range: something first seen in 10.0 came
 * after 7.2 and by 10.0; something in the oldest release came by then.
 */
import { Command, EnumType, Event, ObjectType } from '../entities.js';
import type { Member } from '../members.js';
import type { Schema } from '../schema.js';
import type { SinceOracle } from '../emit/jsdoc.js';

/** 'major.minor' of a version text ("2.12", "10.0.0", "QEMU 8.1"), or undefined. */
export function parseVersion(text: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** A member's own "(since X.Y)", as QEMU writes it in the member's description. */
export function memberSince(text: string | undefined): string | undefined {
  if (!text) return undefined;
  // The last one: an earlier "(since X)" may qualify one sentence only ("... (since 10.1). ... (since 10.0)").
  const all = [...text.matchAll(/(?:^|[(;,]\s*)since:?\s+(?:QEMU\s+|v)?(\d+\.\d+(?:\.\d+)?)/gim)];
  return all.at(-1)?.[1];
}

const memberKey = (container: string, name: string): string => `${container}.${name}`;

/**
 * Other names a type goes by, stable across releases: a command's or event's
 * argument type is also '@NAME', a union's base '@base:UNION'. Their real
 * names are implicit ('q_obj_SHUTDOWN-arg') in a schema from source, but a
 * schema written back from introspection names them ('ShutdownData'). A base
 * also goes by each type based on it, for its members only.
 */
function aliasesOf(schema: Schema): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (type: ObjectType | undefined, alias: string): void => {
    if (!type) return;
    if (!out.has(type.name)) out.set(type.name, []);
    out.get(type.name)!.push(alias);
  };
  for (const d of schema.definitions()) {
    if (d instanceof Command || d instanceof Event) add(d.argType, `@${d.name}`);
    else if (d instanceof ObjectType && d.base) {
      // A base's members are each subtype's own on the wire: a base may be new while its members are
      // not (members moved into it), and a schema from introspection has no bases at all.
      if (d.isUnion) add(d.base, `@base:${d.name}`);
      add(d.base, d.name);
    }
  }
  return out;
}

/**
 * Every name a schema defines, aliases included: definitions, and members and
 * enum values as 'Container.name', an object's inherited members among its own
 * (introspection flattens bases away); each with whether it exists only under
 * a build condition (its own, or its definition's).
 */
function keysOf(schema: Schema, aliases: Map<string, string[]>): Map<string, boolean> {
  const keys = new Map<string, boolean>();
  const add = (k: string, conditional: boolean): void => void keys.set(k, (keys.get(k) ?? true) && conditional);
  for (const d of schema.definitions()) {
    if (d.kind === 'builtin' || d.kind === 'array') continue;
    const names = [d.name, ...(aliases.get(d.name) ?? [])];
    const cond = d.ifcond !== undefined;
    for (const n of names) add(n, cond);
    const members: readonly Member[] = d instanceof ObjectType ? d.members : d instanceof EnumType ? d.members : [];
    for (const m of members) for (const n of names) add(memberKey(n, m.name), cond || m.ifcond !== undefined);
  }
  return keys;
}

export interface HistoryRelease {
  /** Short version, '10.0'. */
  readonly version: string;
  /** The exact version its schema is from ('10.0.13'): notes name it. */
  readonly full?: string;
  /** Debian's package version, when the schema is Debian's: notes that say "already in" name it (Debian backports). */
  readonly package?: string;
  readonly schema: Schema;
  /** Types renamed since the release before (new name → old name; see diffSchemas): their history continues. */
  readonly renamed?: ReadonlyMap<string, string>;
  /** One build's introspection: what it lacks may just be outside that build (conditional elsewhere). */
  readonly build?: boolean;
}

export class ReleaseHistory {
  /** For each key, per release: absent (undefined), present, or present only under a build condition. */
  private readonly presence = new Map<string, ('yes' | 'if')[]>();
  private readonly versions: [number, number][];

  /** `releases` oldest first. */
  constructor(readonly releases: readonly HistoryRelease[]) {
    this.versions = releases.map((r) => parseVersion(r.version)!);
    releases.forEach((r, i) => {
      const keys = keysOf(r.schema, aliasesOf(r.schema));
      for (const [k, conditional] of keys) this.mark(k, i, conditional ? 'if' : 'yes');
      // A renamed type's keys are present wherever the old name's were.
      for (const [now, was] of r.renamed ?? []) {
        for (const k of keys.keys()) {
          if (k !== now && !k.startsWith(`${now}.`)) continue;
          const before = this.presence.get(was + k.slice(now.length));
          before?.forEach((p, j) => {
            if (p && j < i) this.mark(k, j, p);
          });
        }
      }
    });
  }

  private mark(key: string, i: number, how: 'yes' | 'if'): void {
    let p = this.presence.get(key);
    if (!p) this.presence.set(key, (p = []));
    if (p[i] !== 'yes') p[i] = how;
  }

  /** What the docs of one release's schema should say (its own type names resolve through their aliases). */
  forSchema(schema: Schema): SinceOracle {
    const r = this.releases.findIndex((x) => x.schema === schema);
    if (r < 0) throw new Error('ReleaseHistory.forSchema: not one of its releases');
    const aliases = aliasesOf(schema);
    const runOf = (container: string, member?: string): Run | undefined => {
      let best: Run | undefined;
      const names = [container, ...(aliases.get(container) ?? [])];
      for (const n of member === undefined ? names.filter((x) => x === container || x.startsWith('@')) : names) {
        const run = this.run(member === undefined ? n : memberKey(n, member), r);
        if (run && (!best || run.first < best.first || (run.first === best.first && run.unknown))) best = run;
      }
      return best;
    };
    return {
      // A command's or event's argument type is documented with it (its since is theirs).
      definition: (name, qemuSince) =>
        qemuSince === undefined && aliases.get(name)?.some((a) => a.startsWith('@'))
          ? undefined
          : this.note(runOf(name), qemuSince, undefined),
      member: (container, name, qemuSince) => this.note(runOf(container, name), qemuSince, runOf(container)),
    };
  }

  /**
   * The unbroken run of releases ending at `r` that have `key` (a gap, such as
   * a backport one release has and the next lacks, starts a new run). Where a
   * build lacks what the release after it has only under a condition, the run
   * cannot be told: `unknown`.
   */
  private run(key: string, r: number): Run | undefined {
    const p = this.presence.get(key);
    if (!p?.[r]) return undefined;
    let first = r;
    while (first > 0 && p[first - 1]) first--;
    const unknown = first > 0 && this.releases[first - 1].build === true && p[first] === 'if';
    return { first, conditional: p[first] === 'if', unknown };
  }

  private name(i: number, withPackage = false): string {
    const r = this.releases[i];
    return `QEMU ${r.full ?? r.version}${withPackage && r.package ? ` as Debian packages it (${r.package})` : ''}`;
  }

  /**
   * What the docs should add for something whose run starts at release
   * `run.first`: undefined when QEMU's since agrees with the releases (or, for
   * a member without one, when it came with its container).
   */
  private note(run: Run | undefined, qemuSince: string | undefined, container: Run | undefined): string | undefined {
    if (!run || run.unknown) return undefined;
    const i = run.first;
    const r = this.releases.map((x) => x.version);
    const range = i === 0 ? `${r[0]} or earlier` : `after ${r[i - 1]}, by ${r[i]}`;
    if (qemuSince === undefined) {
      if (container?.first === i) return undefined;
      return `${range} (computed by qapi-ts from the releases it supports; QEMU's docs give none)`;
    }
    const s = parseVersion(qemuSince);
    if (!s) return undefined;
    // Present only under a condition (a target, a feature) earlier than QEMU says: its since is for the rest.
    if (compare(s, this.versions[i]) > 0 && !run.conditional) {
      return `qapi-ts finds it already in ${this.name(i, true)}, not ${qemuSince} as QEMU's docs say`;
    }
    // A member that came with its container (a new type, members moved there) may well be older than both.
    if (i > 0 && container?.first !== i && compare(s, this.versions[i - 1]) <= 0) {
      return `qapi-ts finds it first in ${this.name(i)} (not in ${this.name(i - 1)}), not ${qemuSince} as QEMU's docs say`;
    }
    return undefined;
  }
}

interface Run {
  first: number;
  conditional: boolean;
  unknown: boolean;
}
