/**
 * What a live schema (the peer's, so possibly broken or hostile) cannot do
 * to supports(), drift(), deprecatedInput() and validate(): hang, recurse
 * without end, or pin memory; and the fixes of the second review (grammar,
 * release candidates, the shared schema fetch, the facade after version
 * matching), on synthetic schemas and a real QEMU 7.2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp } from '../generated/latest.js';
import { schema as schema72 } from '../generated/qemu-7.2/index.js';
import { QmpAbortError, QmpValidationError } from '../runtime/errors.js';
import type { SchemaDescriptor, SchemaInfo } from '../runtime/schema/descriptor.js';
import { deprecatedInput } from '../runtime/schema/deprecation.js';
import { drift, MAX_DRIFT_ITEMS } from '../runtime/schema/drift.js';
import { supports } from '../runtime/schema/query.js';
import { validate } from '../runtime/schema/validate.js';
import { nearestRelease } from '../runtime/qmp/releases.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

const cmd = (name: string, arg: string, ret = 'e'): SchemaInfo => ({
  name,
  'meta-type': 'command',
  'arg-type': arg,
  'ret-type': ret,
});
const EMPTY: SchemaInfo = { name: 'e', 'meta-type': 'object', members: [] };
const STR: SchemaInfo = { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' };

/** A union whose branch is the union itself, with a deprecated member. */
const SELF_UNION: SchemaDescriptor = [
  cmd('c', 'U'),
  EMPTY,
  STR,
  { name: 'K', 'meta-type': 'enum', members: [{ name: 'a' }], values: ['a'] },
  {
    name: 'U',
    'meta-type': 'object',
    members: [
      { name: 'k', type: 'K' },
      { name: 'old', type: 'str', default: null, features: ['deprecated'] },
    ],
    tag: 'k',
    variants: [{ case: 'a', type: 'U' }],
  },
];

/** Alternates nested `depth` deep, each of an object and the next alternate. */
function nestedAlternates(depth: number): SchemaDescriptor {
  const out: SchemaInfo[] = [cmd('c', 'A0'), EMPTY, STR];
  for (let i = 0; i < depth; i++) {
    out.push({ name: `A${i}`, 'meta-type': 'alternate', members: [{ type: `O${i}` }, { type: `A${i + 1}` }] });
    out.push({ name: `O${i}`, 'meta-type': 'object', members: [{ name: 'x', type: 'str' }] });
  }
  out.push({ name: `A${depth}`, 'meta-type': 'alternate', members: [{ type: 'str' }] });
  return out;
}

