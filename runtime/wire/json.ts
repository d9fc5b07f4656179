/**
 * JSON as the QMP and guest-agent wires carry it, without losing integers.
 *
 * QAPI integers are 64-bit (int, int64, uint64, size), beyond what a
 * JavaScript number holds exactly (2^53). The policy:
 *
 * - Receiving: {@link parseJson} decodes an integer literal whose magnitude
 *   exceeds `Number.MAX_SAFE_INTEGER` as a `bigint`, exactly; every other
 *   value (smaller integers, numbers with a fraction or an exponent, strings,
 *   ...) decodes as `JSON.parse` would. So values of the QAPI types int,
 *   int64, uint64 and size beyond 2^53 arrive as bigint and all others as
 *   number; code reading a 64-bit member must expect both ({@link Int64}).
 *   The 8-, 16- and 32-bit integer types always arrive as number.
 * - Sending: {@link stringifyJson} writes a bigint as a plain integer literal,
 *   so bigint is accepted for any integer argument (and for 'number' ones).
 *
 * Parsing costs about what `JSON.parse` costs: `JSON.parse` first, then a
 * walk over the numbers it made; only when one is beyond 2^53 (it may have
 * lost digits) does a careful tokenizer read the text again.
 */

/** A JSON value as {@link parseJson} returns it and {@link stringifyJson} accepts it. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Declared once in a program, how it reads QAPI's 64-bit integers, in the
 * types; give connectQmp the same `int64` option for the values:
 *
 * ```ts
 * import type {} from 'qapi-ts/runtime'; // the module must be in the program to be augmented
 * declare module 'qapi-ts/runtime' {
 *   interface Register { int64: 'number' } // or 'bigint'; 'exact' is the default
 * }
 * const qmp = await connectQmp(target, { int64: 'number' });
 * ```
 */
export interface Register {} // eslint-disable-line @typescript-eslint/no-empty-object-type -- a user's declaration fills it

/**
 * How 64-bit integers arrive: 'exact' (the default) as a number up to 2^53
 * and a bigint beyond; 'number' always as a number, a value beyond 2^53
 * being an error rather than a rounded number; 'bigint' always as a bigint.
 */
export type Int64Mode = 'exact' | 'number' | 'bigint';

/** The mode a program declared in {@link Register}, else 'exact'. */
export type RegisteredInt64Mode = Register extends { int64: infer M extends Int64Mode } ? M : 'exact';

/**
 * A connect function's options: once a program declares `Register { int64 }`, the same `int64`
 * option is required, so the types and the values a client delivers cannot disagree.
 */
export type ConnectOptions<O extends { int64?: Int64Mode }> = RegisteredInt64Mode extends 'exact'
  ? [options?: O]
  : [options: O & { int64: RegisteredInt64Mode }];

/**
 * A QAPI 64-bit integer (int, int64, uint64, size), as the program declared
 * in {@link Register}: by default `number | bigint` (a bigint when beyond
 * 2^53 in magnitude).
 */
export type Int64 = RegisteredInt64Mode extends 'number'
  ? number
  : RegisteredInt64Mode extends 'bigint'
    ? bigint
    : number | bigint;

/** Invalid JSON text; `position` is the offset (in UTF-16 code units) where parsing stopped. */
export class JsonParseError extends SyntaxError {
  override name = 'JsonParseError';
  constructor(
    readonly reason: string,
    readonly position: number,
    text: string,
  ) {
    super(`invalid JSON at position ${position} (${lineColumn(text, position)}): ${reason}`);
  }
}

function lineColumn(text: string, position: number): string {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < position; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return `line ${line}, column ${position - start + 1}`;
}

/**
 * Parses JSON text like `JSON.parse`, except that integer literals beyond
 * `Number.MAX_SAFE_INTEGER` in magnitude become exact bigints. Throws
 * {@link JsonParseError} on invalid text.
 */
export function parseJson(text: string): JsonValue {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    // Parse again for an error with a precise position.
    return parseCarefully(text);
  }
  // Only a number that came out beyond 2^53 may have lost digits: then read the text again, carefully.
  return hasUnsafeNumber(value) ? parseCarefully(text) : value;
}

function parseCarefully(text: string): JsonValue {
  return new Parser(text).document();
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Whether any number in `root` is beyond ±2^53 - 1 (a walk with its own stack: any depth). */
function hasUnsafeNumber(root: JsonValue): boolean {
  if (typeof root === 'number') return root > MAX_SAFE || root < -MAX_SAFE;
  if (typeof root !== 'object' || root === null) return false;
  const stack: object[] = [root];
  while (stack.length) {
    const v = stack.pop() as JsonValue[] | { [key: string]: JsonValue };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'number') {
          if (x > MAX_SAFE || x < -MAX_SAFE) return true;
        } else if (typeof x === 'object' && x !== null) stack.push(x);
      }
    } else {
      for (const k in v) {
        const x = v[k];
        if (typeof x === 'number') {
          if (x > MAX_SAFE || x < -MAX_SAFE) return true;
        } else if (typeof x === 'object' && x !== null) stack.push(x);
      }
    }
  }
  return false;
}

