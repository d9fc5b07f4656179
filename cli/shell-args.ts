/**
 * Command arguments typed as qmp-shell takes them, made into a command's
 * JSON arguments by its schema:
 *
 *   key=value        a value converted by the member's type (`size=1048576` an
 *                    integer, `read-only=on` a boolean, an enum value checked)
 *   a.b.c=value      nested objects (`file.driver=file`)
 *   key:=JSON        a raw JSON value, taken as it is
 *   key=a key=b      a repeated key makes an array (or give one as JSON)
 *
 * Mistakes are usage errors that name the argument, the allowed values, and a
 * near miss ("did you mean"). The schema is a descriptor: the QEMU's own
 * (query-qmp-schema) or a release's.
 */
import { entriesByName, enumValues, type SchemaDescriptor, type SchemaInfo } from '../runtime/schema/descriptor.js';
import { suggest } from '../runtime/suggest.js';
import { parseJson, type JsonValue } from '../runtime/wire/json.js';
import { UsageError } from './command.js';

/** What `key=value` tokens build before conversion: strings, JSON values, nested groups, repeats. */
type Raw =
  { kind: 'text'; text: string } | { kind: 'json'; value: JsonValue } | { kind: 'group'; members: Map<string, Raw[]> };

const INTEGERS = new Set(['int', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'size']);
const TRUE = new Set(['on', 'true', 'yes']);
const FALSE = new Set(['off', 'false', 'no']);

/** Parses `key=value` / `key:=json` tokens into a tree (no schema yet). */
export function parseTokens(tokens: readonly string[]): Map<string, Raw[]> {
  const root = new Map<string, Raw[]>();
  for (const token of tokens) {
    const m = /^([^=:]+?)(:?)=([\s\S]*)$/.exec(token);
    if (!m) throw new UsageError(`argument '${token}': write it as key=value (or key:=JSON)`);
    const [, key, json, text] = m;
    const path = key.split('.');
    if (path.some((p) => !p)) throw new UsageError(`argument '${token}': empty name in '${key}'`);
    let value: Raw;
    if (json) {
      try {
        value = { kind: 'json', value: parseJson(text) };
      } catch (e) {
        throw new UsageError(`argument '${key}': not JSON after ':=': ${(e as Error).message}`);
      }
    } else value = { kind: 'text', text };
    let at = root;
    for (const [i, name] of path.entries()) {
      const list = at.get(name) ?? [];
      at.set(name, list);
      if (i === path.length - 1) {
        list.push(value);
        break;
      }
      // One group per name: `a.x=1 a.y=2` fill the same object.
      let group = list.find((r): r is Extract<Raw, { kind: 'group' }> => r.kind === 'group');
      if (!group) list.push((group = { kind: 'group', members: new Map() }));
      at = group.members;
    }
  }
  return root;
}

/** A value the schema says nothing about: text as text, JSON as JSON, nested keys as an object. */
function rawValue(raw: Raw, path: string): JsonValue {
  if (raw.kind === 'text') return raw.text;
  if (raw.kind === 'json') return raw.value;
  const out: Record<string, JsonValue> = {};
  for (const [k, rs] of raw.members)
    out[k] = rs.length === 1 ? rawValue(rs[0], `${path}.${k}`) : rs.map((r) => rawValue(r, `${path}.${k}`));
  return out;
}

class Converter {
  private readonly byName: Map<string, SchemaInfo>;
  constructor(schema: SchemaDescriptor) {
    this.byName = entriesByName(schema);
  }

  private get(name: string): SchemaInfo {
    const e = this.byName.get(name);
    if (!e) throw new Error(`schema has no type '${name}'`);
    return e;
  }

  /** What a type reads as in a message. */
  private show(name: string): string {
    const e = this.get(name);
    if (e['meta-type'] === 'builtin') return name;
    if (e['meta-type'] === 'enum') return `one of ${enumValues(e).join(', ')}`;
    if (e['meta-type'] === 'array') return `a list of ${this.show(e['element-type'])}`;
    return e['meta-type'] === 'alternate' ? 'one of several kinds' : 'an object';
  }

  /** An object's members, given the tag's value when it is a union (to add the branch's). */
  private members(
    e: Extract<SchemaInfo, { 'meta-type': 'object' }>,
    tagValue: string | undefined,
  ): Map<string, { type: string }> {
    const out = new Map(e.members.map((m) => [m.name, { type: m.type }]));
    const variant = e.variants?.find((v) => v.case === tagValue);
    if (variant) {
      const v = this.get(variant.type);
      if (v['meta-type'] === 'object') for (const [n, m] of this.members(v, undefined)) out.set(n, m);
    }
    return out;
  }

