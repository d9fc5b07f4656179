/**
 * Drift: how a generated release's descriptor and a live QEMU's
 * (`query-qmp-schema`) differ. Introspection masks type names (numbers) and
 * collapses every integer type into 'int', so types cannot be matched by
 * name: both schemas are walked together from each command and event, and
 * each pair of types met on the way is compared once, at the first path
 * that reaches it (libvirt's query syntax: 'blockdev-add/arg-type/+file/aio').
 * What only the generated side has is explained when the schema's build
 * condition ('if') says it may be left out of a build, or when it is
 * deprecated (`-compat deprecated-output=hide` leaves it out).
 */
import {
  entriesByName,
  enumValues,
  type SchemaDescriptor,
  type SchemaIfCond,
  type SchemaInfo,
  type SchemaInfoAlternate,
  type SchemaInfoEnum,
  type SchemaInfoObject,
} from './descriptor.js';

export interface DriftItem {
  /** Where, as a query path ('blockdev-add/arg-type/driver/^io_uring'). */
  path: string;
  what: 'command' | 'event' | 'member' | 'value' | 'branch' | 'alternative' | 'optional' | 'type' | 'feature' | 'flag';
  /** The side that has it, or 'both' when both have it and disagree. */
  side: 'generated' | 'live' | 'both';
  detail: string;
  /** The build condition that explains why the live QEMU lacks it, when the schema has one. */
  condition?: SchemaIfCond;
  /** Deprecated in the release: a QEMU run with `-compat deprecated-output=hide` leaves it out. */
  deprecated?: true;
}

export interface DriftReport {
  items: DriftItem[];
  /** More than MAX_DRIFT_ITEMS differences: the rest were not listed (a schema of another program?). */
  truncated: boolean;
  /** Items no build condition explains: what the release and this QEMU really disagree on. */
  unexplained: DriftItem[];
  /**
   * Each live type (masked name) and the generated type met in its place
   * that it agrees with in every member, value, branch and feature (their
   * own, not those of the types they lead to), but for what a build
   * condition or a hidden deprecation explains.
   */
  matched: Map<string, string>;
}

/** Differences listed at most: a live schema is the peer's, and may be anything. */
export const MAX_DRIFT_ITEMS = 10_000;