// Character codes.
const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const ZERO = 48;
const ONE = 49;
const NINE = 57;
const COLON = 58;
const UPPER_A = 65;
const UPPER_E = 69;
const UPPER_F = 70;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LOWER_A = 97;
const LOWER_B = 98;
const LOWER_E = 101;
const LOWER_F = 102;
const LOWER_N = 110;
const LOWER_R = 114;
const LOWER_T = 116;
const LOWER_U = 117;
const LBRACE = 123;
const RBRACE = 125;

const isDigit = (c: number): boolean => c >= ZERO && c <= NINE;
/** An own member, '__proto__' included, as JSON.parse makes it. */
function setMember(obj: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

const isHex = (c: number): boolean => isDigit(c) || (c >= UPPER_A && c <= UPPER_F) || (c >= LOWER_A && c <= LOWER_F);

/** An open container while parsing: an array, or an object and the key of the member being read. */
type Open = JsonValue[] | { obj: { [key: string]: JsonValue }; key: string };

/**
 * The careful path: a parser following RFC 8259 exactly, as JSON.parse
 * does. It keeps open containers on a stack of its own, so any depth
 * JSON.parse reads, it reads.
 */
class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): JsonValue {
    this.skipSpace();
    const value = this.value();
    this.skipSpace();
    if (this.pos < this.text.length) this.unexpected();
    return value;
  }

  private fail(reason: string, at = this.pos): never {
    throw new JsonParseError(reason, at, this.text);
  }

  private unexpected(): never {
    if (this.pos >= this.text.length) this.fail('unexpected end of input');
    this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
  }

  private skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === SPACE || c === LF || c === CR || c === TAB) p++;
      else break;
    }
    this.pos = p;
  }

  /** One value, starting at a non-space character. */
  private value(): JsonValue {
    const stack: Open[] = [];
    for (;;) {
      let value: JsonValue;
      const c = this.text.charCodeAt(this.pos);
      if (c === LBRACE || c === LBRACKET) {
        this.pos++;
        this.skipSpace();
        const close = c === LBRACE ? RBRACE : RBRACKET;
        if (this.text.charCodeAt(this.pos) !== close) {
          stack.push(c === LBRACE ? { obj: {}, key: this.key() } : []);
          continue;
        }
        this.pos++;
        value = c === LBRACE ? {} : [];
      } else {
        value = this.scalar(c);
      }
      // A complete value: add it to the containers it completes, up to one that goes on.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) return value;
        if (Array.isArray(top)) top.push(value);
        else setMember(top.obj, top.key, value);
        this.skipSpace();
        const d = this.text.charCodeAt(this.pos);
        if (d === COMMA) {
          this.pos++;
          this.skipSpace();
          if (!Array.isArray(top)) top.key = this.key();
          break;
        }
        if (d !== (Array.isArray(top) ? RBRACKET : RBRACE)) this.unexpected();
        this.pos++;
        stack.pop();
        value = Array.isArray(top) ? top : top.obj;
      }
    }
  }

  /** A member's key and its colon, leaving the position at its value. */
  private key(): string {
    if (this.text.charCodeAt(this.pos) !== QUOTE) this.unexpected();
    const key = this.string();
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) !== COLON) this.unexpected();
    this.pos++;
    this.skipSpace();
    return key;
  }

  private scalar(c: number): JsonValue {
    switch (c) {
      case QUOTE:
        return this.string();
      case LOWER_T:
        return this.literal('true', true);
      case LOWER_F:
        return this.literal('false', false);
      case LOWER_N:
        return this.literal('null', null);
      default:
        if (c === MINUS || isDigit(c)) return this.number();
        return this.unexpected();
    }
  }

  private literal<T extends JsonValue>(word: string, value: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.text.charCodeAt(this.pos) !== word.charCodeAt(i)) this.unexpected();
      this.pos++;
    }
    return value;
  }

  private string(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    let escaped = false;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === QUOTE) break;
      if (c !== c) this.fail('unterminated string', start); // NaN: end of input
      if (c < 0x20) this.fail('control character in string', p);
      if (c === BACKSLASH) {
        escaped = true;
        const e = t.charCodeAt(p + 1);
        if (e === LOWER_U) {
          for (let i = 2; i < 6; i++) if (!isHex(t.charCodeAt(p + i))) this.fail('invalid \\u escape', p);
          p += 6;
          continue;
        }
        if (
          e !== QUOTE &&
          e !== BACKSLASH &&
          e !== SLASH &&
          e !== LOWER_B &&
          e !== LOWER_F &&
          e !== LOWER_N &&
          e !== LOWER_R &&
          e !== LOWER_T
        ) {
          this.fail('invalid escape', p);
        }
        p += 2;
        continue;
      }
      p++;
    }
    this.pos = p + 1;
    // Escapes are valid, so JSON.parse decodes them exactly as it would have.
    return escaped ? (JSON.parse(t.slice(start, p + 1)) as string) : t.slice(start + 1, p);
  }

  /** The position after the run of digits starting at `p`. */
  private digits(p: number): number {
    const t = this.text;
    while (isDigit(t.charCodeAt(p))) p++;
    return p;
  }

  private number(): number | bigint {
    const t = this.text;
    const start = this.pos;
    let p = start;
    if (t.charCodeAt(p) === MINUS) p++;
    const first = t.charCodeAt(p);
    if (first === ZERO) {
      p++;
    } else if (first >= ONE && first <= NINE) {
      p = this.digits(p);
    } else {
      this.pos = p;
      this.unexpected();
    }
    let integer = true;
    if (t.charCodeAt(p) === DOT) {
      integer = false;
      if (!isDigit(t.charCodeAt(++p))) {
        this.pos = p;
        this.unexpected();
      }
      p = this.digits(p);
    }
    const e = t.charCodeAt(p);
    if (e === LOWER_E || e === UPPER_E) {
      integer = false;
      const s = t.charCodeAt(++p);
      if (s === PLUS || s === MINUS) p++;
      if (!isDigit(t.charCodeAt(p))) {
        this.pos = p;
        this.unexpected();
      }
      p = this.digits(p);
    }
    this.pos = p;
    const literal = t.slice(start, p);
    const n = Number(literal);
    // Beyond 2^53 the double is inexact (or at best ambiguous): keep every digit.
    if (integer && p - start >= 16 && !Number.isSafeInteger(n)) return BigInt(literal);
    return n;
  }
}

