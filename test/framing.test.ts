/** The stream decoder: any split of a valid stream gives the same messages; garbage gives errors, never a hang. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../runtime/errors.js';
import { MessageDecoder, type JsonObject } from '../runtime/wire/framing.js';
import { stringifyJson } from '../runtime/wire/json.js';

function decodeAll(chunks: Buffer[], max?: number): { messages: JsonObject[]; errors: ProtocolError[]; syncs: number } {
  const messages: JsonObject[] = [];
  const errors: ProtocolError[] = [];
  let syncs = 0;
  const d = new MessageDecoder(
    { message: (m) => messages.push(m), error: (e) => errors.push(e), sync: () => syncs++ },
    { maxMessageBytes: max },
  );
  for (const c of chunks) d.push(c);
  d.end();
  return { messages, errors, syncs };
}

/** Cuts `buf` at the given fractional positions. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out;
}

const jsonObject = fc.dictionary(
  fc.string({ maxLength: 8 }),
  fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 })),
  { maxKeys: 5 },
);

describe('MessageDecoder', () => {
  it('yields the same messages for any split of a valid stream, CRLF or LF', () => {
    fc.assert(
      fc.property(
        fc.array(jsonObject, { maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        fc.constantFrom('\r\n', '\n'),
        (messages, cuts, eol) => {
          const wire = Buffer.from(messages.map((m) => JSON.stringify(m) + eol).join(''));
          const got = decodeAll(split(wire, cuts));
          expect(got.errors).toEqual([]);
          expect(got.messages).toEqual(messages);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps multi-byte UTF-8 characters cut across chunks', () => {
    const wire = Buffer.from('{"desc":"d\u00e9j\u00e0 vu \u2603 \ud83d\ude00"}\r\n');
    for (let i = 1; i < wire.length; i++) {
      expect(decodeAll([wire.subarray(0, i), wire.subarray(i)]).messages).toEqual([
        { desc: 'd\u00e9j\u00e0 vu \u2603 \ud83d\ude00' },
      ]);
    }
  });

  it('reports random garbage as errors and recovers at the next line', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        (garbage, cuts) => {
          const tail = Buffer.from('\n{"return": {}, "id": 1}\r\n');
          const wire = Buffer.concat([Buffer.from(garbage), tail]);
          const got = decodeAll(split(wire, cuts));
          // Whatever the garbage was, the message after the next newline (or 0xFF) arrives.
          expect(got.messages.at(-1)).toEqual({ return: {}, id: 1 });
          for (const e of got.errors) expect(e).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('drops everything before a 0xFF byte (qemu-ga sync)', () => {
    const wire = Buffer.concat([
      Buffer.from('{"error": {"class": "GenericError", "desc": "JSON parse'),
      Buffer.from([0xff]),
      Buffer.from('{"return": 42}\n'),
    ]);
    const got = decodeAll([wire]);
    expect(got.syncs).toBe(1);
    expect(got.errors).toEqual([]);
    expect(got.messages).toEqual([{ return: 42 }]);
  });

  it('discards a message over the size limit with an error and reads on', () => {
    const big = JSON.stringify({ return: 'x'.repeat(5000) });
    const got = decodeAll(split(Buffer.from(`${big}\r\n{"return": 1}\r\n`), [0.1, 0.5, 0.9]), 1000);
    expect(got.errors).toHaveLength(1);
    expect(got.errors[0].message).toMatch(/larger than the 1000-byte limit/);
    expect(got.messages).toEqual([{ return: 1 }]);
  });

  it('passes a 220 KB message whole under the default limit', () => {
    const big = {
      return: Array.from({ length: 4000 }, (_, i) => ({ name: `n${i}`, 'meta-type': 'object', members: [] })),
    };
    const wire = Buffer.from(JSON.stringify(big) + '\r\n');
    expect(wire.length).toBeGreaterThan(200_000);
    expect(decodeAll(split(wire, [0.01, 0.3, 0.31, 0.99])).messages).toEqual([big]);
  });

  it('reads integers beyond 2^53 without rounding', () => {
    expect(decodeAll([Buffer.from('{"return": {"virtual-size": 4611686018427388416}}\n')]).messages).toEqual([
      { return: { 'virtual-size': 4611686018427388416n } },
    ]);
    expect(stringifyJson({ size: 4611686018427388416n })).toBe('{"size":4611686018427388416}');
  });

  it('reports a non-object message and a message cut off by the end of the stream', () => {
    expect(decodeAll([Buffer.from('[1,2]\n')]).errors[0].message).toMatch(/must be a JSON object/);
    expect(decodeAll([Buffer.from('{"return":')]).errors[0].message).toMatch(/closed in the middle/);
  });
});
