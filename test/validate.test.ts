/** validate(): strict inputs, tolerant outputs, on small schemas, QEMU 10.2's, and live-style descriptors. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../codegen/frontend.js';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import type { SchemaDescriptor, SchemaInfo } from '../runtime/schema/descriptor.js';
import { validate, type ValidationProblem, type ValidationTarget } from '../runtime/index.js';
import { requireSources, schemaFile } from './support/qemu-sources.js';
import { tempDir } from './support/qemu.js';

function descriptorFrom(text: string): SchemaDescriptor {
  const dir = tempDir('qv');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 's.json');
  writeFileSync(file, text);
  try {
    return buildDescriptor(loadSchema(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What query-qmp-schema would return for the same schema: names masked, integer types collapsed. */
function liveStyle(d: SchemaDescriptor): SchemaDescriptor {
  const byName = new Map(d.map((i) => [i.name, i]));
  const masked = new Map<string, string>();
  const map = (name: string): string => {
    const info = byName.get(name)!;
    if (info['meta-type'] === 'builtin') return info['json-type'] === 'int' ? 'int' : name;
    if (info['meta-type'] === 'array') return `[${map(info['element-type'])}]`;
    if (!masked.has(name)) masked.set(name, String(masked.size));
    return masked.get(name)!;
  };
  const out = new Map<string, SchemaInfo>();
  for (const i of d) {
    let o: SchemaInfo;
    switch (i['meta-type']) {
      case 'command': {
        const { gen: _gen, ...rest } = i;
        o = { ...rest, 'arg-type': map(i['arg-type']), 'ret-type': map(i['ret-type']) };
        break;
      }
      case 'event':
        o = { ...i, 'arg-type': map(i['arg-type']) };
        break;
      case 'builtin':
        o = { ...i, name: map(i.name) };
        break;
      case 'enum':
        o = { ...i, name: map(i.name) };
        break;
      case 'array':
        o = { ...i, name: map(i.name), 'element-type': map(i['element-type']) };
        break;
      case 'object':
        o = {
          ...i,
          name: map(i.name),
          members: i.members.map((m) => ({ ...m, type: map(m.type) })),
          ...(i.variants ? { variants: i.variants.map((v) => ({ ...v, type: map(v.type) })) } : {}),
        };
        break;
      case 'alternate':
        o = { ...i, name: map(i.name), members: i.members.map((m) => ({ type: map(m.type) })) };
        break;
    }
    if (!out.has(o.name)) out.set(o.name, o);
  }
  return [...out.values()];
}

const SCHEMA = `
{ 'pragma': { 'command-name-exceptions': [ 'device_add' ] } }
{ 'enum': 'Color', 'data': [ 'red', 'green', { 'name': 'old', 'features': [ 'deprecated' ] } ] }
{ 'struct': 'Point', 'data': { 'x': 'int8', 'y': 'uint8', '*label': 'str', '*tags': [ 'str' ],
                               '*__com.example_z': 'int' } }
{ 'struct': 'Ranges', 'data': { '*i8': 'int8', '*i16': 'int16', '*i32': 'int32', '*i64': 'int64',
    '*u8': 'uint8', '*u16': 'uint16', '*u32': 'uint32', '*u64': 'uint64', '*sz': 'size', '*i': 'int',
    '*n': 'number', '*b': 'bool', '*s': 'str', '*a': 'any', '*z': 'null' } }
{ 'enum': 'ShapeKind', 'data': [ 'circle', 'square', 'dot' ] }
{ 'struct': 'Circle', 'data': { 'radius': 'uint32' } }
{ 'struct': 'Square', 'data': { 'side': 'uint32', '*rounded': 'bool' } }
{ 'union': 'Shape', 'base': { 'kind': 'ShapeKind', '*name': 'str' }, 'discriminator': 'kind',
  'data': { 'circle': 'Circle', 'square': 'Square' } }
{ 'enum': 'Layer', 'data': [ 'top', 'bottom' ] }
{ 'union': 'Layered', 'base': { 'layer': 'Layer' }, 'discriminator': 'layer', 'data': { 'top': 'Shape' } }
{ 'alternate': 'PointRef', 'data': { 'point': 'Point', 'ref': 'str', 'none': 'null' } }
{ 'alternate': 'Level', 'data': { 'n': 'int8', 'c': 'Color' } }
{ 'struct': 'DrawResult', 'data': { 'id': 'int', 'color': 'Color', 'shape': 'Shape', '*gone': 'str',
                                    'old': { 'type': 'str', 'features': [ 'deprecated' ] },
                                    'points': [ 'Point' ] } }
{ 'command': 'draw', 'data': { 'shape': 'Shape', '*at': 'PointRef', '*color': 'Color', '*points': [ 'Point' ],
                               '*level': 'Level', '*layered': 'Layered', '*ranges': 'Ranges' },
  'returns': 'DrawResult' }
{ 'command': 'draw-boxed', 'data': 'Shape', 'boxed': true }
{ 'command': 'ping' }
{ 'command': 'device_add', 'data': { 'driver': 'str', '*id': 'str' }, 'gen': false }
{ 'event': 'DRAWN', 'data': { 'id': 'int', 'shape': 'Shape' } }
{ 'event': 'RESET' }
`;

