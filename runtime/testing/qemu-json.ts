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
 * Checked against QEMU 7.2 in test/fake-qemu.test.ts.
 */
import type { JsonValue } from '../wire/json.js';

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
  if (!Number.isFinite(n)) return 'null'; // JSON has no form for them; QEMU never holds one
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
