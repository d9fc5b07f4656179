/**
 * JSON text as QEMU writes it (qobject/qjson.c), so that what the fake
 * sends is byte for byte what QEMU 7.2 sends:
 *
 * - `{"a": 1, "b": [1, 2]}`: a space after ':' and ',', each message ended
 *   with CRLF by the monitor;
 * - members in QDict order: QEMU keeps an object's members in 512 hash
 *   buckets (tdb_hash of the name) and walks them bucket by bucket, the
 *   newest member first within a bucket. Which member is newest is the
 *   order QEMU inserted them in: for values made by QAPI visitors, schema
 *   order (a union's branch members after the common ones);
 * - strings in ASCII: '"', '\\' and \b \f \n \r \t escaped by name, other
 *   control characters, DEL and everything beyond ASCII as \uXXXX
 *   (uppercase hex, surrogate pairs beyond the BMP); '/' as it is;
 * - numbers with a fraction (or beyond 64 bits) as printf's %.17g.
 *
 * And what QEMU's parser makes of a request's numbers (qemuRead). Checked against QEMU 7.2 in
 * test/fake-qemu.test.ts and test/scenarios.test.ts.
 */
import type { JsonValue } from '../wire/json.js';

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** What QEMU's parser makes of a request (qemuRead). */
export interface QemuRead {
  /**
   * The value QEMU holds: an integer is an int64, else a uint64, else
   * (beyond 64 bits) a double; a number written with a fraction or an
   * exponent is a double. As parseJson gives values: an integer beyond
   * 2^53 as a bigint.
   */
  value: JsonValue;
  /**
   * The same for checking it with the runtime's validator: each double
   * with an integral (or no finite) value is 0.5 here, since QEMU takes no
   * double for an integer member ("Invalid parameter type for 'size',
   * expected: integer" for 2.0, 1e3 or 2^64) where the validator would take
   * an integral one.
   */
  checked: JsonValue;
}

/**
 * A JSON token, after what separates tokens: open, close, a string's opening quote, integer, other
 * number, literal. A string's end is found by a scan, not by the regex: matching a long string with
 * many escapes in one regex overflows V8's backtracking stack (a 6.7 MB request is enough).
 */