  /** `open`: members the schema does not list are taken as given (text, or JSON with :=), for 'gen': false commands. */
  object(typeName: string, group: Map<string, Raw[]>, where: string, open = false): JsonValue {
    const e = this.get(typeName);
    if (e['meta-type'] !== 'object')
      throw new UsageError(`${where || 'arguments'}: expected ${this.show(typeName)}, not members`);
    let tagValue: string | undefined;
    if (e.tag) {
      const raw = group.get(e.tag)?.[0];
      if (raw?.kind === 'text') tagValue = raw.text;
      else if (raw?.kind === 'json' && typeof raw.value === 'string') tagValue = raw.value;
    }
    const members = this.members(e, tagValue);
    const out: Record<string, JsonValue> = {};
    for (const [name, raws] of group) {
      const path = where ? `${where}.${name}` : name;
      const member = members.get(name);
      if (!member && open) {
        out[name] = raws.length === 1 ? rawValue(raws[0], path) : raws.map((r, i) => rawValue(r, `${path}[${i}]`));
        continue;
      }
      if (!member) {
        // Every branch's members too: the name may be right for a branch not (yet) chosen.
        const all = new Set(members.keys());
        for (const v of e.variants ?? []) {
          const vt = this.get(v.type);
          if (vt['meta-type'] === 'object') for (const n of this.members(vt, undefined).keys()) all.add(n);
        }
        const tagPath = `${where ? `${where}.` : ''}${e.tag}`;
        if (e.tag && all.has(name))
          throw new UsageError(
            tagValue === undefined
              ? `argument '${path}' depends on '${tagPath}': set it first`
              : `argument '${path}' is not a member when ${tagPath} is '${tagValue}'`,
          );
        throw new UsageError(`unknown argument '${path}'${suggest(name, all)}`);
      }
      const type = this.get(member.type);
      if (raws.length > 1 && type['meta-type'] !== 'array')
        throw new UsageError(`argument '${path}' given ${raws.length} times, but it is not a list`);
      out[name] =
        type['meta-type'] === 'array'
          ? raws.length === 1 && raws[0].kind === 'json'
            ? raws[0].value
            : raws.map((r, i) => this.value(type['element-type'], r, `${path}[${i}]`))
          : this.value(member.type, raws[0], path);
    }
    return out;
  }

  value(typeName: string, raw: Raw, path: string): JsonValue {
    if (raw.kind === 'json') return raw.value;
    const e = this.get(typeName);
    if (raw.kind === 'group') {
      if (e['meta-type'] === 'object') return this.object(typeName, raw.members, path);
      if (e['meta-type'] === 'alternate') {
        const obj = e.members.find((m) => this.get(m.type)['meta-type'] === 'object');
        if (obj) return this.object(obj.type, raw.members, path);
      }
      if (e['meta-type'] === 'array') return [this.value(e['element-type'], raw, `${path}[0]`)];
      throw new UsageError(`argument '${path}': expected ${this.show(typeName)}, not nested members`);
    }
    return this.scalar(typeName, raw.text, path);
  }

  scalar(typeName: string, text: string, path: string): JsonValue {
    const e = this.get(typeName);
    switch (e['meta-type']) {
      case 'enum': {
        const values = enumValues(e);
        if (values.includes(text)) return text;
        throw new UsageError(`argument '${path}': '${text}' is not ${this.show(typeName)}${suggest(text, values)}`);
      }
      case 'array':
        return [this.scalar(e['element-type'], text, `${path}[0]`)];
      case 'alternate': {
        // The first alternative the text reads as, in the order QEMU tells them apart: JSON kinds first.
        const kinds = e.members.map((m) => m.type);
        for (const t of kinds) {
          try {
            const meta = this.get(t);
            if (meta['meta-type'] === 'builtin' && meta['json-type'] === 'string') continue;
            if (meta['meta-type'] === 'object' || meta['meta-type'] === 'array') continue;
            return this.scalar(t, text, path);
          } catch {
            // Not this one.
          }
        }
        const str = kinds.find((t) => {
          const meta = this.get(t);
          return meta['meta-type'] === 'builtin' && meta['json-type'] === 'string';
        });
        if (str) return text;
        throw new UsageError(`argument '${path}': '${text}' is none of ${kinds.map((k) => this.show(k)).join('; ')}`);
      }
      case 'object':
        throw new UsageError(
          `argument '${path}' is an object: give its members as ${path}.NAME=VALUE, or ${path}:=JSON`,
        );
      case 'builtin':
        return this.builtin(e.name, e['json-type'], text, path);
      default:
        throw new UsageError(`argument '${path}': cannot be given as text`);
    }
  }

  private builtin(name: string, jsonType: string, text: string, path: string): JsonValue {
    if (INTEGERS.has(name) || jsonType === 'int') {
      if (!/^-?\d+$/.test(text)) throw new UsageError(`argument '${path}': '${text}' is not an integer (${name})`);
      const n = BigInt(text);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    switch (jsonType) {
      case 'boolean': {
        const t = text.toLowerCase();
        if (TRUE.has(t)) return true;
        if (FALSE.has(t)) return false;
        throw new UsageError(`argument '${path}': '${text}' is not a boolean (on/off, true/false, yes/no)`);
      }
      case 'number': {
        const n = Number(text);
        if (text.trim() === '' || !Number.isFinite(n))
          throw new UsageError(`argument '${path}': '${text}' is not a number`);
        return n;
      }
      case 'null':
        if (text === 'null') return null;
        throw new UsageError(`argument '${path}': only null`);
      case 'value':
        // 'any': JSON when it reads as JSON, else the text.
        try {
          return parseJson(text);
        } catch {
          return text;
        }
      default:
        return text;
    }
  }
}

/**
 * The JSON arguments of `command` from qmp-shell style tokens, converted by
 * its argument type in `schema`; an unknown command is a usage error with a
 * near miss.
 */
export function commandArguments(
  schema: SchemaDescriptor,
  command: string,
  tokens: readonly string[],
  options: { open?: boolean } = {},
): Record<string, JsonValue> | undefined {
  const byName = entriesByName(schema);
  const entry = byName.get(command);
  if (!entry || entry['meta-type'] !== 'command') {
    const commands = schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
    throw new UsageError(`unknown command '${command}'${suggest(command, commands)}`);
  }
  if (!tokens.length) return undefined;
  const converter = new Converter(schema);
  return converter.object(entry['arg-type'], parseTokens(tokens), '', options.open) as Record<string, JsonValue>;
}

/** The same for a type (a transaction action's data): for the shell. */
export function typeArguments(
  schema: SchemaDescriptor,
  typeName: string,
  tokens: readonly string[],
): Record<string, JsonValue> {
  return new Converter(schema).object(typeName, parseTokens(tokens), '') as Record<string, JsonValue>;
}
