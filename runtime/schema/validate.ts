/**
 * Checking values against a schema descriptor, before sending them or after
 * receiving them.
 *
 * Inputs (command arguments, and types unless told otherwise) are checked
 * strictly, as QEMU would check them: unknown members, missing required
 * members, wrong JSON types, enum values not in the enum, integers out of the
 * range of their type (int8 ... uint64; bigints accepted), union tags and the
 * members of the branch they select, alternates (the alternative is picked by
 * the value's JSON type, as QEMU picks it). Commands marked `gen: false`
 * (device_add) accept members beyond those listed.
 *
 * Outputs (command returns, event data) are checked tolerantly, since a newer
 * QEMU may add to them: unknown members, enum values and union tags are fine,
 * and so is a missing member that has the 'deprecated' or 'unstable' feature
 * (QEMU hides them under `-compat deprecated-output=hide`); wrong JSON types
 * of known members are problems.
 *
 * Live descriptors (from `query-qmp-schema`) work too. Their single integer
 * type 'int' stands for all of QEMU's, so it accepts any integer from -2^63
 * to 2^64-1; and since they cannot say which commands take extra members,
 * device_add is assumed to.
 */
import {
  enumValues,
  type SchemaInfo,
  type SchemaInfoAlternate,
  type SchemaInfoCommand,
  type SchemaInfoEvent,
  type SchemaInfoObject,
} from './descriptor.js';
import { suggest } from '../suggest.js';
import { QEMU_JSON_LIMITS } from '../wire/limits.js';

export interface ValidationProblem {
  /** Where, JSONPath-like: '$' is the value itself, then '.member' (or "['odd name']") and '[index]'. */
  path: string;
  message: string;
  /** What the value should have been, e.g. 'string', 'integer from -128 to 127', 'object'. */
  expected?: string;
  /** The accepted enum values, or the known members for an unknown one. */
  allowed?: string[];
}

export type ValidationTarget =
  | { command: string; direction: 'arguments' | 'return' }
  | { event: string }
  /** A type by its descriptor name; checked as an input unless `direction` is 'return'. */
  | { type: string; direction?: 'arguments' | 'return' };

/**
 * Checks `value` against the command arguments, command return, event data
 * or type named by `target`; returns the problems found, none when valid.
 * Absent arguments and absent event data count as `{}`, as on the wire.
 * A member whose value is undefined counts as absent (it is not sent).
 */
export function validate(schema: readonly SchemaInfo[], target: ValidationTarget, value: unknown): ValidationProblem[] {
  const index = indexOf(schema);
  const problems: ValidationProblem[] = [];
  let typeName: string;
  let strict: boolean;
  let open = false;
  let absentIsEmpty = false;
  if ('command' in target) {
    const command = index.commands.get(target.command);
    if (!command)
      return [
        {
          path: '$',
          message: `unknown command '${target.command}'${suggest(target.command, [...index.commands.keys()])}`,
        },
      ];
    strict = target.direction === 'arguments';
    typeName = strict ? command['arg-type'] : command['ret-type'];
    absentIsEmpty = strict;
    open = strict && (command.gen === false || (index.collapsed && LIVE_OPEN_COMMANDS.has(command.name)));
  } else if ('event' in target) {
    const event = index.events.get(target.event);
    if (!event)
      return [
        { path: '$', message: `unknown event '${target.event}'${suggest(target.event, [...index.events.keys()])}` },
      ];
    typeName = event['arg-type'];
    strict = false;
    absentIsEmpty = true;
  } else {
    if (!index.types.has(target.type)) return [{ path: '$', message: `unknown type '${target.type}'` }];
    typeName = target.type;
    strict = target.direction !== 'return';
  }
  if (value === undefined && absentIsEmpty) value = {};
  const checker = new Checker(index, strict, problems);
  if (open) checker.checkOpenObject(typeName, value);
  else checker.check(typeName, value, '$');
  return problems;
}

/** Commands whose arguments are open in every QEMU (`'gen': false`), for live descriptors. */
const LIVE_OPEN_COMMANDS = new Set(['device_add']);

// ------------------------------------------------------------------ index

interface IntRange {
  min: bigint;
  max: bigint;
  minNumber: number;
  maxNumber: number;
  /** For messages. */
  text: string;
}

function range(min: bigint, max: bigint): IntRange {
  return { min, max, minNumber: Number(min), maxNumber: Number(max), text: `integer from ${min} to ${max}` };
}