const d = descriptorFrom(SCHEMA);
const live = liveStyle(d);

const args = (command: string): ValidationTarget => ({ command, direction: 'arguments' });
const ret = (command: string): ValidationTarget => ({ command, direction: 'return' });
const circle = { kind: 'circle', radius: 3 };

type Case = [string, ValidationTarget, unknown, Partial<ValidationProblem>[]];

/** Each case: what, target, value, the problems (path and the start of the message, plus what else is given). */
const CASES: Case[] = [
  // valid inputs
  ['minimal arguments', args('draw'), { shape: circle }, []],
  [
    'every member',
    args('draw'),
    {
      shape: { kind: 'square', name: 's', side: 2, rounded: true },
      at: { x: -1, y: 2, label: 'p', tags: ['a'], '__com.example_z': 5 },
      color: 'green',
      points: [
        { x: 1, y: 1 },
        { x: 2, y: 2 },
      ],
      level: 3,
      layered: { layer: 'top', kind: 'circle', radius: 1 },
    },
    [],
  ],
  ['a branch without members', args('draw'), { shape: { kind: 'dot' } }, []],
  ['an undefined member is absent', args('draw'), { shape: circle, color: undefined }, []],
  ['no arguments', args('ping'), undefined, []],
  ['empty arguments', args('ping'), {}, []],
  ['boxed union arguments', args('draw-boxed'), { kind: 'square', side: 1 }, []],
  // unknown and missing members
  [
    'unknown member',
    args('draw'),
    { shape: circle, colour: 'red' },
    [{ path: '$.colour', message: "unknown member 'colour' (did you mean 'color'?)" }],
  ],
  ['unknown argument of a command without any', args('ping'), { x: 1 }, [{ path: '$.x', allowed: [] }]],
  ['missing member', args('draw'), {}, [{ path: '$.shape', message: "missing required member 'shape'" }]],
  ['missing nested member', args('draw'), { shape: circle, at: { x: 1 } }, [{ path: '$.at.y' }]],
  [
    'member of another branch',
    args('draw'),
    { shape: { kind: 'circle', radius: 1, side: 2 } },
    [{ path: '$.shape.side' }],
  ],
  ['missing branch member', args('draw'), { shape: { kind: 'square' } }, [{ path: '$.shape.side' }]],
  [
    'odd member names in paths',
    args('draw'),
    { shape: circle, at: { x: 1, y: 1, '__com.example_z': 'z' } },
    [{ path: "$.at['__com.example_z']", expected: 'integer' }],
  ],
  // JSON types
  [
    'string for an object',
    args('draw'),
    { shape: 'circle' },
    [{ path: '$.shape', message: 'expected object, got string', expected: 'object' }],
  ],
  ['object for an array', args('draw'), { shape: circle, points: {} }, [{ path: '$.points', expected: 'array' }]],
  [
    'null for a string',
    args('draw'),
    { shape: circle, at: { x: 1, y: 1, label: null } },
    [{ path: '$.at.label', expected: 'string' }],
  ],
  [
    'number for a string in an array',
    args('draw'),
    { shape: circle, at: { x: 1, y: 1, tags: ['a', 2] } },
    [{ path: '$.at.tags[1]', message: 'expected string, got number' }],
  ],
  ['array arguments', args('draw'), [], [{ path: '$', expected: 'object' }]],
  [
    'deep path',
    args('draw'),
    {
      shape: circle,
      points: [
        { x: 1, y: 1 },
        { x: 'a', y: 1 },
      ],
    },
    [{ path: '$.points[1].x', expected: 'integer' }],
  ],
  // enums
  [
    'enum value not allowed',
    args('draw'),
    { shape: circle, color: 'blue' },
    [{ path: '$.color', message: "'blue' is not one of the allowed values", allowed: ['red', 'green', 'old'] }],
  ],
  [
    'enum near miss',
    args('draw'),
    { shape: circle, color: 'gren' },
    [{ message: "'gren' is not one of the allowed values (did you mean 'green'?)" }],
  ],
  ['enum with a number', args('draw'), { shape: circle, color: 1 }, [{ path: '$.color', expected: 'string' }]],
  // union tags
  [
    'bad union tag: one problem, no noise about the members',
    args('draw'),
    { shape: { kind: 'triangle', radius: 1, corners: 3 } },
    [{ path: '$.shape.kind', allowed: ['circle', 'square', 'dot'] }],
  ],
  [
    'missing union tag',
    args('draw'),
    { shape: { radius: 1 } },
    [{ path: '$.shape.kind', message: "missing required member 'kind'" }],
  ],
  [
    'union within a union',
    args('draw'),
    { shape: circle, layered: { layer: 'top', kind: 'square', side: 'x' } },
    [{ path: '$.layered.side', expected: 'integer' }],
  ],
  [
    'union within a union, unknown member',
    args('draw'),
    { shape: circle, layered: { layer: 'top', kind: 'dot', radius: 1 } },
    [{ path: '$.layered.radius', message: "unknown member 'radius'" }],
  ],
  [
    'union branch without members',
    args('draw'),
    { shape: circle, layered: { layer: 'bottom', kind: 'dot' } },
    [{ path: '$.layered.kind', message: "unknown member 'kind'" }],
  ],
  // alternates
  ['alternate: object', args('draw'), { shape: circle, at: { x: 1, y: 2 } }, []],
  ['alternate: string', args('draw'), { shape: circle, at: 'p1' }, []],
  ['alternate: null', args('draw'), { shape: circle, at: null }, []],
  ['alternate: object checked', args('draw'), { shape: circle, at: { x: 1 } }, [{ path: '$.at.y' }]],
  [
    'alternate: no alternative',
    args('draw'),
    { shape: circle, at: true },
    [{ path: '$.at', message: 'expected object or string or null, got boolean', expected: 'object or string or null' }],
  ],
  ['alternate: integer', args('draw'), { shape: circle, level: -128 }, []],
  [
    'alternate: integer out of range',
    args('draw'),
    { shape: circle, level: 128 },
    [{ path: '$.level', message: '128 is out of range' }],
  ],
  ['alternate: enum', args('draw'), { shape: circle, level: 'red' }, []],
  [
    'alternate: enum value not allowed',
    args('draw'),
    { shape: circle, level: 'blue' },
    [{ path: '$.level', allowed: ['red', 'green', 'old'] }],
  ],
  ['alternate: array', args('draw'), { shape: circle, level: [] }, [{ path: '$.level', expected: 'number or string' }]],
  // gen: false
  ['gen false: extra members', args('device_add'), { driver: 'e1000', id: 'n', mac: '52:54:00:12:34:56', addr: 3 }, []],
  [
    'gen false: listed members still checked',
    args('device_add'),
    { id: 3, mac: 'x' },
    [
      { path: '$.driver', message: "missing required member 'driver'" },
      { path: '$.id', expected: 'string' },
    ],
  ],
  // targets
  ['unknown command', args('nope'), {}, [{ path: '$', message: "unknown command 'nope'" }]],
  ['unknown event', { event: 'NOPE' }, {}, [{ path: '$', message: "unknown event 'NOPE'" }]],
  ['unknown type', { type: 'Nope' }, {}, [{ path: '$', message: "unknown type 'Nope'" }]],
  ['a type', { type: 'Point' }, { x: 1, y: 2 }, []],
  ['a type, strictly', { type: 'Point' }, { x: 1, y: 2, w: 3 }, [{ path: '$.w' }]],
  ['a type as output', { type: 'Point', direction: 'return' }, { x: 1, y: 2, w: 3 }, []],
  [
    'a built-in type',
    { type: 'uint8' },
    256,
    [{ path: '$', message: '256 is out of range', expected: 'integer from 0 to 255' }],
  ],
  ['an array type', { type: '[Point]' }, [{ x: 1, y: 'a' }], [{ path: '$[0].y' }]],
  // outputs are tolerant
  ['return: valid', ret('draw'), { id: 1, color: 'red', shape: circle, old: 'x', points: [] }, []],
  [
    'return: unknown members, enum values and union tags',
    ret('draw'),
    {
      id: 1,
      color: 'purple',
      shape: { kind: 'hexagon', sides: 6 },
      old: 'x',
      points: [{ x: 1, y: 1, z: 0 }],
      added: { anything: true },
    },
    [],
  ],
  ['return: deprecated member hidden', ret('draw'), { id: 1, color: 'red', shape: circle, points: [] }, []],
  [
    'return: missing member',
    ret('draw'),
    { color: 'red', shape: circle, points: [] },
    [{ path: '$.id', message: "missing required member 'id'" }],
  ],
  [
    'return: wrong type of a known member',
    ret('draw'),
    { id: '1', color: 7, shape: { kind: 'circle', radius: -1 }, old: 'x', points: [{ x: 1, y: 1.5 }] },
    [
      { path: '$.id', expected: 'integer' },
      { path: '$.color', expected: 'string' },
      { path: '$.shape.radius', message: '-1 is out of range' },
      { path: '$.points[0].y', message: '1.5 is not an integer' },
    ],
  ],
  ['return: nothing returns {}', ret('ping'), {}, []],
  ['return: not an object', ret('ping'), 'ok', [{ path: '$', expected: 'object' }]],
  ['event: valid', { event: 'DRAWN' }, { id: 2, shape: { kind: 'dot', extra: 1 } }, []],
  ['event: no data', { event: 'RESET' }, undefined, []],
  ['event: missing data', { event: 'DRAWN' }, undefined, [{ path: '$.id' }, { path: '$.shape' }]],
  [
    'event: wrong type',
    { event: 'DRAWN' },
    { id: 2, shape: { kind: 'circle', radius: 'big' } },
    [{ path: '$.shape.radius' }],
  ],
];

