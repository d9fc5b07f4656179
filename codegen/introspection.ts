/**
 * A QAPI schema from introspection: what `query-qmp-schema` says a running
 * QEMU has, written back as schema source, so that the usual pipeline
 * (parse, check, emit) makes an SDK of it. Introspection masks type names
 * (numbers) and collapses integer types into 'int'; given the descriptor of
 * a nearby release (`source`), every type that sits where one of that
 * release's sits and agrees with it (matched as drift matches them) gets
 * its real name; with `widths` (the source is the same release: a width
 * can change between releases, and introspection cannot show it) integer
 * members get their real widths too. The rest is named from where it is
 * first used ('BlockdevAddArg', 'QueryBlockRet...').
 */
import type { SchemaDescriptor, SchemaInfoObject } from '../runtime/schema/descriptor.js';
import { enumValues } from '../runtime/schema/descriptor.js';
import { drift } from '../runtime/schema/drift.js';
import type { ManEntry } from './manpage.js';

export interface IntrospectionSchema {
  /** QAPI schema source. */
  text: string;
  /** Live types that got their name from the source release, and those named from their place. */
  matched: number;
  derived: number;
  /** Definitions given a doc comment (with `docs`). */
  documented: number;
}

const BUILTIN_NAMES: Record<string, string> = {
  string: 'str',
  int: 'int',
  number: 'number',
  boolean: 'bool',
  null: 'null',
  value: 'any',
};

