/**
 * "Does this QEMU have it?": questions about a descriptor, a live one
 * (`query-qmp-schema`, type names masked) or a generated one alike. libvirt
 * makes its feature decisions this way; the path syntax is libvirt's
 * (src/qemu/qemu_qapi.c), so its queries can be reused as they are:
 *
 *   'blockdev-add/arg-type/+file/aio/^io_uring'
 *
 * The first step names a command or event, the next 'arg-type' or
 * 'ret-type'; each step after walks into the type reached so far:
 * - `name`: an object member (`*name`: one that must be optional);
 * - `+case`: a union branch;
 * - `^value`: the enum reached has this value (the last step);
 * - `$feature`: the member or entity reached has this feature (last step);
 * - `!kind`: the type reached is of this meta-type or JSON type
 *   ('enum', 'object', 'string', 'int'...; the last step).
 * Arrays are looked through to their elements, and an alternate answers
 * yes when any of its alternatives does. A name that starts with anything
 * but a letter is written after one space (' __com.redhat_x').
 */
import {
  entriesByName,
  enumValues,
  type SchemaDescriptor,
  type SchemaInfo,
  type SchemaInfoObjectMember,
} from './descriptor.js';

/** The typed form of a query: built into a path of the same grammar. Names complete from a release's maps. */
export type SchemaQuery<CN extends string = string, EN extends string = string> =
  | {
      command: CN | (string & {});
      /** 'arg-type' (default when `path` is given) or 'ret-type'. */
      on?: 'arg-type' | 'ret-type';
      /** Steps into the arguments or return: member names, '+case' branches, as in the path syntax. */
      path?: readonly string[];
      /** The enum reached has this value. */
      value?: string;
      /** The member reached (or the command itself, with no path) has this feature. */
      feature?: string;
    }
  | {
      event: EN | (string & {});
      path?: readonly string[];
      value?: string;
      feature?: string;
    };

/** The query as a path: the typed form turned into the path syntax. */
export function queryPath(query: string | SchemaQuery): string {
  if (typeof query === 'string') return query;
  const steps: string[] = [];
  if ('command' in query) {
    steps.push(query.command);
    if (query.path?.length || query.value !== undefined || query.on) steps.push(query.on ?? 'arg-type');
  } else {
    steps.push(query.event);
    if (query.path?.length || query.value !== undefined) steps.push('arg-type');
  }
  steps.push(...(query.path ?? []).map((s) => (/^[A-Za-z]/.test(s) || /^[+*^$!]/.test(s) ? s : ` ${s}`)));
  if (query.value !== undefined) steps.push(`^${query.value}`);
  if (query.feature !== undefined) steps.push(`$${query.feature}`);
  return steps.join('/');
}

/** Type visits one question may make: a hostile live schema (nested alternates) cannot make it take long. */
const MAX_VISITS = 100_000;

/** Whether the descriptor has what the query asks for. Malformed queries answer false. */
export function supports(schema: SchemaDescriptor, query: string | SchemaQuery): boolean {
  const steps = queryPath(query).split('/');
  const byName = entriesByName(schema);
  const first = byName.get(name(steps[0]));
  if (!first) return false;
  // Each (type, step) is answered once: look-throughs (arrays, alternates) revisit nothing, and a
  // type that reaches itself without taking a step (a cycle) answers no.
  const memo = new Map<string, boolean>();
  let visits = 0;

  const walk = (entry: SchemaInfo, member: SchemaInfoObjectMember | undefined, at: number): boolean => {
    if (at === steps.length) return true;
    const key = `${at}\0${entry.name}\0${member?.name ?? ''}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    if (++visits > MAX_VISITS) return false;
    memo.set(key, false);
    const answer = step(entry, member, at);
    memo.set(key, answer);
    return answer;
  };

  const step = (entry: SchemaInfo, member: SchemaInfoObjectMember | undefined, at: number): boolean => {
    const s = steps[at];
    const op = s[0];
    const last = at === steps.length - 1;
    if (op === '$') return last && ((member ?? entry).features ?? []).includes(s.slice(1));
    if (op === '!') {
      const kind = s.slice(1);
      if (entry['meta-type'] === kind || (entry['meta-type'] === 'builtin' && entry['json-type'] === kind)) return last;
    }
    if (entry['meta-type'] === 'array') {
      const element = byName.get(entry['element-type']);
      return !!element && walk(element, undefined, at);
    }
    if (entry['meta-type'] === 'alternate') {
      // Any alternative that answers yes will do.
      return entry.members.some((m) => {
        const alt = byName.get(m.type);
        return !!alt && walk(alt, undefined, at);
      });
    }
    if (op === '!') return false;
    if (op === '^') {
      if (entry['meta-type'] !== 'enum') return false;
      const value = s.slice(1);
      if (!enumValues(entry).includes(value)) return false;
      if (last) return true;
      // libvirt's '^value/$feature': a feature of the enum value.
      const next = steps[at + 1];
      const m = entry.members?.find((x) => x.name === value);
      return at + 2 === steps.length && next[0] === '$' && !!m?.features?.includes(next.slice(1));
    }
    if (entry['meta-type'] === 'command' || entry['meta-type'] === 'event') {
      if (s !== 'arg-type' && !(s === 'ret-type' && entry['meta-type'] === 'command')) return false;
      const type = byName.get(
        entry['meta-type'] === 'command' && s === 'ret-type' ? entry['ret-type'] : entry['arg-type'],
      );
      return !!type && walk(type, undefined, at + 1);
    }
    if (entry['meta-type'] !== 'object') return false;
    if (op === '+') {
      const variant = entry.variants?.find((v) => v.case === s.slice(1));
      const type = variant && byName.get(variant.type);
      return !!type && walk(type, undefined, at + 1);
    }
    const optionalOnly = op === '*';
    const wanted = name(optionalOnly ? s.slice(1) : s);
    const found = entry.members.find((m) => m.name === wanted);
    if (!found || (optionalOnly && !('default' in found))) return false;
    if (at + 1 < steps.length && steps[at + 1][0] === '$') return walk(entry, found, at + 1);
    const type = byName.get(found.type);
    return !!type && walk(type, found, at + 1);
  };

  return walk(first, undefined, 1);
}

/** A step's name without its space escape. */
function name(step: string): string {
  return step.startsWith(' ') ? step.slice(1) : step;
}