/** Integer ranges: [member, lowest, highest] in and one beyond each end out. */
const RANGES: [string, bigint, bigint][] = [
  ['i8', -128n, 127n],
  ['i16', -32768n, 32767n],
  ['i32', -2147483648n, 2147483647n],
  ['i64', -(2n ** 63n), 2n ** 63n - 1n],
  ['i', -(2n ** 63n), 2n ** 63n - 1n],
  ['u8', 0n, 255n],
  ['u16', 0n, 65535n],
  ['u32', 0n, 4294967295n],
  ['u64', 0n, 2n ** 64n - 1n],
  ['sz', 0n, 2n ** 64n - 1n],
];

function check(schema: SchemaDescriptor, [, target, value, expected]: Case): void {
  const problems = validate(schema, target, value);
  expect(problems).toHaveLength(expected.length);
  expected.forEach((want, i) => {
    const got = problems[i];
    if (want.path !== undefined) expect(got.path).toBe(want.path);
    if (want.message !== undefined) expect(got.message.startsWith(want.message), got.message).toBe(true);
    if (want.expected !== undefined) expect(got.expected).toBe(want.expected);
    if (want.allowed !== undefined) expect(got.allowed).toEqual(want.allowed);
  });
}

describe('validate on a small schema', () => {
  it.each(CASES)('%s', (...c) => check(d, c));

  describe('integer ranges', () => {
    const ranges = (r: Record<string, unknown>): ValidationProblem[] =>
      validate(d, args('draw'), { shape: circle, ranges: r });
    it.each(RANGES)('%s from %s to %s', (member, min, max) => {
      const asNumber = (n: bigint): number | bigint => (n >= -(2n ** 53n) && n <= 2n ** 53n ? Number(n) : n);
      expect(ranges({ [member]: min })).toEqual([]);
      expect(ranges({ [member]: max })).toEqual([]);
      expect(ranges({ [member]: asNumber(min) })).toEqual([]);
      expect(ranges({ [member]: min })).toEqual([]);
      for (const out of [min - 1n, max + 1n]) {
        for (const v of [out, asNumber(out)]) {
          expect(ranges({ [member]: v })).toEqual([
            {
              path: `$.ranges.${member}`,
              message: `${out} is out of range`,
              expected: `integer from ${min} to ${max}`,
            },
          ]);
        }
      }
      expect(ranges({ [member]: 1.5 })[0].message).toBe('1.5 is not an integer');
      expect(ranges({ [member]: '1' })[0].message).toBe('expected integer, got string');
    });

    it('number takes any finite number, bigints too', () => {
      expect(ranges({ n: 1.5 })).toEqual([]);
      expect(ranges({ n: -1e300 })).toEqual([]);
      expect(ranges({ n: 2n ** 70n })).toEqual([]);
      expect(ranges({ n: NaN })[0]).toMatchObject({ path: '$.ranges.n', message: 'NaN is not a JSON number' });
      expect(ranges({ n: '1' })[0].expected).toBe('number');
    });

    it('bool, str, null and any', () => {
      expect(ranges({ b: false, s: '', z: null, a: { x: [1, 'y'] } })).toEqual([]);
      expect(ranges({ b: 0, s: 1, z: 0, a: () => 1 }).map((p) => p.path)).toEqual([
        '$.ranges.b',
        '$.ranges.s',
        '$.ranges.a',
        '$.ranges.z',
      ]);
    });
  });

  it('treats a member inherited from Object.prototype as absent', () => {
    expect(validate(d, { type: 'Point' }, { x: 1, y: 1, constructor: 1 })[0].path).toBe('$.constructor');
    expect(validate(d, { type: 'Circle' }, {})[0].message).toBe("missing required member 'radius'");
  });
});