describe('a hostile or broken schema', () => {
  it('supports() answers nested alternates and self-referencing types at once', () => {
    const t0 = Date.now();
    expect(supports(nestedAlternates(40), 'c/arg-type/nope')).toBe(false);
    expect(supports(nestedAlternates(40), 'c/arg-type/x')).toBe(true);
    const selfArray: SchemaDescriptor = [
      cmd('c', 'L'),
      EMPTY,
      { name: 'L', 'meta-type': 'array', 'element-type': 'L' },
    ];
    expect(supports(selfArray, 'c/arg-type/x')).toBe(false);
    const selfAlt: SchemaDescriptor = [
      cmd('c', 'A'),
      EMPTY,
      { name: 'A', 'meta-type': 'alternate', members: [{ type: 'A' }] },
    ];
    expect(supports(selfAlt, 'c/arg-type/x')).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('deprecatedInput() and validate() end on a union that selects itself', () => {
    expect(deprecatedInput(SELF_UNION, 'c', { k: 'a', old: 'x' })).toEqual([
      { path: '$.old', message: "the member 'old' is deprecated" },
    ]);
    const problems = validate(SELF_UNION, { command: 'c', direction: 'arguments' }, { k: 'a' });
    expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/selects itself again/)]);
  });

  it('deprecatedInput() reads enums of old QEMUs (values, no members)', () => {
    const old: SchemaDescriptor = [
      cmd('c', 'O'),
      EMPTY,
      { name: 'O', 'meta-type': 'object', members: [{ name: 'k', type: 'K' }] },
      { name: 'K', 'meta-type': 'enum', values: ['a'] } as unknown as SchemaInfo,
    ];
    expect(deprecatedInput(old, 'c', { k: 'a' })).toEqual([]);
  });

  it('drift() walks a 5,000-deep chain without recursion, and caps what a huge schema makes it list', () => {
    const chain = (n: number): SchemaDescriptor => {
      const out: SchemaInfo[] = [cmd('c', 'T0'), EMPTY, STR];
      for (let i = 0; i < n; i++)
        out.push({
          name: `T${i}`,
          'meta-type': 'object',
          members: [{ name: 'next', type: i + 1 < n ? `T${i + 1}` : 'str' }],
        });
      return out;
    };
    const deep = chain(5000);
    const shallow = deep.map((e) => (e.name === 'T4999' ? { ...e, members: [] } : e)) as SchemaDescriptor;
    const r = drift(deep, shallow);
    expect(r.items).toEqual([expect.objectContaining({ what: 'member', side: 'generated' })]);
    // A live type with very many members, each of its own type, paired with many generated types.
    const members = Array.from({ length: 30_000 }, (_, i) => ({ name: `m${i}`, type: 'X' }));
    const huge: SchemaDescriptor = [cmd('c', 'X'), EMPTY, { name: 'X', 'meta-type': 'object', members }];
    const t0 = Date.now();
    const report = drift(chain(50), huge);
    expect(report.truncated).toBe(true);
    expect(report.items).toHaveLength(MAX_DRIFT_ITEMS);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("drift() compares enum values' features", () => {
    const g: SchemaDescriptor = [
      cmd('c', 'O'),
      EMPTY,
      { name: 'O', 'meta-type': 'object', members: [{ name: 'k', type: 'K' }] },
      { name: 'K', 'meta-type': 'enum', members: [{ name: 'a' }], values: ['a'] },
    ];
    const l: SchemaDescriptor = [
      cmd('c', '1'),
      { name: '0', 'meta-type': 'object', members: [] },
      { name: '1', 'meta-type': 'object', members: [{ name: 'k', type: '2' }] },
      { name: '2', 'meta-type': 'enum', members: [{ name: 'a', features: ['deprecated'] }] },
    ];
    expect(drift(g, l).items).toEqual([
      expect.objectContaining({ path: 'c/arg-type/k/^a/$deprecated', what: 'feature', side: 'live' }),
    ]);
  });
});

describe('grammar and releases', () => {
  it("'^value/$feature' and '!array'", () => {
    expect(supports(schema72, 'transaction/arg-type/actions/type/^drive-backup/$deprecated')).toBe(true);
    expect(supports(schema72, 'transaction/arg-type/actions/type/^blockdev-backup/$deprecated')).toBe(false);
    expect(supports(schema72, 'query-block/ret-type/!array')).toBe(true);
    expect(supports(schema72, 'query-block/ret-type/!object')).toBe(true);
  });

  it('a release candidate (micro 90 and up) is checked by the release it leads to', () => {
    const releases = ['7.2', '10.0', '10.2'];
    expect(nearestRelease([9, 2, 90], releases)).toBe('10.0');
    expect(nearestRelease([10, 1, 90], releases)).toBe('10.2');
    expect(nearestRelease([10, 2, 90], releases)).toBe('10.2');
    expect(nearestRelease([10, 1, 1], releases)).toBe('10.0');
  });
});

describe('on a real QEMU 7.2', () => {
  let qemu: QemuProcess;
  beforeAll(async () => {
    qemu = await startQemu();
  });
  afterAll(async () => {
    await qemu?.kill();
  });

  it("after version matching, cmd keeps the types' methods, and the checks refuse what the QEMU lacks", async () => {
    const qmp = await connectQmp({ path: qemu.qmpPath });
    try {
      expect(qmp.release).toBe('7.2');
      expect(typeof qmp.cmd.queryAccelerators).toBe('function');
      await expect(qmp.cmd.queryAccelerators()).rejects.toBeInstanceOf(QmpValidationError);
      expect(typeof (await qmp.cmd.queryStatus()).running).toBe('boolean');
    } finally {
      await qmp.close();
    }
  });

  it("one schema fetch serves every caller; one caller's abort or timeout is its own", async () => {
    const qmp = await connectQmp({ path: qemu.qmpPath });
    try {
      const ctl = new AbortController();
      const first = qmp.schema({ signal: ctl.signal });
      const second = qmp.schema();
      ctl.abort();
      await expect(first).rejects.toBeInstanceOf(QmpAbortError);
      expect(Array.isArray(await second)).toBe(true);
      expect(await qmp.supports('query-status')).toBe(true);
    } finally {
      await qmp.close();
    }
  });
});