const INT64 = range(-(2n ** 63n), 2n ** 63n - 1n);
const UINT64 = range(0n, 2n ** 64n - 1n);
const INT_RANGES: { [name: string]: IntRange } = {
  int: INT64,
  int8: range(-128n, 127n),
  int16: range(-32768n, 32767n),
  int32: range(-(2n ** 31n), 2n ** 31n - 1n),
  int64: INT64,
  uint8: range(0n, 255n),
  uint16: range(0n, 65535n),
  uint32: range(0n, 2n ** 32n - 1n),
  uint64: UINT64,
  size: UINT64,
};
/** A live descriptor's 'int' is every integer type at once. */
const ANY_INT64 = range(-(2n ** 63n), 2n ** 64n - 1n);

type Kind = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'any' | 'enum' | 'array' | 'object' | 'alternate';

interface MemberNode {
  name: string;
  type: string;
  optional: boolean;
  /** Has the 'deprecated' or 'unstable' feature: QEMU may hide it from output. */
  hidable: boolean;
}

interface TypeNode {
  kind: Kind;
  /** 'int' */
  range?: IntRange;
  /** 'enum' */
  values?: Set<string>;
  valueList?: string[];
  /** 'array' */
  element?: string;
  /** 'object' */
  members?: MemberNode[];
  memberNames?: Set<string>;
  tag?: string;
  variants?: Map<string, string>;
  /** 'alternate': JSON type of a value ('string', 'number', 'boolean', 'null', 'array', 'object') to the alternative's type. */
  alternatives?: Map<string, string>;
  /** 'alternate': what it accepts, for messages. */
  accepts?: string;
}

interface Index {
  commands: Map<string, SchemaInfoCommand>;
  events: Map<string, SchemaInfoEvent>;
  types: TypeNodes;
  /** A live descriptor: integer types collapsed into 'int'. */
  collapsed: boolean;
}

const cache = new WeakMap<readonly SchemaInfo[], Index>();

/** The index of a descriptor, built on first use and kept as long as the descriptor lives. */
function indexOf(schema: readonly SchemaInfo[]): Index {
  let index = cache.get(schema);
  if (!index) {
    index = buildIndex(schema);
    cache.set(schema, index);
  }
  return index;
}

const hidable = (features: readonly string[] | undefined): boolean =>
  !!features && (features.includes('deprecated') || features.includes('unstable'));

/**
 * A descriptor's types as checking nodes, each made when first needed: a
 * release has some 1,500 types and a call reaches a handful, so the first
 * call after connecting does not pay for all of them.
 */
class TypeNodes {
  private readonly nodes = new Map<string, TypeNode>();

  constructor(
    private readonly infos: Map<string, SchemaInfo>,
    private readonly collapsed: boolean,
  ) {}

  has(name: string): boolean {
    return this.infos.has(name) && this.get(name) !== undefined;
  }

  get(name: string): TypeNode | undefined {
    let node = this.nodes.get(name);
    if (node) return node;
    const info = this.infos.get(name);
    if (!info) return undefined;
    switch (info['meta-type']) {
      case 'builtin':
        node = builtinNode(info.name, info['json-type'], this.collapsed);
        break;
      case 'enum': {
        const valueList = enumValues(info);
        node = { kind: 'enum', values: new Set(valueList), valueList };
        break;
      }
      case 'array':
        node = { kind: 'array', element: info['element-type'] };
        break;
      case 'object':
        node = objectNode(info);
        break;
      case 'alternate':
        node = { kind: 'alternate' };
        // Set before its alternatives are looked at: one of them may lead back here.
        this.nodes.set(name, node);
        this.alternatives(info, node);
        return node;
      default:
        return undefined;
    }
    this.nodes.set(name, node);
    return node;
  }

  /** Alternatives are told apart by JSON type. */
  private alternatives(info: SchemaInfoAlternate, node: TypeNode): void {
    const alternatives = new Map<string, string>();
    for (const m of info.members) {
      const kind = this.get(m.type)?.kind;
      const json = kind === 'enum' ? 'string' : kind === 'int' ? 'number' : kind;
      if (json && json !== 'any' && json !== 'alternate' && !alternatives.has(json)) alternatives.set(json, m.type);
    }
    node.alternatives = alternatives;
    node.accepts = [...alternatives.keys()].join(' or ');
  }
}

