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
  const m = /(?:^|[(;,]\s*)since:?\s+(?:QEMU\s+|v)?(\d+\.\d+(?:\.\d+)?)/im.exec(text);
  return m?.[1];
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
 * (introspection flattens bases away).
 */
function keysOf(schema: Schema, aliases: Map<string, string[]>): Set<string> {
  const keys = new Set<string>();
  for (const d of schema.definitions()) {
    if (d.kind === 'builtin' || d.kind === 'array') continue;
    const names = [d.name, ...(aliases.get(d.name) ?? [])];
    for (const n of names) keys.add(n);
    const members: readonly Member[] = d instanceof ObjectType ? d.members : d instanceof EnumType ? d.members : [];
    for (const m of members) for (const n of names) keys.add(memberKey(n, m.name));
  }
  return keys;
}

export class ReleaseHistory {
  private readonly first = new Map<string, number>();
  private readonly versions: [number, number][];

  /**
   * `releases` oldest first, each with its schema and the types renamed since
   * the release before (new name → old name; see diffSchemas), whose history
   * continues under the new name.
   */
  constructor(
    readonly releases: readonly {
      readonly version: string;
      readonly schema: Schema;
      readonly renamed?: ReadonlyMap<string, string>;
    }[],
  ) {
    this.versions = releases.map((r) => parseVersion(r.version)!);
    releases.forEach((r, i) => {
      const keys = keysOf(r.schema, aliasesOf(r.schema));
      for (const k of keys) if (!this.first.has(k)) this.first.set(k, i);
      for (const [now, was] of r.renamed ?? []) {
        for (const k of keys) {
          if (k !== now && !k.startsWith(`${now}.`)) continue;
          const before = this.first.get(was + k.slice(now.length));
          if (before !== undefined && before < this.first.get(k)!) this.first.set(k, before);
        }
      }
    });
  }

  /** What the docs of one release's schema should say (its own type names resolve through their aliases). */
  forSchema(schema: Schema): SinceOracle {
    const aliases = aliasesOf(schema);
    const firstOf = (container: string, member?: string): number | undefined => {
      let best: number | undefined;
      const names = [container, ...(aliases.get(container) ?? [])];
      for (const n of member === undefined ? names.filter((x) => x === container || x.startsWith('@')) : names) {
        const i = this.first.get(member === undefined ? n : memberKey(n, member));
        if (i !== undefined && (best === undefined || i < best)) best = i;
      }
      return best;
    };
    return {
      // A command's or event's argument type is documented with it (its since is theirs).
      definition: (name, qemuSince) =>
        qemuSince === undefined && aliases.get(name)?.some((a) => a.startsWith('@'))
          ? undefined
          : this.note(firstOf(name), qemuSince, undefined),
      member: (container, name, qemuSince) => this.note(firstOf(container, name), qemuSince, firstOf(container)),
    };
  }

  /**
   * What the docs should add for something first in release `i`: undefined
   * when QEMU's since agrees with the releases (or, for a member without one,
   * when it came with its container, first in `container`).
   */
  private note(
    i: number | undefined,
    qemuSince: string | undefined,
    container: number | undefined,
  ): string | undefined {
    if (i === undefined) return undefined;
    const r = this.releases.map((x) => x.version);
    const range = i === 0 ? `${r[0]} or earlier` : `after ${r[i - 1]}, by ${r[i]}`;
    if (qemuSince === undefined) {
      if (container === i) return undefined;
      return `${range} (computed by qapi-ts from the releases it supports; QEMU's docs give none)`;
    }
    const s = parseVersion(qemuSince);
    if (!s) return undefined;
    if (compare(s, this.versions[i]) > 0) {
      return `qapi-ts finds it already in QEMU ${r[i]}: ${range}, not ${qemuSince} as QEMU's docs say`;
    }
    // A member that came with its container (a new type, members moved there) may well be older than both.
    if (i > 0 && container !== i && compare(s, this.versions[i - 1]) <= 0) {
      return `qapi-ts finds it first in QEMU ${r[i]} (not in ${r[i - 1]}), not ${qemuSince} as QEMU's docs say`;
    }
    return undefined;
  }
}