export function drift(generated: SchemaDescriptor, live: SchemaDescriptor): DriftReport {
  const gen = entriesByName(generated);
  const run = entriesByName(live);
  const items: DriftItem[] = [];
  let truncated = false;
  /** Items no condition explains, so far: a pair that adds none agrees (see `matched`). */
  let disagreements = 0;
  const seen = new Set<string>();
  const matched = new Map<string, string>();
  /** Live types whose extra members, branches and values were listed: once each, whatever pairs them. */
  const listed = new Set<string>();
  /** Type pairs to compare, first come first served (no recursion: a live schema can nest without end). */
  const queue: [string, string, string][] = [];
  const add = (item: DriftItem, features?: readonly string[]): void => {
    if (items.length >= MAX_DRIFT_ITEMS) {
      truncated = true;
      return;
    }
    if (item.side === 'generated' && features?.includes('deprecated')) item.deprecated = true;
    if (!explained(item)) disagreements++;
    items.push(item);
  };
  const compare = (gName: string, lName: string, path: string): void => void queue.push([gName, lName, path]);
  const drain = (): void => {
    for (let i = 0; i < queue.length && !truncated; i++) visit(...queue[i]);
    queue.length = 0;
  };

  const features = (path: string, g: { features?: string[] }, l: { features?: string[] }): void => {
    const gs = new Set(g.features ?? []);
    const ls = new Set(l.features ?? []);
    for (const f of gs)
      if (!ls.has(f)) add({ path: `${path}/$${f}`, what: 'feature', side: 'generated', detail: `feature '${f}'` });
    for (const f of ls)
      if (!gs.has(f)) add({ path: `${path}/$${f}`, what: 'feature', side: 'live', detail: `feature '${f}'` });
  };

  const visit = (gName: string, lName: string, path: string): void => {
    const key = `${gName}\0${lName}`;
    if (seen.has(key)) return;
    seen.add(key);
    const g = gen.get(gName);
    const l = run.get(lName);
    if (!g || !l) return;
    if (g['meta-type'] === 'array' && l['meta-type'] === 'array') {
      compare(g['element-type'], l['element-type'], path);
      return;
    }
    if (g['meta-type'] !== l['meta-type']) {
      add({ path, what: 'type', side: 'both', detail: `${a(kind(g))} in the release, ${a(kind(l))} in this QEMU` });
      return;
    }
    const before = disagreements;
    switch (g['meta-type']) {
      case 'builtin':
        // Introspection has one 'int' for every integer type: compare JSON types.
        if (g['json-type'] !== (l as typeof g)['json-type'])
          add({ path, what: 'type', side: 'both', detail: `${kind(g)} in the release, ${kind(l)} in this QEMU` });
        return;
      case 'enum':
        values(g, l as SchemaInfoEnum, path);
        break;
      case 'object':
        object(g, l as SchemaInfoObject, path);
        break;
      case 'alternate':
        alternate(g, l as SchemaInfoAlternate, path);
        break;
      default:
        return;
    }
    features(path, g, l);
    if (disagreements === before && !truncated && !matched.has(lName)) matched.set(lName, gName);
  };

  const values = (g: SchemaInfoEnum, l: SchemaInfoEnum, path: string): void => {
    const live = new Set(enumValues(l));
    for (const m of g.members) {
      if (!live.has(m.name))
        add(
          {
            path: `${path}/^${m.name}`,
            what: 'value',
            side: 'generated',
            detail: `value '${m.name}'`,
            condition: m.if,
          },
          m.features,
        );
    }
    const liveFeatures = new Map((l.members ?? []).map((m) => [m.name, m]));
    for (const m of g.members) {
      const other = liveFeatures.get(m.name);
      if (other) features(`${path}/^${m.name}`, m, other);
    }
    if (listed.has(l.name)) return;
    listed.add(l.name);
    const known = new Set(enumValues(g));
    for (const v of enumValues(l))
      if (!known.has(v)) add({ path: `${path}/^${v}`, what: 'value', side: 'live', detail: `value '${v}'` });
  };

  const object = (g: SchemaInfoObject, l: SchemaInfoObject, path: string): void => {
    const live = new Map(l.members.map((m) => [m.name, m]));
    for (const m of g.members) {
      const at = `${path}/${step(m.name)}`;
      const other = live.get(m.name);
      if (!other) {
        add({ path: at, what: 'member', side: 'generated', detail: `member '${m.name}'`, condition: m.if }, m.features);
        continue;
      }
      if ('default' in m !== 'default' in other) {
        add({
          path: at,
          what: 'optional',
          side: 'both',
          detail: `'${m.name}' is ${'default' in m ? 'optional' : 'required'} in the release, ${'default' in other ? 'optional' : 'required'} in this QEMU`,
        });
      }
      features(at, m, other);
      compare(m.type, other.type, at);
    }
    const first = !listed.has(l.name);
    listed.add(l.name);
    const known = new Set(g.members.map((m) => m.name));
    for (const m of first ? l.members : []) {
      if (!known.has(m.name))
        add({ path: `${path}/${step(m.name)}`, what: 'member', side: 'live', detail: `member '${m.name}'` });
    }
    const liveBranches = new Map((l.variants ?? []).map((v) => [v.case, v]));
    for (const v of g.variants ?? []) {
      const at = `${path}/+${v.case}`;
      const other = liveBranches.get(v.case);
      if (!other) add({ path: at, what: 'branch', side: 'generated', detail: `branch '${v.case}'`, condition: v.if });
      else compare(v.type, other.type, at);
    }
    const knownBranches = new Set((g.variants ?? []).map((v) => v.case));
    for (const v of first ? (l.variants ?? []) : []) {
      if (!knownBranches.has(v.case))
        add({ path: `${path}/+${v.case}`, what: 'branch', side: 'live', detail: `branch '${v.case}'` });
    }
  };

  /** Alternatives are told apart by JSON type, so they are matched by it. */
  const alternate = (g: SchemaInfoAlternate, l: SchemaInfoAlternate, path: string): void => {
    const category = (d: Map<string, SchemaInfo>, type: string): string => {
      const e = d.get(type);
      if (!e) return '?';
      if (e['meta-type'] === 'builtin') return e['json-type'] === 'int' ? 'number' : e['json-type'];
      return e['meta-type'] === 'enum' ? 'string' : e['meta-type'];
    };
    const live = new Map(l.members.map((m) => [category(run, m.type), m]));
    for (const m of g.members) {
      const c = category(gen, m.type);
      const other = live.get(c);
      if (!other) add({ path, what: 'alternative', side: 'generated', detail: `a ${c} alternative`, condition: m.if });
      else compare(m.type, other.type, path);
      live.delete(c);
    }
    for (const c of live.keys()) add({ path, what: 'alternative', side: 'live', detail: `a ${c} alternative` });
  };

  for (const g of generated) {
    if (g['meta-type'] !== 'command' && g['meta-type'] !== 'event') continue;
    const l = run.get(g.name);
    const what = g['meta-type'];
    if (!l || l['meta-type'] !== what) {
      add({ path: g.name, what, side: 'generated', detail: `${what} '${g.name}'`, condition: g.if }, g.features);
      continue;
    }
    features(g.name, g, l);
    compare(g['arg-type'], l['arg-type'], `${g.name}/arg-type`);
    if (g['meta-type'] === 'command' && l['meta-type'] === 'command') {
      compare(g['ret-type'], l['ret-type'], `${g.name}/ret-type`);
      if (!!g['allow-oob'] !== !!l['allow-oob'])
        add({
          path: g.name,
          what: 'flag',
          side: 'both',
          detail: `allow-oob ${!!g['allow-oob']} in the release, ${!!l['allow-oob']} in this QEMU`,
        });
    }
    // What this command reaches is listed under it before the next command's.
    drain();
  }
  for (const l of live) {
    if (
      (l['meta-type'] === 'command' || l['meta-type'] === 'event') &&
      gen.get(l.name)?.['meta-type'] !== l['meta-type']
    )
      add({ path: l.name, what: l['meta-type'], side: 'live', detail: `${l['meta-type']} '${l.name}'` });
  }
  return {
    items,
    matched,
    truncated,
    unexplained: items.filter((i) => !explained(i)),
  };
}

/** What only the release has because a build may leave it out: a condition, or a deprecation hidden. */
function explained(i: DriftItem): boolean {
  return i.side === 'generated' && (i.condition !== undefined || i.deprecated === true);
}

/** A member name as a query step (a space before one that starts with anything but a letter). */
function step(name: string): string {
  return /^[A-Za-z]/.test(name) ? name : ` ${name}`;
}

/** 'an alternate', 'a string'. */
function a(word: string): string {
  return `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;
}

function kind(e: SchemaInfo): string {
  return e['meta-type'] === 'builtin' ? e['json-type'] : e['meta-type'];
}