const INTEGER = new Set(['int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'size']);

/** 'blockdev-add' → 'BlockdevAdd'. */
function camel(text: string): string {
  return (
    text
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean)
      // An event's shouting name reads as words: BLOCK_IO_ERROR → BlockIoError.
      .map((w) => w[0].toUpperCase() + (/^[A-Z0-9]+$/.test(w) ? w.slice(1).toLowerCase() : w.slice(1)))
      .join('')
  );
}

const q = (s: string): string => `'${s}'`;

/** A type reference as the schema writes it: arrays as [ 'T' ]. */
const ref = (name: string): string => (name.startsWith('[') ? `[ ${ref(name.slice(1, -1))} ]` : q(name));

export function schemaFromIntrospection(
  live: SchemaDescriptor,
  source?: SchemaDescriptor,
  options: {
    widths?: boolean;
    /** Docs by 'Kind:name' (codegen/manpage.ts): written as doc comments, in QEMU 7.2's doc syntax. */
    docs?: Map<string, ManEntry>;
  } = {},
): IntrospectionSchema {
  const byName = new Map(live.map((e) => [e.name, e]));
  const sourceByName = new Map((source ?? []).map((e) => [e.name, e]));
  const matched = source ? drift(source, live).matched : new Map<string, string>();
  /** The empty object: no arguments, no return, an empty branch; never named. */
  const isEmpty = (liveName: string): boolean => {
    const e = byName.get(liveName);
    return e?.['meta-type'] === 'object' && e.members.length === 0 && !e.variants;
  };
  const names = new Map<string, string>();
  const used = new Set<string>(Object.values(BUILTIN_NAMES));
  let derived = 0;
  /** Live types named from their place (not from the source release). */
  const fromPlace = new Set<string>();

  /** A unique name for a live type, from the source when matched, else from `hint`. */
  const nameOf = (liveName: string, hint: string): string => {
    const known = names.get(liveName);
    if (known) return known;
    const e = byName.get(liveName);
    if (!e) return 'any';
    if (e['meta-type'] === 'builtin') return BUILTIN_NAMES[e['json-type']] ?? 'any';
    if (e['meta-type'] === 'array') return `[${nameOf(e['element-type'], hint)}]`;
    const real = matched.get(liveName);
    let name = real && !real.startsWith('q_') && !used.has(real) ? real : undefined;
    if (!name) {
      derived++;
      fromPlace.add(liveName);
      // QAPI reserves names ending in List or Kind, and a name starts with a letter.
      const base = (camel(hint) || 'Type').replace(/^(?=\d)/, 'T').replace(/(List|Kind)$/, '$1Type');
      name = base;
      for (let i = 2; used.has(name); i++) name = `${base}${i}`;
    }
    used.add(name);
    names.set(liveName, name);
    return name;
  };

  // Name every type from its first use, commands and events first (as introspection orders them).
  const queue: [string, string][] = [];
  for (const e of live) {
    if (e['meta-type'] === 'command') {
      for (const [t, hint] of [
        [e['arg-type'], `${e.name}-arg`],
        [e['ret-type'], `${e.name}-ret`],
      ])
        if (!isEmpty(t)) queue.push([t, hint]);
    } else if (e['meta-type'] === 'event' && !isEmpty(e['arg-type'])) queue.push([e['arg-type'], `${e.name}-data`]);
  }
  const visited = new Set<string>();
  for (let i = 0; i < queue.length; i++) {
    const [liveName, hint] = queue[i];
    if (visited.has(liveName)) continue;
    visited.add(liveName);
    const e = byName.get(liveName);
    if (!e) continue;
    nameOf(liveName, hint);
    if (e['meta-type'] === 'array') queue.push([e['element-type'], hint]);
    else if (e['meta-type'] === 'object') {
      for (const m of e.members) queue.push([m.type, `${hint}-${m.name}`]);
      for (const v of e.variants ?? []) if (!isEmpty(v.type)) queue.push([v.type, `${hint}-${v.case}`]);
    } else if (e['meta-type'] === 'alternate') e.members.forEach((m, k) => queue.push([m.type, `${hint}-${k}`]));
  }

  /** A member's type, with the source's integer width when the source has that member as an integer. */
  const memberType = (owner: string, member: string, liveType: string): string => {
    const t = nameOf(liveType, `${owner}-${member}`);
    if (t !== 'int' || !options.widths) return t;
    const src = sourceByName.get(matched.get(owner) ?? '');
    const m = src?.['meta-type'] === 'object' ? src.members.find((x) => x.name === member) : undefined;
    return m && INTEGER.has(m.type) ? m.type : t;
  };

  const features = (f: string[] | undefined): string => (f?.length ? `, 'features': [ ${f.map(q).join(', ')} ]` : '');
  const members = (o: SchemaInfoObject): string =>
    `{ ${o.members
      .map((m) => {
        const key = q(`${'default' in m ? '*' : ''}${m.name}`);
        const type = ref(memberType(o.name, m.name, m.type));
        return m.features?.length ? `${key}: { 'type': ${type}${features(m.features)} }` : `${key}: ${type}`;
      })
      .join(', ')} }`;

  const out: string[] = [];
  let documented = 0;
  /** The arguments (data) type of exactly one command or event: its members are documented there. */
  const argUse = new Map<string, string[]>();
  for (const e of live) {
    if ((e['meta-type'] === 'command' || e['meta-type'] === 'event') && !isEmpty(e['arg-type'])) {
      argUse.set(e['arg-type'], [
        ...(argUse.get(e['arg-type']) ?? []),
        `${e['meta-type'] === 'command' ? 'Command' : 'Event'}:${e.name}`,
      ]);
    }
  }
  /** A doc comment for a definition, when there are docs for it; every feature gets a line (QAPI wants them all). */
  const doc = (
    name: string,
    entry: ManEntry | undefined,
    members: readonly string[],
    featureNames: readonly string[],
    memberDocs?: Map<string, string>,
  ): void => {
    const own = memberDocs ?? entry?.members;
    if (!entry && !own?.size) return;
    // A member documented on a base or branch type the page points to ("The members of X").
    const inherited = (m: string, from: readonly string[], depth = 0): string | undefined => {
      for (const b of from) {
        const base = options.docs!.get(`Object:${b}`);
        const text = base?.members.get(m) ?? (depth < 8 && base ? inherited(m, base.inherits, depth + 1) : undefined);
        if (text) return text;
      }
      return undefined;
    };
    const described = {
      get: (m: string): string | undefined => own?.get(m) ?? inherited(m, entry?.inherits ?? []),
    };
    documented++;
    const line = (text: string): string =>
      `# ${text.replace(/^@/, '').replace(/^(Returns?|Since|Notes?|Examples?|Features|Errors|TODO)(\s*):/i, '$1$2 -')}`;
    const lines = ['##', `# @${name}:`];
    for (const p of entry?.text ?? []) lines.push('#', line(p));
    for (const m of members) {
      const text = described?.get(m);
      if (text) lines.push('#', `# @${m}: ${line(text).slice(2)}`);
    }
    if (featureNames.length) {
      lines.push('#', '# Features:');
      for (const f of featureNames)
        lines.push(`# @${f}: ${line(entry?.features.get(f) ?? `Feature '${f}'.`).slice(2)}`);
    }
    if (entry?.returns) lines.push('#', `# Returns: ${line(entry.returns).slice(2)}`);
    if (entry?.since) lines.push('#', `# Since: ${entry.since}`);
    lines.push('##');
    out.push(lines.join('\n'));
  };
  /** The page's object types by their member names, for a type named here from its place: only unique ones. */
  const bySignature = new Map<string, ManEntry | null>();
  /** An entry's members with those of the types it points to ("The members of X"), as introspection flattens them. */
  const flattened = (entry: ManEntry, depth = 0): string[] => [
    ...(depth < 8
      ? entry.inherits.flatMap((b) => {
          const base = options.docs?.get(`Object:${b}`);
          return base ? flattened(base, depth + 1) : [];
        })
      : []),
    ...entry.members.keys(),
  ];
  for (const entry of options.docs?.values() ?? []) {
    if (entry.kind !== 'Object') continue;
    const names = [...new Set(flattened(entry))];
    if (names.length < 2) continue;
    const key = names.sort().join('\0');
    bySignature.set(key, bySignature.has(key) ? null : entry);
  }
  const byNameOrMembers = (kind: string, name: string, memberNames: readonly string[]): ManEntry | undefined =>
    options.docs?.get(`${kind}:${name}`) ??
    (kind === 'Object' && memberNames.length >= 2
      ? (bySignature.get([...memberNames].sort().join('\0')) ?? undefined)
      : undefined);
  /** Live types the page names through a member of a documented type ("`tcp-ports` (`[PasstPortForward]`)"). */
  const viaParent = new Map<string, string>();
  if (options.docs) {
    const elementOf = (liveName: string): string => {
      const t = byName.get(liveName);
      return t?.['meta-type'] === 'array' ? t['element-type'] : liveName;
    };
    // A command's arguments and return, an event's data: the command's or event's own page names their types.
    const pageOfArgs = new Map<string, ManEntry>();
    for (const e of live) {
      if (e['meta-type'] !== 'command' && e['meta-type'] !== 'event') continue;
      const page = options.docs.get(`${e['meta-type'] === 'command' ? 'Command' : 'Event'}:${e.name}`);
      if (!page) continue;
      if (argUse.get(e['arg-type'])?.length === 1) pageOfArgs.set(e['arg-type'], page);
      if (e['meta-type'] !== 'command') continue;
      const ret = /^`\[?([A-Za-z][\w-]*)\]?`/.exec(page.returns?.replace(/`\[`|`\]`/g, '') ?? '');
      if (ret && !viaParent.has(elementOf(e['ret-type']))) viaParent.set(elementOf(e['ret-type']), ret[1]);
    }
    for (const e of live) {
      if (e['meta-type'] !== 'object' || !names.has(e.name)) continue;
      const page =
        pageOfArgs.get(e.name) ??
        byNameOrMembers(
          'Object',
          names.get(e.name)!,
          e.members.map((m) => m.name),
        ) ??
        (viaParent.has(e.name) ? options.docs.get(`Object:${viaParent.get(e.name)}`) : undefined);
      if (!page) continue;
      for (const v of e.variants ?? []) {
        const type = page.branches.get(v.case);
        if (type && !viaParent.has(v.type)) viaParent.set(v.type, type);
      }
      for (const m of e.members) {
        const type = page.memberTypes.get(m.name) ?? inheritedType(page, m.name);
        const t = byName.get(m.type);
        const target = t?.['meta-type'] === 'array' ? t['element-type'] : m.type;
        if (type && !viaParent.has(target)) viaParent.set(target, type);
      }
    }
  }
  function inheritedType(page: ManEntry, member: string, depth = 0): string | undefined {
    for (const b of depth < 8 ? page.inherits : []) {
      const base = options.docs?.get(`Object:${b}`);
      const t = base?.memberTypes.get(member) ?? (base ? inheritedType(base, member, depth + 1) : undefined);
      if (t) return t;
    }
    return undefined;
  }
  const pageFor = (
    kind: string,
    name: string,
    memberNames: readonly string[],
    liveName?: string,
  ): ManEntry | undefined => {
    const found = byNameOrMembers(kind, name, memberNames);
    if (found || !liveName) return found;
    const via = viaParent.get(liveName);
    return via ? options.docs?.get(`${kind}:${via}`) : undefined;
  };
  /** A command or event whose arguments are one named type (boxed, 'The members of X'): that type's page. */
  const boxedPage = (owner: ManEntry | undefined): ManEntry | undefined =>
    owner && owner.members.size === 0 && owner.inherits.length === 1
      ? options.docs?.get(`Object:${owner.inherits[0]}`)
      : undefined;
  const ownerOf = (liveName: string): ManEntry | undefined => {
    const users = argUse.get(liveName);
    return users?.length === 1 ? options.docs?.get(users[0]) : undefined;
  };
  // A type takes the name the QMP reference gives it when the page says which and the name is not the
  // page's already: named from its place, or renamed since the source release (NetDevPasstOptions in 10.2).
  for (const [liveName, current] of options.docs ? [...names] : []) {
    const e = byName.get(liveName)!;
    const kind = e['meta-type'] === 'enum' ? 'Enum' : e['meta-type'] === 'alternate' ? 'Alternate' : 'Object';
    if (options.docs!.has(`${kind}:${current}`)) continue;
    // A command's or event's arguments keep their place name (their page is the command's), unless boxed.
    const page =
      argUse.get(liveName)?.length === 1
        ? boxedPage(ownerOf(liveName))
        : pageFor(kind, current, e['meta-type'] === 'object' ? e.members.map((m) => m.name) : [], liveName);
    if (!page || page.kind !== kind || used.has(page.name) || !/^[A-Za-z][A-Za-z0-9-]*$/.test(page.name)) continue;
    used.delete(current);
    used.add(page.name);
    names.set(liveName, page.name);
    if (fromPlace.delete(liveName)) derived--;
  }
  const allFeatures = (...lists: (readonly string[] | undefined)[]): string[] => [
    ...new Set(lists.flatMap((l) => l ?? [])),
  ];
  const nameExceptions = new Set<string>();
  const commandExceptions: string[] = [];
  const returnsExceptions: string[] = [];
  const needsBoxing = (liveName: string): boolean => {
    const e = byName.get(liveName);
    return e?.['meta-type'] === 'object' && e.variants !== undefined;
  };

  for (const e of live) {
    if (options.docs && (e['meta-type'] === 'command' || e['meta-type'] === 'event')) {
      const kind = e['meta-type'] === 'command' ? 'Command' : 'Event';
      doc(e.name, options.docs.get(`${kind}:${e.name}`), [], allFeatures(e.features), new Map());
    }
    if (e['meta-type'] === 'command') {
      if (/[_A-Z]/.test(e.name)) commandExceptions.push(e.name);
      const parts = [`'command': ${q(e.name)}`];
      if (!isEmpty(e['arg-type'])) parts.push(`'data': ${ref(nameOf(e['arg-type'], `${e.name}-arg`))}`);
      if (needsBoxing(e['arg-type'])) parts.push(`'boxed': true`);
      if (!isEmpty(e['ret-type'])) {
        const ret = nameOf(e['ret-type'], `${e.name}-ret`);
        const r = byName.get(e['ret-type']);
        const element = r?.['meta-type'] === 'array' ? byName.get(r['element-type']) : r;
        if (element?.['meta-type'] !== 'object') returnsExceptions.push(e.name);
        parts.push(`'returns': ${ref(ret)}`);
      }
      if (e['allow-oob']) parts.push(`'allow-oob': true`);
      out.push(`{ ${parts.join(', ')}${features(e.features)} }`);
    } else if (e['meta-type'] === 'event') {
      const parts = [`'event': ${q(e.name)}`];
      if (!isEmpty(e['arg-type'])) parts.push(`'data': ${ref(nameOf(e['arg-type'], `${e.name}-data`))}`);
      if (needsBoxing(e['arg-type'])) parts.push(`'boxed': true`);
      out.push(`{ ${parts.join(', ')}${features(e.features)} }`);
    }
  }
  for (const e of live) {
    if (!names.has(e.name)) continue;
    const name = names.get(e.name)!;
    if (options.docs) {
      const kind = e['meta-type'] === 'enum' ? 'Enum' : e['meta-type'] === 'alternate' ? 'Alternate' : 'Object';
      const users = argUse.get(e.name);
      // A command's or event's arguments type has no page of its own: its members are the command's arguments.
      const owner = users?.length === 1 ? options.docs.get(users[0]) : undefined;
      // A command's or event's own arguments are documented by its page, not by one that merely has the same members.
      const entry =
        options.docs.get(`${kind}:${name}`) ??
        (owner
          ? boxedPage(owner)
          : pageFor(kind, name, e['meta-type'] === 'object' ? e.members.map((m) => m.name) : [], e.name));
      if (e['meta-type'] === 'enum') {
        const en = e;
        doc(name, entry, enumValues(en), allFeatures(e.features, ...(en.members ?? []).map((m) => m.features)));
      } else if (e['meta-type'] === 'object') {
        doc(
          name,
          entry,
          e.members.map((m) => m.name),
          allFeatures(e.features, ...e.members.map((m) => m.features)),
          entry ? undefined : owner?.members,
        );
      } else if (e['meta-type'] === 'alternate') {
        doc(name, entry, [], allFeatures(e.features), new Map());
      }
    }
    if (e['meta-type'] === 'enum') {
      const en = e;
      if (enumValues(en).some((v) => /[_A-Z]/.test(v))) nameExceptions.add(name);
      const values = enumValues(en).map((v) => {
        const f = en.members?.find((m) => m.name === v)?.features;
        return f?.length ? `{ 'name': ${q(v)}${features(f)} }` : q(v);
      });
      out.push(`{ 'enum': ${q(name)}, 'data': [ ${values.join(', ')} ]${features(e.features)} }`);
    } else if (e['meta-type'] === 'object') {
      if (e.members.some((m) => /[_A-Z]/.test(m.name)) || e.variants?.some((v) => /[_A-Z]/.test(v.case)))
        nameExceptions.add(name);
      if (e.variants && e.tag !== undefined) {
        // An empty branch is left out: QAPI gives a union's missing branches no members.
        const branches = e.variants
          .filter((v) => !isEmpty(v.type))
          .map((v) => `${q(v.case)}: ${ref(nameOf(v.type, `${name}-${v.case}`))}`);
        out.push(
          `{ 'union': ${q(name)}, 'base': ${members(e)}, 'discriminator': ${q(e.tag)}, 'data': { ${branches.join(', ')} }${features(e.features)} }`,
        );
      } else {
        out.push(`{ 'struct': ${q(name)}, 'data': ${members(e)}${features(e.features)} }`);
      }
    } else if (e['meta-type'] === 'alternate') {
      const alts = e.members.map((m, k) => `'a${k}': ${ref(nameOf(m.type, `${name}-${k}`))}`);
      out.push(`{ 'alternate': ${q(name)}, 'data': { ${alts.join(', ')} }${features(e.features)} }`);
    }
  }
  const pragma = [
    `'doc-required': false`,
    `'command-name-exceptions': [ ${commandExceptions.map(q).join(', ')} ]`,
    `'command-returns-exceptions': [ ${returnsExceptions.map(q).join(', ')} ]`,
    `'member-name-exceptions': [ ${[...nameExceptions].map(q).join(', ')} ]`,
  ];
  const text = [
    '# Generated by qapi-ts from introspection (query-qmp-schema). Do not edit.',
    `{ 'pragma': { ${pragma.join(', ')} } }`,
    ...out,
    '',
  ].join('\n');
  return { text, matched: names.size - derived, derived, documented };
}
