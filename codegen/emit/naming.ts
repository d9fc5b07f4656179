/**
 * QAPI names as TypeScript identifiers and property keys.
 *
 * Type names: every character other than a letter, digit or '_' becomes '_'
 * (downstream names such as `__com.redhat_Foo` contain '.' and '-'), a
 * leading digit gets a '_' prefix, and words TypeScript reserves (keywords,
 * predefined type names) and the names the generated files define themselves
 * get a '_' suffix. QAPI's own rules make the result unique in practice;
 * when two names still end up the same, that is an error naming both.
 *
 * Helper types the emitters make up contain '$', which no QAPI name can
 * contain: `Union$branch` for a union's branches, so they can never collide
 * with a schema type. A union's inline base is `UnionBase`, which reads
 * better in compiler errors, unless a schema type has that name: then it is
 * `Union$$base`. (Every schema type is declared before any helper.)
 */
import { QapiError } from '../errors.js';
import { cName } from '../names.js';
import type { Schema } from '../schema.js';

/** Words that cannot name a type: ECMAScript reserved words and TypeScript's predefined types. */
// prettier-ignore
const RESERVED = new Set([
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else',
  'enum', 'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof',
  'new', 'null', 'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void',
  'while', 'with', 'implements', 'interface', 'let', 'package', 'private', 'protected', 'public', 'static',
  'yield', 'await', 'arguments', 'eval', 'as', 'asserts', 'async', 'declare', 'get', 'infer', 'is', 'keyof',
  'module', 'namespace', 'never', 'readonly', 'require', 'set', 'type', 'unique', 'unknown', 'any', 'boolean',
  'number', 'bigint', 'string', 'symbol', 'object', 'undefined', 'intrinsic', 'global', 'satisfies', 'out',
  'accessor', 'using', 'of', 'from',
]);

/**
 * Names the generated files define or import next to the schema's types.
 * Exported so that tests and docs can list them.
 */
export const GENERATED_TYPE_NAMES: readonly string[] = [
  'JsonValue',
  'Int64',
  'Returned',
  'QmpCommands',
  'QmpEvents',
  'QgaCommands',
  'QgaEvents',
  'RuntimeTable',
  'SchemaDescriptor',
  // Standard library types the generated code refers to.
  'Record',
  'Array',
  'Exclude',
  'Extract',
];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Whether `name` can be written bare: as a property key, a method name. */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Two QAPI names that would become the same TypeScript identifier. */
export class NameCollisionError extends QapiError {
  override name = 'NameCollisionError';
}

/** A QAPI type name as a TypeScript type name (not checked for collisions: see TypeNamer). */
export function tsTypeName(qapiName: string): string {
  let id = qapiName.replace(/[^A-Za-z0-9_]/g, '_');
  if (/^[0-9]/.test(id)) id = '_' + id;
  if (RESERVED.has(id) || GENERATED_TYPE_NAMES.includes(id)) id += '_';
  return id;
}

/** The part of a helper name that stands for a union branch (a discriminator value). */
export function branchSuffix(value: string): string {
  return cName(value, false);
}

/**
 * Hands out TypeScript names for QAPI types, remembering which QAPI name
 * got which identifier so that a second name mapping to the same identifier
 * is reported instead of silently merging two types.
 */
export class TypeNamer {
  private readonly byId = new Map<string, string>();
  private readonly byName = new Map<string, string>();

  /** Registers `qapiName` and returns its identifier; throws NameCollisionError on a clash. */
  declare(qapiName: string, id = tsTypeName(qapiName)): string {
    const known = this.byName.get(qapiName);
    if (known !== undefined) return known;
    const other = this.byId.get(id);
    if (other !== undefined) {
      throw new NameCollisionError(
        `QAPI names '${other}' and '${qapiName}' both become the TypeScript identifier '${id}'`,
      );
    }
    this.byId.set(id, qapiName);
    this.byName.set(qapiName, id);
    return id;
  }

  /** The identifier of a declared QAPI name. */
  get(qapiName: string): string {
    const id = this.byName.get(qapiName);
    if (id === undefined) throw new Error(`type '${qapiName}' has no TypeScript name`);
    return id;
  }

  has(qapiName: string): boolean {
    return this.byName.has(qapiName);
  }

  /** Whether no declared name has become `id`. */
  isFree(id: string): boolean {
    return !this.byId.has(id);
  }
}

/** A property key: bare when it is an identifier, else a string literal. */
export function propertyKey(name: string): string {
  return IDENTIFIER.test(name) ? name : stringLiteral(name);
}

/** A TypeScript string literal as prettier writes it: single quotes unless the text holds more single than double quotes. */
export function stringLiteral(s: string): string {
  if (!/['"\\\n\r\t]/.test(s)) return `'${s}'`;
  const singles = (s.match(/'/g) ?? []).length;
  const doubles = (s.match(/"/g) ?? []).length;
  const q = singles > doubles ? '"' : "'";
  const body = s
    .replace(/\\/g, '\\\\')
    .replace(new RegExp(q, 'g'), '\\' + q)
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return q + body + q;
}

/**
 * The client method for a command: camelCase of its wire name, words split
 * at '-', '_' and '.'. 'blockdev-add' → 'blockdevAdd', 'qmp_capabilities' →
 * 'qmpCapabilities'; a downstream prefix loses its underscores and dots:
 * '__com.redhat_drive-add' → 'comRedhatDriveAdd'.
 */
export function methodName(wireName: string): string {
  const words = wireName.split(/[-_.]+/).filter(Boolean);
  const name = words.map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w)).join('');
  if (!IDENTIFIER.test(name)) {
    throw new QapiError(`command '${wireName}' has no valid method name (got '${name}')`);
  }
  return name;
}

/** Every command's method name, by wire name; two commands with the same name are an error naming both. */
export function methodNames(schema: Schema): Map<string, string> {
  const byWire = new Map<string, string>();
  const byMethod = new Map<string, string>();
  for (const c of schema.commands()) {
    const method = methodName(c.name);
    const other = byMethod.get(method);
    if (other !== undefined)
      throw new QapiError(`commands '${other}' and '${c.name}' would both be the client method '${method}'`);
    byMethod.set(method, c.name);
    byWire.set(c.name, method);
  }
  return byWire;
}
