/**
 * A small model of the TypeScript the emitters produce (interfaces, type
 * aliases, unions, object types, doc comments, data literals) and a printer
 * that writes it exactly as prettier formats it (print width 120, two-space
 * indent, single quotes, trailing commas, quoted keys preserved).
 *
 * Running prettier over a whole QMP schema's output takes seconds; printing
 * already-formatted text takes milliseconds, and generation needs neither
 * prettier nor ts-morph at run time. The printer handles the layouts the
 * emitters need; a statement it cannot lay out is printed without a width
 * limit and counted (see printStatements). A test checks that prettier
 * leaves every generated file unchanged.
 */

import { propertyKey, stringLiteral } from './naming.js';
export const PRINT_WIDTH = 120;
const INDENT = '  ';

/** The printer cannot lay this out as prettier would. */
export class Unformattable extends Error {
  override name = 'Unformattable';
}

// ---------------------------------------------------------------- model

/** A type expression. */
export type TypeNode =
  /** Text with no top-level `|` or `&` (a name, `T[]`, `Returned<T>`, `(string & {})`, a literal...). */
  | { readonly kind: 'ref'; readonly text: string }
  | { readonly kind: 'union'; readonly members: readonly UnionMember[] }
  | { readonly kind: 'array'; readonly element: TypeNode }
  /** An object type, always written one member per line (`Record<string, never>` when empty). */
  | { readonly kind: 'object'; readonly members: readonly PropertyNode[] }
  /** An object type written on one line (`{ tag: 'x' }`, an index signature). */
  | { readonly kind: 'inlineObject'; readonly text: string }
  | { readonly kind: 'intersection'; readonly parts: readonly TypeNode[] };

export interface UnionMember {
  readonly type: TypeNode;
  /** JSDoc text (without delimiters). */
  readonly doc?: string;
}

export interface PropertyNode {
  /** The key as written (quoted when needed). */
  readonly key: string;
  readonly optional?: boolean;
  readonly type: TypeNode;
  readonly doc?: string;
}

export type Statement =
  | {
      readonly kind: 'interface';
      readonly name: string;
      readonly extends?: readonly string[];
      readonly members: readonly PropertyNode[];
      readonly doc?: string;
    }
  | { readonly kind: 'alias'; readonly name: string; readonly type: TypeNode; readonly doc?: string }
  | { readonly kind: 'import'; readonly names: readonly string[]; readonly from: string; readonly typeOnly?: boolean }
  /** `export const name: type = value;` for JSON-like data. */
  | {
      readonly kind: 'data';
      readonly name: string;
      readonly type: string;
      readonly value: unknown;
      readonly doc?: string;
      /** 'json': written as JSON.parse of a string, which loads about twice as fast as an object literal this large. */
      readonly encoding?: 'literal' | 'json';
      /** With 'json': the function the string is given to instead of JSON.parse (lazyDescriptor). */
      readonly parser?: string;
    }
  /** Text already formatted, printed as is. */
  | { readonly kind: 'text'; readonly text: string };

export const ref = (text: string): TypeNode => ({ kind: 'ref', text });

/** A union; members that are undocumented unions themselves are spliced in. */
export function union(members: readonly (TypeNode | UnionMember)[]): TypeNode {
  const ms = members
    .map((m): UnionMember => ('kind' in m ? { type: m } : m))
    .flatMap((m) => (m.type.kind === 'union' && !m.doc ? m.type.members : [m]));
  return ms.length === 1 && !ms[0].doc ? ms[0].type : { kind: 'union', members: ms };
}

/**
 * The printer for one width (prettier's, or none for a statement whose
 * layout it does not know): every layout decision reads `width` from here,
 * so nothing about a call lives in module state.
 */