describe('validate on a live-style descriptor (masked names, collapsed integers)', () => {
  it('is one', () => {
    expect(live.some((i) => i.name === 'int64')).toBe(false);
    expect(live.some((i) => i.name === 'Point')).toBe(false);
  });

  // Range and gen: false checks are what a live descriptor cannot tell.
  const same = CASES.filter(
    ([what, target]) =>
      !/range|built-in|type/.test(what) &&
      !('type' in target) &&
      !('command' in target && target.command === 'device_add'),
  );
  it.each(same)('%s', (...c) => check(live, c));

  it("accepts any 64-bit integer for 'int', and device_add's extra members", () => {
    const r = (v: unknown): ValidationProblem[] => validate(live, args('draw'), { shape: circle, ranges: { i8: v } });
    expect(r(2n ** 64n - 1n)).toEqual([]);
    expect(r(-(2n ** 63n))).toEqual([]);
    expect(r(2n ** 64n)[0].expected).toBe('integer from -9223372036854775808 to 18446744073709551615');
    expect(validate(live, args('device_add'), { driver: 'e1000', mac: 'x' })).toEqual([]);
  });
});

describe('validate on QEMU 10.2 blockdev-add', () => {
  requireSources('10.2');
  const schema = buildDescriptor(loadSchema(schemaFile('10.2', 'qmp'), { dialect: 'auto' }));
  const target = args('blockdev-add');
  const qcow2 = (): Record<string, unknown> => ({
    driver: 'qcow2',
    'node-name': 'disk0',
    'read-only': false,
    discard: 'unmap',
    cache: { direct: true, 'no-flush': false },
    'cache-size': 2n ** 62n + 512n,
    'l2-cache-size': 1048576,
    'overlap-check': { template: 'constant', 'inactive-l2': true },
    file: { driver: 'file', filename: '/var/lib/images/disk0.qcow2', aio: 'threads', locking: 'auto' },
    backing: null,
  });

  it('accepts a correct qcow2 argument object', () => {
    expect(validate(schema, target, qcow2())).toEqual([]);
    expect(validate(schema, target, { ...qcow2(), file: 'file-node', backing: 'base-node' })).toEqual([]);
  });

  it('reports a misspelled member', () => {
    const v = qcow2();
    v.file = { driver: 'file', filname: '/x.qcow2' };
    expect(validate(schema, target, v)).toEqual([
      { path: '$.file.filename', message: "missing required member 'filename'" },
      expect.objectContaining({
        path: '$.file.filname',
        message: "unknown member 'filname' (did you mean 'filename'?)",
      }),
    ]);
  });

  it('reports a wrong enum value', () => {
    expect(validate(schema, target, { ...qcow2(), discard: 'unmapp' })).toEqual([
      {
        path: '$.discard',
        message: "'unmapp' is not one of the allowed values (did you mean 'unmap'?)",
        expected: 'string',
        allowed: ['ignore', 'unmap'],
      },
    ]);
  });

  it('reports a missing driver, and nothing about members it would have allowed', () => {
    const { driver: _driver, ...v } = qcow2();
    expect(validate(schema, target, v)).toEqual([{ path: '$.driver', message: "missing required member 'driver'" }]);
  });

  it('reports a wrong driver with the allowed ones', () => {
    const [p] = validate(schema, target, { ...qcow2(), driver: 'qcow3' });
    expect(p.path).toBe('$.driver');
    expect(p.allowed).toContain('qcow2');
  });

  it('checks ranges and types deep down', () => {
    const v = qcow2();
    (v.cache as Record<string, unknown>).direct = 'yes';
    v['cache-size'] = 2n ** 63n;
    v.backing = { driver: 'null-co', 'latency-ns': -1, size: 2n ** 40n };
    expect(validate(schema, target, v).map((p) => [p.path, p.message])).toEqual([
      ['$.cache.direct', 'expected boolean, got string'],
      ['$.backing.latency-ns', '-1 is out of range'], // base members (backing) come first
      ['$.cache-size', '9223372036854775808 is out of range'],
    ]);
  });

  it('is fast: the index is built once per descriptor', () => {
    const v = qcow2();
    const start = performance.now();
    for (let i = 0; i < 5000; i++) validate(schema, target, v);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
