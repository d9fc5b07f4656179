/** The lossless JSON codec of the QMP wire. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonParseError, parseJson, stringifyJson, type JsonValue } from '../runtime/wire/json.js';

/** Bigints (which must be beyond 2^53) as the numbers JSON.parse would have made of them. */
function numbersOnly(v: JsonValue): unknown {
  if (typeof v === 'bigint') {
    expect(v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    return Number(v);
  }
  if (Array.isArray(v)) return v.map(numbersOnly);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, numbersOnly(x)]));
  return v;
}

describe('parseJson', () => {
  it('decodes integers beyond 2^53 as exact bigints', () => {
    expect(parseJson('4611686018427388416')).toBe(4611686018427388416n); // 2^62 + 512
    expect(parseJson('{"offset":4611686018427388416}')).toEqual({ offset: 2n ** 62n + 512n });
    expect(parseJson('-9223372036854775808')).toBe(-(2n ** 63n));
    expect(parseJson('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(parseJson('[9007199254740993, -9007199254740993]')).toEqual([2n ** 53n + 1n, -(2n ** 53n) - 1n]);
    expect(parseJson('9007199254740992')).toBe(2n ** 53n);
    expect(parseJson('123456789012345678901234567890')).toBe(123456789012345678901234567890n);
  });

  it('keeps safe integers, floats and exponents as numbers', () => {
    expect(parseJson('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseJson('-9007199254740991')).toBe(-Number.MAX_SAFE_INTEGER);
    expect(parseJson('[1, -0, 0.5, 1e3, 1E+3, 2.5e-3, 12345678901234567890.5, 1e400]')).toEqual([
      1,
      -0,
      0.5,
      1000,
      1000,
      0.0025,
      // eslint-disable-next-line no-loss-of-precision -- the double nearest to it is what JSON.parse gives
      12345678901234567890.5,
      Infinity,
    ]);
    expect(Object.is(parseJson('-0'), -0)).toBe(true);
    // eslint-disable-next-line no-loss-of-precision -- the double nearest to it is what JSON.parse gives
    expect(parseJson('12345678901234567890e0')).toBe(12345678901234567890);
    expect(parseJson('1.0')).toBe(1);
    // Also on the careful path (a long digit run elsewhere in the text).
    expect(parseJson('[12345678901234567890, 0.5, 1e3, 2, -0]')).toEqual([12345678901234567890n, 0.5, 1000, 2, -0]);
  });

  it('leaves digits inside strings alone', () => {
    expect(parseJson('"12345678901234567890"')).toBe('12345678901234567890');
    expect(parseJson('{"id":"9999999999999999999","n":1}')).toEqual({ id: '9999999999999999999', n: 1 });
    expect(parseJson('{"12345678901234567890":12345678901234567890}')).toEqual({
      '12345678901234567890': 12345678901234567890n,
    });
    expect(parseJson('["a\\"12345678901234567890", 12345678901234567890]')).toEqual([
      'a"12345678901234567890',
      12345678901234567890n,
    ]);
  });

  it('decodes everything else as JSON.parse does, on both paths', () => {
    const texts = [
      '{"a":[true,false,null],"b":{"c":"d\\u00e9\\n\\t\\\\\\/\\"\\ud83d\\ude00"},"e":""}',
      ' \t\r\n{ "x" : [ ] , "y" : { } }\n',
      '{"a":1,"a":2,"b":3}',
      '{"__proto__":{"polluted":1}}',
      '"\\ud800"',
      '{"2":1,"1":2,"z":3,"a":4}',
    ];
    const long = '12345678901234567890';
    for (const t of texts) {
      expect(parseJson(t)).toEqual(JSON.parse(t));
      const careful = parseJson(`[${t},${long}]`) as JsonValue[];
      expect(careful[0]).toEqual(JSON.parse(t));
      expect(Object.keys(careful[0] as object)).toEqual(Object.keys(JSON.parse(t) as object));
    }
    const proto = parseJson(`{"__proto__":{"polluted":1},"n":${long}}`) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.hasOwn(proto, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects invalid JSON with the position, on both paths', () => {
    const bad: [string, number][] = [
      ['', 0],
      ['{', 1],
      ['{"a":}', 5],
      ['{"a":1,}', 7],
      ['[1,]', 3],
      ['[1 2]', 3],
      ['01', 1],
      ['-', 1],
      ['1.', 2],
      ['1e', 2],
      ['.5', 0],
      ['+1', 0],
      ['NaN', 0],
      ['tru', 3],
      ['nul', 3],
      ["{'a':1}", 1],
      ['{a:1}', 1],
      ['"abc', 0],
      ['"a\tb"', 2],
      ['"\\x"', 1],
      ['"\\u12G4"', 1],
      ['1 2', 2],
      ['[1]]', 3],
      ['0000000000000000', 1],
      ['12345678901234567890x', 20],
    ];
    for (const [text, position] of bad) {
      let error: unknown;
      try {
        parseJson(text);
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(JsonParseError);
      expect(error, text).toBeInstanceOf(SyntaxError);
      expect((error as JsonParseError).position, text).toBe(position);
      expect((error as Error).message, text).toMatch(
        new RegExp(`^invalid JSON at position ${position} \\(line 1, column ${position + 1}\\): `),
      );
      expect(() => JSON.parse(text), text).toThrow();
    }
    expect(() => parseJson('{\n  "a": 12345678901234567890,\n  "b": x\n}')).toThrow(
      'invalid JSON at position 38 (line 3, column 8): unexpected character "x"',
    );
  });

  it('agrees with JSON.parse on arbitrary JSON (property test)', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const expected = JSON.parse(text) as unknown;
        expect(numbersOnly(parseJson(text))).toEqual(expected);
        // Forced through the careful path.
        expect(numbersOnly((parseJson(`[${text},12345678901234567890]`) as JsonValue[])[0])).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips big integers through stringifyJson (property test)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), (n) => {
        const back = parseJson(stringifyJson({ n }));
        const expected = n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n ? Number(n) : n;
        expect(back).toEqual({ n: expected });
      }),
    );
  });
});

describe('stringifyJson', () => {
  it('writes compact JSON, bigints as integer literals', () => {
    expect(stringifyJson({ a: [1, 'x', null, true], b: { c: 0.5 } })).toBe('{"a":[1,"x",null,true],"b":{"c":0.5}}');
    expect(stringifyJson({ offset: 4611686018427388416n })).toBe('{"offset":4611686018427388416}');
    expect(stringifyJson([-(2n ** 63n), 2n ** 64n - 1n, 5n])).toBe('[-9223372036854775808,18446744073709551615,5]');
    expect(stringifyJson(7n)).toBe('7');
    expect(stringifyJson('a"b\n')).toBe('"a\\"b\\n"');
  });

  it('follows JSON.stringify otherwise, bigints or not', () => {
    const date = new Date(0);
    const values: unknown[] = [
      { u: undefined, f: () => 1, s: Symbol('x'), n: NaN, i: -Infinity, z: -0, d: date, arr: [undefined, () => 1] },
      { toJSON: (key: string) => ({ key }) },
      [new Number(3), new String('s'), new Boolean(false)],
      { nested: { toJSON: () => undefined }, 'we"ird': 1 },
    ];
    for (const v of values) {
      expect(stringifyJson(v)).toBe(JSON.stringify(v));
      // The same through the bigint-aware path: a bigint next to it forces it.
      expect(stringifyJson([v, 1n])).toBe(JSON.stringify([v, 1]));
    }
  });

  it('round-trips with parseJson', () => {
    const v = { id: 'x', size: 2n ** 62n + 512n, list: [1, -5n * 10n ** 20n, 'z'], obj: { f: 1.5, e: 1e21 } };
    expect(parseJson(stringifyJson(v))).toEqual(v);
  });

  it('rejects what has no JSON form', () => {
    expect(() => stringifyJson(undefined)).toThrow(TypeError);
    const cyclic: Record<string, unknown> = { n: 1n };
    cyclic.self = cyclic;
    expect(() => stringifyJson(cyclic)).toThrow(/circular/);
  });
});

describe('parseJson on deep and odd input', () => {
  const nested = (d: number, inner: string): string => '['.repeat(d) + inner + ']'.repeat(d);

  it('reads any depth JSON.parse reads when no number is beyond 2^53', () => {
    let v = parseJson(nested(100_000, '1'));
    let depth = 0;
    while (Array.isArray(v)) [v, depth] = [v[0], depth + 1];
    expect([depth, v]).toEqual([100_000, 1]);
  });

  it('reads 100,000 levels around a 64-bit integer exactly: the careful parser keeps its own stack', () => {
    let v = parseJson(nested(100_000, '18446744073709551615'));
    let depth = 0;
    while (Array.isArray(v)) [v, depth] = [v[0], depth + 1];
    expect([depth, v]).toEqual([100_000, 18446744073709551615n]);
    const objects = '{"a":'.repeat(50_000) + '-9007199254740993' + '}'.repeat(50_000);
    expect(() => parseJson(objects)).not.toThrow();
    expect(() => parseJson(nested(100_000, '18446744073709551615').slice(0, -1))).toThrow(JsonParseError);
  });

  it('finds unsafe integers anywhere, and leaves exponents and fractions to JSON.parse', () => {
    expect(parseJson('{"a":[1,9007199254740993,{"b":-9007199254740993}],"c":1e300,"d":9007199254740991}')).toEqual({
      a: [1, 9007199254740993n, { b: -9007199254740993n }],
      c: 1e300,
      d: 9007199254740991,
    });
    expect(parseJson('"12345678901234567890"')).toBe('12345678901234567890');
  });
});