function buildIndex(schema: readonly SchemaInfo[]): Index {
  const collapsed = !schema.some((i) => i.name === 'int64' && i['meta-type'] === 'builtin');
  const commands = new Map<string, SchemaInfoCommand>();
  const events = new Map<string, SchemaInfoEvent>();
  const infos = new Map<string, SchemaInfo>();
  for (const info of schema) {
    if (info['meta-type'] === 'command') commands.set(info.name, info);
    else if (info['meta-type'] === 'event') events.set(info.name, info);
    else infos.set(info.name, info);
  }
  return { commands, events, types: new TypeNodes(infos, collapsed), collapsed };
}

function builtinNode(name: string, json: string, collapsed: boolean): TypeNode {
  switch (json) {
    case 'int':
      return { kind: 'int', range: collapsed && name === 'int' ? ANY_INT64 : (INT_RANGES[name] ?? ANY_INT64) };
    case 'value':
      return { kind: 'any' };
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
      return { kind: json };
    default:
      // Not a built-in JSON type QEMU has today: accept anything.
      return { kind: 'any' };
  }
}

function objectNode(info: SchemaInfoObject): TypeNode {
  const members = info.members.map((m) => ({
    name: m.name,
    type: m.type,
    // A conditional member may be absent: the QEMU that answers may be built without it.
    optional: 'default' in m || m.if !== undefined,
    hidable: hidable(m.features),
  }));
  const node: TypeNode = { kind: 'object', members, memberNames: new Set(members.map((m) => m.name)) };
  if (info.tag !== undefined && info.variants) {
    node.tag = info.tag;
    node.variants = new Map(info.variants.map((v) => [v.case, v.type]));
  }
  return node;
}

// ------------------------------------------------------------------ checking

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function memberPath(path: string, name: string): string {
  return IDENTIFIER.test(name) ? `${path}.${name}` : `${path}['${name.replace(/[\\']/g, '\\$&')}']`;
}

/** The JSON type of a value, as messages name it. */
function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'bigint':
      return 'number';
    case 'object':
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value;
    default:
      return `${typeof value} (not JSON)`;
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** QEMU's JSON parser refuses deeper nesting; a value this deep is reported, not walked further. */
const MAX_DEPTH = QEMU_JSON_LIMITS.maxDepth;

class Checker {
  /** The objects and arrays on the path being checked: meeting one again is a cycle. */
  private readonly ancestors = new Set<object>();

  constructor(
    private readonly index: Index,
    private readonly strict: boolean,
    private readonly problems: ValidationProblem[],
  ) {}

  private problem(path: string, message: string, extra?: Omit<ValidationProblem, 'path' | 'message'>): void {
    this.problems.push({ path, message, ...extra });
  }

  private wrongType(path: string, expected: string, value: unknown): void {
    this.problem(path, `expected ${expected}, got ${jsonTypeOf(value)}`, { expected });
  }

  check(typeName: string, value: unknown, path: string): void {
    if (typeof value === 'object' && value !== null) {
      if (this.ancestors.has(value)) {
        this.problem(path, 'a circular reference: the value contains itself');
        return;
      }
      if (this.ancestors.size >= MAX_DEPTH) {
        this.problem(path, `nested deeper than QEMU accepts (${MAX_DEPTH} levels)`);
        return;
      }
      this.ancestors.add(value);
      try {
        this.checkNode(typeName, value, path);
      } finally {
        this.ancestors.delete(value);
      }
      return;
    }
    this.checkNode(typeName, value, path);
  }

