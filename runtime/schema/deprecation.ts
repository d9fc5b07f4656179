/**
 * What in a request is deprecated, by the schema's 'deprecated' features:
 * the command, the argument members given, and the enum values used. These
 * are exactly what QEMU refuses when run with
 * `-compat deprecated-input=reject` (qapi/qmp-dispatch.c and the input
 * visitor check the same features), so a client can warn or refuse before
 * sending.
 */
import { entriesByName, type SchemaDescriptor, type SchemaInfo } from './descriptor.js';

export interface DeprecatedUse {
  /** '$' for the command itself, else the JSON path of the member or value. */
  path: string;
  message: string;
}

/** Steps one check may take, whatever the schema and arguments. */
const MAX_WORK = 100_000;

const deprecated = (features: readonly string[] | undefined): boolean => !!features?.includes('deprecated');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The deprecated things a call of `command` with `args` uses; none when the command is unknown. */
export function deprecatedInput(schema: SchemaDescriptor, command: string, args: unknown): DeprecatedUse[] {
  const byName = entriesByName(schema);
  const entry = byName.get(command);
  if (entry?.['meta-type'] !== 'command') return [];
  const uses: DeprecatedUse[] = [];
  if (deprecated(entry.features)) uses.push({ path: '$', message: `the command ${command} is deprecated` });
  // Iterative and bounded: the schema may be a live one (hostile: a union whose branch is itself), and
  // each (type, value) pair is looked at once.
  const stack: { type: string; value: unknown; path: string }[] = [
    { type: entry['arg-type'], value: args ?? {}, path: '$' },
  ];
  const seen = new Map<unknown, Set<string>>();
  for (let work = 0; stack.length && work < MAX_WORK; work++) {
    const { type, value, path } = stack.pop()!;
    const info = byName.get(type);
    if (!info) continue;
    if (typeof value === 'object' && value !== null) {
      let types = seen.get(value);
      if (!types) seen.set(value, (types = new Set()));
      if (types.has(type)) continue;
      types.add(type);
    }
    switch (info['meta-type']) {
      case 'array':
        if (Array.isArray(value))
          value.forEach((v, i) => stack.push({ type: info['element-type'], value: v, path: `${path}[${i}]` }));
        break;
      case 'enum': {
        const m =
          typeof value === 'string' && Array.isArray(info.members)
            ? info.members.find((x) => x.name === value)
            : undefined;
        if (m && deprecated(m.features)) uses.push({ path, message: `the value '${m.name}' is deprecated` });
        break;
      }
      case 'alternate': {
        // The alternative QEMU picks by the value's JSON type.
        const pick = info.members.find((m) => fits(byName.get(m.type), value));
        if (pick) stack.push({ type: pick.type, value, path });
        break;
      }
      case 'object': {
        if (!isObject(value)) break;
        for (const m of info.members) {
          if (value[m.name] === undefined) continue;
          const at = /^[A-Za-z_][\w]*$/.test(m.name) ? `${path}.${m.name}` : `${path}['${m.name}']`;
          if (deprecated(m.features)) uses.push({ path: at, message: `the member '${m.name}' is deprecated` });
          stack.push({ type: m.type, value: value[m.name], path: at });
        }
        const tag = info.tag === undefined ? undefined : value[info.tag];
        const branch = typeof tag === 'string' ? info.variants?.find((v) => v.case === tag) : undefined;
        if (branch) stack.push({ type: branch.type, value, path });
        break;
      }
      default:
        break;
    }
  }
  return uses.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function fits(info: SchemaInfo | undefined, value: unknown): boolean {
  if (!info) return false;
  switch (info['meta-type']) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'enum':
      return typeof value === 'string';
    case 'builtin':
      switch (info['json-type']) {
        case 'string':
          return typeof value === 'string';
        case 'int':
        case 'number':
          return typeof value === 'number' || typeof value === 'bigint';
        case 'boolean':
          return typeof value === 'boolean';
        case 'null':
          return value === null;
        default:
          return true;
      }
    default:
      return false;
  }
}