const TOKEN = /[ \t\n\r,:]*(?:([[{])|([\]}])|(")|(-?\d+)(?![\d.eE])|(-?[\d.eE+-]+)|(true|false|null))/y;

/** The index of the quote closing the string whose opening quote is at `start`. */
function stringEnd(text: string, start: number): number {
  for (let from = start + 1; ;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) throw new TypeError('qemuRead: not JSON text');
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

type Container = JsonValue[] | { [key: string]: JsonValue };

/**
 * `text`, which parseJson has read (it is JSON), as QEMU's JSON parser reads
 * it (qobject/json-parser.c parse_literal): see QemuRead. Iterative, for any
 * depth.
 */
export function qemuRead(text: string): QemuRead {
  const stack: { value: Container; checked: Container; key: string | undefined }[] = [];
  let read: QemuRead | undefined;
  const put = (value: JsonValue, checked: JsonValue): void => {
    const top = stack[stack.length - 1];
    if (!top) read = { value, checked };
    else if (Array.isArray(top.value)) {
      top.value.push(value);
      (top.checked as JsonValue[]).push(checked);
    } else {
      setOwn(top.value, top.key!, value);
      setOwn(top.checked as { [key: string]: JsonValue }, top.key!, checked);
      top.key = undefined;
    }
  };
  TOKEN.lastIndex = 0;
  while (read === undefined) {
    const m = TOKEN.exec(text);
    if (!m) throw new TypeError('qemuRead: not JSON text');
    const [, open, close, string, integer, double, literal] = m;
    if (open) stack.push({ value: open === '[' ? [] : {}, checked: open === '[' ? [] : {}, key: undefined });
    else if (close) {
      const done = stack.pop()!;
      put(done.value, done.checked);
    } else if (string !== undefined) {
      const start = TOKEN.lastIndex - 1;
      const end = stringEnd(text, start);
      TOKEN.lastIndex = end + 1;
      const s = JSON.parse(text.slice(start, end + 1)) as string;
      const top = stack[stack.length - 1];
      if (top && !Array.isArray(top.value) && top.key === undefined) top.key = s;
      else put(s, s);
    } else if (integer !== undefined) {
      const n = BigInt(integer);
      if (n < INT64_MIN || n > UINT64_MAX) put(Number(integer), 0.5);
      else {
        const v = Number.isSafeInteger(Number(n)) ? Number(n) : n;
        put(v, v);
      }
    } else if (double !== undefined) {
      const d = Number(double);
      put(d, Number.isInteger(d) || !Number.isFinite(d) ? 0.5 : d);
    } else put(literal === 'null' ? null : literal === 'true', literal === 'null' ? null : literal === 'true');
  }
  return read;
}

/** An own member, '__proto__' included, as JSON.parse makes it. */
function setOwn(obj: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** QDICT_BUCKET_MAX in qobject/qdict.c. */
const BUCKETS = 512;

/** qobject/qdict.c tdb_hash(), on the name's UTF-8 bytes, in unsigned 32-bit arithmetic. */
function tdbHash(name: string): number {
  const bytes = Buffer.from(name, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + ((bytes[i] << ((i * 5) % 24)) >>> 0)) >>> 0;
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

const buckets = new Map<string, number>();

function bucketOf(name: string): number {
  let b = buckets.get(name);
  if (b === undefined) {
    b = tdbHash(name) % BUCKETS;
    // Member names are few (the schema's); the cap only guards against a test that invents endless ones.
    if (buckets.size < 65536) buckets.set(name, b);
  }
  return b;
}

/** `keys`, given in the order QEMU would insert them, in the order QEMU writes them. */
export function qdictOrder(keys: readonly string[]): string[] {
  return keys
    .map((key, inserted) => ({ key, inserted, bucket: bucketOf(key) }))
    .sort((a, b) => a.bucket - b.bucket || b.inserted - a.inserted)
    .map((k) => k.key);
}

/**
 * `value` as QEMU writes it (without the CRLF the monitor adds). `order`:
 * 'qdict' writes objects as QEMU writes a QDict whose members were inserted
 * in the object's own order (put a QAPI value in schema order first);
 * 'as-is' keeps the object's own order (text QEMU already wrote, replayed).
 */
export function qemuJson(value: JsonValue, order: 'qdict' | 'as-is' = 'qdict'): string {
  const out: string[] = [];
  const write = (v: JsonValue): void => {
    if (v === null) out.push('null');
    else if (typeof v === 'string') out.push(qemuString(v));
    else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
    else if (typeof v === 'bigint') out.push(v.toString());
    else if (typeof v === 'number') out.push(qemuNumber(v));
    else if (Array.isArray(v)) {
      out.push('[');
      v.forEach((x, i) => {
        if (i) out.push(', ');
        write(x);
      });
      out.push(']');
    } else {
      const own = Object.keys(v).filter((k) => v[k] !== undefined);
      const keys = order === 'qdict' ? qdictOrder(own) : own;
      out.push('{');
      keys.forEach((k, i) => {
        if (i) out.push(', ');
        out.push(qemuString(k), ': ');
        write(v[k]);
      });
      out.push('}');
    }
  };
  write(value);
  return out.join('');
}

const NAMED_ESCAPES: { [c: string]: string } = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

const hex4 = (n: number): string => `\\u${n.toString(16).toUpperCase().padStart(4, '0')}`;

/** A string as qjson.c quotes it. */
export function qemuString(s: string): string {
  // Printable ASCII without quote or backslash: most strings, copied as they are.
  if (/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const named = NAMED_ESCAPES[ch];
    if (named) {
      out += named;
      continue;
    }
    let cp = ch.codePointAt(0)!;
    // A lone surrogate is not UTF-8: QEMU writes U+FFFD for what it cannot decode.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp > 0xffff) out += hex4(0xd800 + ((cp - 0x10000) >> 10)) + hex4(0xdc00 + ((cp - 0x10000) & 0x3ff));
    else if (cp < 0x20 || cp >= 0x7f) out += hex4(cp);
    else out += ch;
  }
  return `${out}"`;
}

/** A number as QEMU writes it: integers as integers, others as printf("%.17g"). */
export function qemuNumber(n: number): string {
  // What %.17g prints, no JSON: QEMU holds one when it reads 1e400, and echoes it so.
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
  // Below 2^63 an integer may have been one of QEMU's integers; beyond, only a double.
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return Object.is(n, -0) ? '-0' : BigInt(n).toString();
  // %.17g: exponent form when the exponent is below -4 or at least 17, trailing zeros dropped.
  const exponent = Number(n.toExponential(16).split('e')[1]);
  if (exponent < -4 || exponent >= 17) {
    const [mantissa, exp] = n.toExponential(16).split('e');
    const digits = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
    const sign = exp.startsWith('-') ? '-' : '+';
    return `${digits}e${sign}${exp.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  const fixed = n.toFixed(16 - exponent);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