  private checkNode(typeName: string, value: unknown, path: string): void {
    const node = this.index.types.get(typeName);
    if (!node) {
      this.problem(path, `the schema descriptor lacks type '${typeName}'`);
      return;
    }
    switch (node.kind) {
      case 'string':
        if (typeof value !== 'string') this.wrongType(path, 'string', value);
        return;
      case 'boolean':
        if (typeof value !== 'boolean') this.wrongType(path, 'boolean', value);
        return;
      case 'null':
        if (value !== null) this.wrongType(path, 'null', value);
        return;
      case 'number':
        if (typeof value === 'bigint') return;
        if (typeof value !== 'number') this.wrongType(path, 'number', value);
        else if (!Number.isFinite(value)) this.problem(path, `${value} is not a JSON number`, { expected: 'number' });
        return;
      case 'int':
        this.checkInt(node.range!, value, path);
        return;
      case 'any':
        if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
          this.wrongType(path, 'a JSON value', value);
        }
        return;
      case 'enum':
        if (typeof value !== 'string') this.wrongType(path, 'string', value);
        else if (!node.values!.has(value) && this.strict) {
          this.problem(path, `'${value}' is not one of the allowed values${suggest(value, node.valueList!)}`, {
            expected: 'string',
            allowed: node.valueList!,
          });
        }
        return;
      case 'array':
        if (!Array.isArray(value)) this.wrongType(path, 'array', value);
        else for (let i = 0; i < value.length; i++) this.check(node.element!, value[i], `${path}[${i}]`);
        return;
      case 'object':
        this.checkObject(node, value, path, false);
        return;
      case 'alternate': {
        const json = jsonTypeOf(value);
        const alternative = node.alternatives!.get(json);
        if (alternative === undefined) this.wrongType(path, node.accepts!, value);
        // The same value again, one level of type down: not a cycle.
        else this.checkNode(alternative, value, path);
        return;
      }
    }
  }

  private checkInt(r: IntRange, value: unknown, path: string): void {
    let n: bigint;
    if (typeof value === 'number') {
      if (!Number.isInteger(value)) {
        this.problem(path, `${value} is not an integer`, { expected: r.text });
        return;
      }
      // Bounds as numbers are exact or far beyond 2^53, so safe integers compare exactly.
      if (Number.isSafeInteger(value) && value >= r.minNumber && value <= r.maxNumber) return;
      n = BigInt(value);
    } else if (typeof value === 'bigint') {
      n = value;
    } else {
      this.wrongType(path, 'integer', value);
      return;
    }
    if (n < r.min || n > r.max) this.problem(path, `${n} is out of range`, { expected: r.text });
  }

  /** A gen: false command's arguments: the listed members are checked, others accepted. */
  checkOpenObject(typeName: string, value: unknown): void {
    const node = this.index.types.get(typeName);
    if (node?.kind === 'object') this.checkObject(node, value, '$', true);
    else this.check(typeName, value, '$');
  }

  private checkObject(node: TypeNode, value: unknown, path: string, open: boolean): void {
    if (!isPlainObject(value)) {
      this.wrongType(path, 'object', value);
      return;
    }
    const known = this.strict && !open ? new Set<string>() : undefined;
    const complete = this.checkMembers(node, value, path, known);
    if (known && complete) {
      for (const key of Object.keys(value)) {
        if (known.has(key) || value[key] === undefined) continue;
        const names = [...known];
        this.problem(memberPath(path, key), `unknown member '${key}'${suggest(key, names)}`, { allowed: names });
      }
    }
  }

  /**
   * Checks the members of `node` and of the union branch the tag selects,
   * recording their names in `known`. Returns false when the set of members
   * could not be known (an invalid tag), so unknown ones must not be reported.
   */
  private checkMembers(
    node: TypeNode,
    value: Record<string, unknown>,
    path: string,
    known: Set<string> | undefined,
    branches: Set<TypeNode> = new Set(),
  ): boolean {
    for (const m of node.members!) {
      known?.add(m.name);
      const v = value[m.name];
      if (v === undefined || !Object.hasOwn(value, m.name)) {
        if (!m.optional && (this.strict || !m.hidable)) {
          this.problem(memberPath(path, m.name), `missing required member '${m.name}'`);
        }
        continue;
      }
      this.check(m.type, v, memberPath(path, m.name));
    }
    if (node.tag === undefined) return true;
    const tag = value[node.tag];
    const branch = typeof tag === 'string' ? node.variants!.get(tag) : undefined;
    if (branch === undefined) return false;
    const branchNode = this.index.types.get(branch);
    if (branchNode?.kind !== 'object') {
      this.problem(path, `the schema descriptor lacks object type '${branch}'`);
      return false;
    }
    // A branch leading back to a type already applied (only a broken or hostile descriptor has one) ends here.
    if (branches.has(branchNode)) {
      this.problem(path, `the schema descriptor's union '${branch}' selects itself again`);
      return false;
    }
    branches.add(node);
    return this.checkMembers(branchNode, value, path, known, branches);
  }
}