function makePrinter(width: number): (s: Statement) => string {
  // ---------------------------------------------------------------- comments

  /** A JSDoc comment at `indent`, ending with a newline. One line when the text is one short line. */
  function printDoc(text: string | undefined, indent: string): string {
    if (text === undefined) return '';
    const lines = text.split('\n');
    if (lines.length === 1 && indent.length + text.length + 7 <= width) return `${indent}/** ${text} */\n`;
    return `${indent}/**\n${lines.map((l) => (l ? `${indent} * ${l}`.trimEnd() : `${indent} *`)).join('\n')}\n${indent} */\n`;
  }

  // ---------------------------------------------------------------- types

  const fits = (column: number, text: string, trail: number): boolean =>
    !text.includes('\n') && column + text.length + trail <= width;

  /** The one-line form of a type, or undefined when it has none (comments, object types with members). */
  function flat(t: TypeNode): string | undefined {
    switch (t.kind) {
      case 'ref':
      case 'inlineObject':
        return t.text;
      case 'union': {
        if (t.members.some((m) => m.doc)) return undefined;
        const parts = t.members.map((m) => flatMember(m.type));
        return parts.includes(undefined) ? undefined : parts.join(' | ');
      }
      case 'array': {
        const e = flat(t.element);
        if (e === undefined) return undefined;
        return needsParens(t.element) ? `(${e})[]` : `${e}[]`;
      }
      case 'object':
        return t.members.length ? undefined : 'Record<string, never>';
      case 'intersection': {
        const parts = t.parts.map(flatMember);
        return parts.includes(undefined) ? undefined : parts.join(' & ');
      }
    }
  }

  /** A union or intersection member: nested unions and intersections are parenthesized. */
  function flatMember(t: TypeNode): string | undefined {
    const f = flat(t);
    return f !== undefined && (t.kind === 'union' || t.kind === 'intersection') ? `(${f})` : f;
  }

  const needsParens = (t: TypeNode): boolean => t.kind === 'union' || t.kind === 'intersection';

  /**
   * Prints `t` at `column` (the text before it on the line is `column` wide),
   * continuation lines indented by `indent`, followed on its last line by
   * `trail` characters. Where a property's or alias's type may move to the
   * next line (`=` / `:` then a break), `lead` is how the caller joins:
   * `' '` normally, or `'\n' + indent + INDENT` after a break.
   */
  function printType(t: TypeNode, column: number, indent: string, trail: number): string {
    const f = flat(t);
    if (f !== undefined && fits(column, f, trail)) return f;
    switch (t.kind) {
      case 'ref':
      case 'inlineObject':
        // Prettier leaves a long name or literal long.
        return t.text;
      case 'object':
        return printObjectType(t.members, indent);
      case 'array': {
        if (!needsParens(t.element)) return `${printType(t.element, column, indent, trail + 2)}[]`;
        const inner = indent + INDENT;
        const e = flat(t.element);
        if (e !== undefined && fits(inner.length, e, 0)) return `(\n${inner}${e}\n${indent})[]`;
        return `(\n${printBrokenUnion(t.element, inner)}\n${indent})[]`;
      }
      case 'union':
      case 'intersection':
        throw new Unformattable(`a ${t.kind} that does not fit in its position`);
    }
  }

  /** A union one member per line, each on its own line at `indent` with a leading `| `. */
  function printBrokenUnion(t: TypeNode, indent: string): string {
    if (t.kind !== 'union') throw new Unformattable('not a union');
    return t.members
      .map((m) => {
        const f = flatMember(m.type);
        if (f === undefined) throw new Unformattable('a union member without a one-line form');
        return `${printDoc(m.doc, indent)}${indent}| ${f}`;
      })
      .join('\n');
  }

  /**
   * The right-hand side of `prefix` (an alias's `export type N =` or a
   * property's `key?:`) followed by `;`, where prettier may break after the
   * operator: same line, else next line, else one union member per line.
   */
  function printAssigned(prefix: string, t: TypeNode, indent: string): string {
    const inner = indent + INDENT;
    if (t.kind === 'union') {
      const [first, ...rest] = t.members;
      if (rest.some((m) => m.doc)) return `${prefix}\n${printBrokenUnion(t, inner)};`;
      if (first.doc) {
        const bare: TypeNode = { kind: 'union', members: [{ type: first.type }, ...rest] };
        const f = flat(bare);
        const doc = printDoc(first.doc, inner);
        if (f !== undefined && fits(inner.length, f, 1)) return `${prefix}\n${doc}${inner}${f};`;
        return `${prefix}\n${doc}${printBrokenUnion(bare, inner)};`;
      }
      const f = flat(t);
      if (f !== undefined && fits(prefix.length + 1, f, 1)) return `${prefix} ${f};`;
      if (f !== undefined && fits(inner.length, f, 1)) return `${prefix}\n${inner}${f};`;
      return `${prefix}\n${printBrokenUnion(t, inner)};`;
    }
    if (t.kind === 'intersection') return `${prefix} ${printIntersection(t, prefix.length + 1, indent)};`;
    return `${prefix} ${printType(t, prefix.length + 1, indent, 1)};`;
  }

  /** `A & { ... } & B`: object types with members are written one member per line, hugged by the `&`s. */
  function printIntersection(t: TypeNode & { kind: 'intersection' }, column: number, indent: string): string {
    const f = flat(t);
    if (f !== undefined && fits(column, f, 1)) return f;
    let out = '';
    let col = column;
    t.parts.forEach((p, i) => {
      const sep = i ? ' & ' : '';
      if (p.kind === 'object' && p.members.length) {
        const text = printObjectType(p.members, indent);
        out += sep + text;
        col = indent.length + 1;
        return;
      }
      const pf = flatMember(p);
      if (pf === undefined) throw new Unformattable('an intersection member without a one-line form');
      out += sep + pf;
      col += sep.length + pf.length;
    });
    if (col + 1 > width) throw new Unformattable('an intersection that does not fit');
    return out;
  }

  function printObjectType(members: readonly PropertyNode[], indent: string): string {
    if (!members.length) return 'Record<string, never>';
    const inner = indent + INDENT;
    return `{\n${members.map((m) => printProperty(m, inner)).join('\n')}\n${indent}}`;
  }

  function printProperty(p: PropertyNode, indent: string): string {
    return printDoc(p.doc, indent) + printAssigned(`${indent}${p.key}${p.optional ? '?' : ''}:`, p.type, indent);
  }

  // ---------------------------------------------------------------- data

  const dataKey = propertyKey;
  const quote = stringLiteral;

  const isPlainObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);

  const entriesOf = (o: Record<string, unknown>): [string, unknown][] =>
    Object.entries(o).filter(([, v]) => v !== undefined);

  /** The one-line form of a value, or undefined when prettier always breaks it; computed once per object. */
  function flatData(v: unknown, memo: Map<object, string | undefined>): string | undefined {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
        return quote(v);
      case 'number':
      case 'boolean':
        return String(v);
      case 'bigint':
        return `${v}n`;
      case 'object':
        break;
      default:
        throw new TypeError(`cannot write ${typeof v} as data`);
    }
    const o = v;
    if (memo.has(o)) return memo.get(o);
    let flat: string | undefined;
    if (Array.isArray(o)) {
      const items = o.map((x) => flatData(x, memo));
      flat = arrayMustBreak(o) || items.includes(undefined) ? undefined : `[${items.join(', ')}]`;
    } else if (isPlainObject(o)) {
      const e = entriesOf(o);
      const items = e.map(([k, x]) => {
        const f = flatData(x, memo);
        return f === undefined ? undefined : `${dataKey(k)}: ${f}`;
      });
      flat = items.includes(undefined) ? undefined : e.length ? `{ ${items.join(', ')} }` : '{}';
    } else {
      throw new TypeError('cannot write this object as data');
    }
    memo.set(o, flat);
    return flat;
  }

  /** Prettier breaks an array of two or more objects (or arrays) that each have more than one entry. */
  function arrayMustBreak(a: readonly unknown[]): boolean {
    if (a.length < 2) return false;
    const objects = a.every((x) => isPlainObject(x) && entriesOf(x).length > 1);
    const arrays = a.every((x) => Array.isArray(x) && x.length > 1);
    return objects || arrays;
  }

  /** A data value at `column`, continuation lines at `indent`, `trail` characters after it. */
  function printData(
    v: unknown,
    column: number,
    indent: string,
    trail: number,
    memo: Map<object, string | undefined>,
  ): string {
    const f = flatData(v, memo);
    if (f !== undefined && column + f.length + trail <= width) return f;
    const inner = indent + INDENT;
    if (Array.isArray(v)) {
      if (v.some((x) => typeof x === 'number' || typeof x === 'bigint')) {
        throw new Unformattable('an array of numbers that does not fit (prettier fills those)');
      }
      return `[\n${v.map((x) => `${inner}${printData(x, inner.length, inner, 1, memo)},`).join('\n')}\n${indent}]`;
    }
    if (isPlainObject(v)) {
      const lines = entriesOf(v).map(([k, x]) => {
        const key = `${dataKey(k)}:`;
        const col = inner.length + key.length + 1;
        if (typeof x === 'string' && col + quote(x).length + 1 > width) {
          throw new Unformattable('a string that does not fit after its key');
        }
        return `${inner}${key} ${printData(x, col, inner, 1, memo)},`;
      });
      return `{\n${lines.join('\n')}\n${indent}}`;
    }
    return f!;
  }

  // ---------------------------------------------------------------- statements

  function printImport(names: readonly string[], from: string, typeOnly: boolean): string {
    const head = typeOnly ? 'import type' : 'import';
    const sorted = [...names];
    const one = `${head} { ${sorted.join(', ')} } from ${quote(from)};`;
    if (one.length <= width) return one;
    return `${head} {\n${sorted.map((n) => `${INDENT}${n},`).join('\n')}\n} from ${quote(from)};`;
  }

  function printStatement(s: Statement): string {
    switch (s.kind) {
      case 'text':
        return s.text.replace(/\n+$/, '');
      case 'import':
        return printImport(s.names, s.from, s.typeOnly ?? true);
      case 'alias':
        return printDoc(s.doc, '') + printAssigned(`export type ${s.name} =`, s.type, '');
      case 'interface': {
        let head = `export interface ${s.name}`;
        if (s.extends?.length) {
          const ext = ` extends ${s.extends.join(', ')}`;
          if (head.length + ext.length + 2 <= width) head += ext;
          else if (INDENT.length + ext.length + 1 <= width) head += `\n${INDENT}${ext.trimStart()}`;
          else throw new Unformattable('an extends clause that does not fit');
        }
        const body = s.members.length ? `{\n${s.members.map((m) => printProperty(m, INDENT)).join('\n')}\n}` : '{}';
        return `${printDoc(s.doc, '')}${head} ${body}`;
      }
      case 'data': {
        const prefix = `export const ${s.name}: ${s.type} = `;
        if (s.encoding === 'json') {
          const text = quote(JSON.stringify(s.value));
          return s.parser
            ? `${printDoc(s.doc, '')}${prefix}${s.parser}(\n  ${text},\n);`
            : `${printDoc(s.doc, '')}${prefix}JSON.parse(\n  ${text},\n) as ${s.type};`;
        }
        return `${printDoc(s.doc, '')}${prefix}${printData(s.value, prefix.length, '', 1, new Map())};`;
      }
    }
  }

  return printStatement;
}

export interface Printed {
  readonly text: string;
  /** How many statements the printer could not lay out as prettier would (printed on long lines instead). */
  readonly unformatted: number;
}

/**
 * The statements as a file: imports together, then one blank line between
 * statements. A statement whose layout the printer does not know is printed
 * without a width limit: valid and deterministic, but not what prettier
 * would print (the test that runs prettier over generated/ reports it).
 */
const prettierWidth = makePrinter(PRINT_WIDTH);
const noWidth = makePrinter(Infinity);

export function printStatements(statements: readonly Statement[]): Printed {
  let out = '';
  let unformatted = 0;
  let previous: Statement['kind'] | undefined;
  for (const s of statements) {
    if (previous !== undefined) out += previous === 'import' && s.kind === 'import' ? '\n' : '\n\n';
    try {
      out += prettierWidth(s);
    } catch (e) {
      if (!(e instanceof Unformattable)) throw e;
      unformatted++;
      out += noWidth(s);
    }
    previous = s.kind;
  }
  return { text: out + '\n', unformatted };
}