/**
 * Serializes like `JSON.stringify(value)` (compact, no spaces; `toJSON`
 * honored; undefined, functions and symbols omitted from objects and null in
 * arrays; non-finite numbers as null), except that a bigint is written as a
 * plain integer literal. Throws a TypeError for values with no JSON form
 * (undefined itself, cycles).
 */
export function stringifyJson(value: unknown): string {
  let text: string | undefined;
  if (typeof (BigInt.prototype as { toJSON?: unknown }).toJSON === 'function') {
    // A BigInt.prototype.toJSON polyfill would make JSON.stringify write bigints as strings.
    text = new Writer().write(value, '');
  } else {
    try {
      text = JSON.stringify(value);
    } catch (e) {
      // A bigint (or a cycle, which the writer reports in turn).
      if (!(e instanceof TypeError)) throw e;
      text = new Writer().write(value, '');
    }
  }
  if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
  return text;
}

/** The bigint-aware path, following the JSON.stringify algorithm. */
class Writer {
  private readonly stack: object[] = [];

  write(input: unknown, key: string): string | undefined {
    let value = input;
    // A bigint's own toJSON (a polyfill's) is ignored: it is written as the integer it is.
    if (typeof value === 'object' && value !== null) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') value = toJSON.call(value, key);
    }
    if (typeof value === 'object' && value !== null) {
      // Boxed primitives are written as their values.
      if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
        value = value.valueOf();
      }
    }
    switch (typeof value) {
      case 'bigint':
        return value.toString();
      case 'string':
      case 'number':
      case 'boolean':
        return JSON.stringify(value);
      case 'object':
        if (value === null) return 'null';
        return Array.isArray(value) ? this.array(value) : this.object(value);
      default:
        return undefined; // undefined, function, symbol
    }
  }

  private enter(value: object): void {
    if (this.stack.includes(value)) throw new TypeError('Converting circular structure to JSON');
    this.stack.push(value);
  }

  private array(arr: unknown[]): string {
    this.enter(arr);
    const parts: string[] = [];
    for (let i = 0; i < arr.length; i++) parts.push(this.write(arr[i], String(i)) ?? 'null');
    this.stack.pop();
    return `[${parts.join(',')}]`;
  }

  private object(obj: object): string {
    this.enter(obj);
    const parts: string[] = [];
    for (const k of Object.keys(obj)) {
      const v = this.write((obj as Record<string, unknown>)[k], k);
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
    }
    this.stack.pop();
    return `{${parts.join(',')}}`;
  }
}