/** Whether `command` takes no arguments in this descriptor (its argument type has no members). */
export function takesNoArguments(schema: readonly SchemaInfo[], command: string): boolean {
  const index = indexOf(schema);
  const info = index.commands.get(command);
  const node = info && index.types.get(info['arg-type']);
  return node?.kind === 'object' && node.members!.length === 0 && node.tag === undefined;
}

/**
 * Numbers that JSON would change on the way out, in the caller's own value:
 * NaN and infinities (written as null) and integers beyond 2^53 (written
 * rounded: 2 ** 60 goes out as 1152921504606847000). The arguments as
 * written can no longer show these, so they are looked for here.
 */
export function numberProblems(value: unknown): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const seen = new Set<object>();
  const stack: [unknown, string][] = [[value, '$']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v))
        problems.push({ path, message: `${v} is not a JSON number (it would be sent as null)`, expected: 'number' });
      else if (Number.isInteger(v) && !Number.isSafeInteger(v)) {
        problems.push({
          path,
          message: `${v} is beyond 2^53 as a number and would be sent rounded: pass a bigint`,
          expected: 'integer',
        });
      }
    } else if (
      typeof v === 'object' &&
      v !== null &&
      !seen.has(v) &&
      typeof (v as { toJSON?: unknown }).toJSON !== 'function'
    ) {
      seen.add(v);
      if (Array.isArray(v)) v.forEach((x, i) => stack.push([x, `${path}[${i}]`]));
      else for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], memberPath(path, k)]);
    }
  }
  return problems.reverse();
}

/** The ranges of QAPI's 64-bit integer types (a live descriptor's 'int' included). */
const WIDE = new Set([INT64, UINT64, ANY_INT64]);

/**
 * A command's return value or an event's data with every integer at a
 * 64-bit position (int, int64, uint64, size, by the descriptor) made a
 * bigint, for clients that read 64-bit integers as bigints. Objects and
 * arrays are changed in place (they are fresh from the wire); the value is
 * returned. Values of type 'any' are left as they are.
 */
export function widenInt64(
  schema: readonly SchemaInfo[],
  target: { command: string } | { event: string },
  value: unknown,
): unknown {
  const index = indexOf(schema);
  const typeName =
    'command' in target
      ? index.commands.get(target.command)?.['ret-type']
      : index.events.get(target.event)?.['arg-type'];
  if (typeName === undefined) return value;
  const root: Record<string, unknown> = { value };
  // Its own stack: any depth the decoder lets through.
  const stack: [string, Record<string, unknown> | unknown[], string | number][] = [[typeName, root, 'value']];
  while (stack.length) {
    const [name, holder, key] = stack.pop()!;
    const node = index.types.get(name);
    const v = (holder as Record<string, unknown>)[key as string];
    if (!node || v === undefined) continue;
    switch (node.kind) {
      case 'int':
        if (typeof v === 'number' && Number.isInteger(v) && WIDE.has(node.range!))
          (holder as Record<string, unknown>)[key as string] = BigInt(v);
        break;
      case 'array':
        if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push([node.element!, v, i]);
        break;
      case 'object':
        if (!isPlainObject(v)) break;
        for (const m of node.members!) if (m.name in v) stack.push([m.type, v, m.name]);
        if (node.tag !== undefined && typeof v[node.tag] === 'string') {
          const branch = node.variants!.get(v[node.tag] as string);
          // The branch's own members, on the same object.
          if (branch !== undefined) stack.push([branch, holder, key]);
        }
        break;
      case 'alternate': {
        const alternative = node.alternatives!.get(jsonTypeOf(v));
        if (alternative !== undefined) stack.push([alternative, holder, key]);
        break;
      }
      default:
        // The other kinds hold no integer of a known range.
        break;
    }
  }
  return root.value;
}

/** The path of the first bigint in `value` ('$' for the value itself), or undefined. */
export function firstBigint(value: unknown): { path: string; value: bigint } | undefined {
  const stack: [unknown, string][] = [[value, '$']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'bigint') return { path, value: v };
    if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`]);
    else if (isPlainObject(v)) {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) stack.push([v[keys[i]], memberPath(path, keys[i])]);
    }
  }
  return undefined;
}

/** Whether `command` may be executed out of band ('allow-oob' in the descriptor). */
export function allowsOob(schema: readonly SchemaInfo[], command: string): boolean {
  return indexOf(schema).commands.get(command)?.['allow-oob'] === true;
}
