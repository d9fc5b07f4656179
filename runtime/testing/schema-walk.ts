/**
 * Walking a release's descriptor alongside a value, for the fake QEMU: the
 * type a validation problem's path points at (QEMU's error messages name
 * it), a value's members in schema order (the order QEMU's visitors insert
 * them, which decides the order it writes them), and the least value of a
 * type (the default reply to a query nobody scripted).
 */
import {
  entriesByName,
  enumValues,
  type SchemaDescriptor,
  type SchemaInfo,
  type SchemaInfoAlternate,
  type SchemaInfoObject,
  type SchemaInfoObjectMember,
  type SchemaInfoObjectVariant,
} from '../schema/descriptor.js';
import type { JsonValue } from '../wire/json.js';

type JsonObject = { [key: string]: JsonValue };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON type QEMU tells an alternate's alternatives apart by. */
function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'number';
  return typeof v;
}

/** What JSON type a schema type takes, as alternates see it ('value' for any). */
function kindOfType(info: SchemaInfo): string {
  switch (info['meta-type']) {
    case 'builtin': {
      const json = info['json-type'];
      return json === 'int' ? 'number' : json;
    }
    case 'enum':
      return 'string';
    case 'array':
      return 'array';
    case 'object':
      return 'object';
    default:
      return 'other';
  }
}

/** The alternative `value` selects (the first whose JSON type is the value's), as the runtime's validator picks it. */
export function alternativeFor(
  schema: SchemaDescriptor,
  alternate: SchemaInfoAlternate,
  value: unknown,
): SchemaInfo | undefined {
  const byName = entriesByName(schema);
  const kind = jsonKind(value);
  for (const m of alternate.members) {
    const info = byName.get(m.type);
    if (info && kindOfType(info) === kind) return info;
  }
  return undefined;
}

/** An object's members in schema order, a union's branch (selected by `value`'s tag) after the common ones. */
export function membersOf(schema: SchemaDescriptor, info: SchemaInfoObject, value: unknown): SchemaInfoObjectMember[] {
  const out: SchemaInfoObjectMember[] = [];
  const seen = new Set<SchemaInfoObject>();
  for (let cur: SchemaInfoObject | undefined = info; cur && !seen.has(cur);) {
    seen.add(cur);
    out.push(...cur.members);
    const tag: JsonValue | undefined = cur.tag !== undefined && isObject(value) ? value[cur.tag] : undefined;
    const branch: SchemaInfoObjectVariant | undefined =
      typeof tag === 'string' ? cur.variants?.find((v) => v.case === tag) : undefined;
    const next: SchemaInfo | undefined = branch && entriesByName(schema).get(branch.type);
    cur = next?.['meta-type'] === 'object' ? next : undefined;
  }
  return out;
}

/** One step of a validation problem's path: a member name or an array index. */
export type PathStep = string | number;

/** The steps of a validator path ('$.a.b[0]', "$['odd name']"). */
export function parsePath(path: string): PathStep[] {
  const steps: PathStep[] = [];
  const step = /\.([A-Za-z_][A-Za-z0-9_-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]/g;
  for (let m = step.exec(path); m; m = step.exec(path)) {
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(m[2].replace(/\\(.)/g, '$1'));
    else steps.push(Number(m[3]));
  }
  return steps;
}

/**
 * The schema type at `steps` below a value of type `root` (`value` picks
 * union branches and alternatives on the way), or undefined where the
 * schema has none (an unknown member). The last step's type is the
 * declared one: an alternate stays an alternate.
 */
export function typeAt(
  schema: SchemaDescriptor,
  root: string,
  value: unknown,
  steps: readonly PathStep[],
): SchemaInfo | undefined {
  const byName = entriesByName(schema);
  let info = byName.get(root);
  let v = value;
  for (const step of steps) {
    if (info?.['meta-type'] === 'alternate') info = alternativeFor(schema, info, v);
    if (!info) return undefined;
    if (typeof step === 'number') {
      if (info['meta-type'] !== 'array') return undefined;
      info = byName.get(info['element-type']);
      v = Array.isArray(v) ? v[step] : undefined;
    } else {
      if (info['meta-type'] !== 'object') return undefined;
      const member = membersOf(schema, info, v).find((m) => m.name === step);
      if (!member) return undefined;
      info = byName.get(member.type);
      v = isObject(v) ? v[step] : undefined;
    }
  }
  return info;
}

/**
 * A copy of `value` whose objects list their schema members first, in
 * schema order (the order QEMU's output visitor inserts them), then any
 * others; values of type 'any' are copied as they are.
 */
export function inSchemaOrder(schema: SchemaDescriptor, type: string, value: JsonValue): JsonValue {
  const byName = entriesByName(schema);
  const walk = (info: SchemaInfo | undefined, v: JsonValue): JsonValue => {
    if (info?.['meta-type'] === 'alternate') info = alternativeFor(schema, info, v);
    if (Array.isArray(v)) {
      const element = info?.['meta-type'] === 'array' ? byName.get(info['element-type']) : undefined;
      return v.map((x) => walk(element, x));
    }
    if (!isObject(v)) return v;
    const out: JsonObject = {};
    const members = info?.['meta-type'] === 'object' ? membersOf(schema, info, v) : [];
    const put = (k: string, t: SchemaInfo | undefined): void => {
      // defineProperty: a '__proto__' member stays an own member.
      if (!Object.hasOwn(out, k) && v[k] !== undefined)
        Object.defineProperty(out, k, { value: walk(t, v[k]), enumerable: true, writable: true, configurable: true });
    };
    for (const m of members) if (Object.hasOwn(v, m.name)) put(m.name, byName.get(m.type));
    for (const k of Object.keys(v)) put(k, undefined);
    return out;
  };
  return walk(byName.get(type), value);
}

/**
 * The least value of a type: required members only, empty arrays, first
 * enum values (a union's first branch), zeroes, false and empty strings.
 * What a query answers when its reply was not scripted: valid, and empty.
 */
export function minimalValue(schema: SchemaDescriptor, type: string): JsonValue {
  const byName = entriesByName(schema);
  const make = (name: string, depth: number): JsonValue => {
    const info = byName.get(name);
    // Only a broken descriptor has a required member that leads back to itself.
    if (!info || depth > 64) return null;
    switch (info['meta-type']) {
      case 'builtin':
        switch (info['json-type']) {
          case 'string':
            return '';
          case 'int':
          case 'number':
            return 0;
          case 'boolean':
            return false;
          case 'null':
            return null;
          default:
            return {};
        }
      case 'enum':
        return enumValues(info)[0] ?? '';
      case 'array':
        return [];
      case 'alternate':
        return info.members.length ? make(info.members[0].type, depth + 1) : null;
      case 'object': {
        const out: JsonObject = {};
        if (info.tag !== undefined && info.variants?.length) out[info.tag] = info.variants[0].case;
        for (const m of membersOf(schema, info, out)) {
          if ('default' in m || Object.hasOwn(out, m.name)) continue;
          out[m.name] = make(m.type, depth + 1);
        }
        return inSchemaOrder(schema, name, out);
      }
      default:
        return null;
    }
  };
  return make(type, 0);
}
