/**
 * buildDescriptor: the shape on small schemas, and on QEMU 7.2's schema
 * against the introspection of the installed QEMU 7.2 (whose names are
 * masked: the two are matched structurally, starting from commands and
 * events and following the types they use).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSchema } from '../codegen/frontend.js';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { ObjectType, EnumType, type Definition } from '../codegen/entities.js';
import type { Schema } from '../codegen/schema.js';
import type {
  SchemaDescriptor,
  SchemaInfo,
  SchemaInfoCommand,
  SchemaInfoObject,
} from '../runtime/schema/descriptor.js';
import { enumValues } from '../runtime/schema/descriptor.js';
import { parseJson, stringifyJson } from '../runtime/wire/json.js';
import { validate } from '../runtime/schema/validate.js';
import { requireSources, schemaFile } from './support/qemu-sources.js';
import { schemaFrom } from './support/schemas.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

const byName = (d: SchemaDescriptor): Map<string, SchemaInfo> => new Map(d.map((i) => [i.name, i]));

describe('buildDescriptor on a small schema', () => {
  const schema = schemaFrom(`
{ 'enum': 'Color', 'data': [ 'red', { 'name': 'green', 'features': [ 'deprecated' ] } ] }
{ 'struct': 'Base', 'data': { 'id': 'str' } }
{ 'struct': 'Paint', 'base': 'Base', 'data': { 'color': 'Color', '*depth': 'uint8', 'sizes': ['size'] },
  'features': [ 'glossy' ] }
{ 'union': 'Shape', 'base': { 'kind': 'Color' }, 'discriminator': 'kind', 'data': { 'red': 'Paint' } }
{ 'alternate': 'PaintOrName', 'data': { 'paint': 'Paint', 'name': 'str' } }
{ 'command': 'paint', 'data': { 'what': 'PaintOrName', '*shape': 'Shape' }, 'returns': [ 'Paint' ],
  'allow-oob': true, 'features': [ 'deprecated' ] }
{ 'command': 'ping' }
{ 'command': 'device-add', 'data': { 'driver': 'str' }, 'gen': false }
{ 'event': 'PAINTED', 'data': { 'count': 'int' } }
{ 'event': 'DRY' }
`);
  const d = buildDescriptor(schema);
  const m = byName(d);

  it('lists commands and events first, in schema order, then types in order of first use', () => {
    expect(d.slice(0, 5).map((i) => i.name)).toEqual(['paint', 'ping', 'device-add', 'PAINTED', 'DRY']);
    expect(d.slice(5).map((i) => i.name)).toEqual([
      'q_obj_paint-arg',
      '[Paint]',
      'Paint',
      'q_empty',
      'q_obj_device-add-arg',
      'q_obj_PAINTED-arg',
      'PaintOrName',
      'Shape',
      'str',
      'Color',
      'uint8',
      '[size]',
      'size',
      'int',
      // the built-ins nobody used
      'number',
      'int8',
      'int16',
      'int32',
      'int64',
      'uint16',
      'uint32',
      'uint64',
      'bool',
      'any',
      'null',
    ]);
    expect(new Set(d.map((i) => i.name)).size).toBe(d.length);
  });

  it('describes commands and events like introspection, with a gen: false extension', () => {
    expect(m.get('paint')).toEqual({
      name: 'paint',
      'meta-type': 'command',
      'arg-type': 'q_obj_paint-arg',
      'ret-type': '[Paint]',
      'allow-oob': true,
      features: ['deprecated'],
    });
    expect(m.get('ping')).toEqual({
      name: 'ping',
      'meta-type': 'command',
      'arg-type': 'q_empty',
      'ret-type': 'q_empty',
    });
    expect((m.get('device-add') as SchemaInfoCommand).gen).toBe(false);
    expect(m.get('DRY')).toEqual({ name: 'DRY', 'meta-type': 'event', 'arg-type': 'q_empty' });
    expect(m.get('PAINTED')).toEqual({ name: 'PAINTED', 'meta-type': 'event', 'arg-type': 'q_obj_PAINTED-arg' });
  });

  it('flattens objects, marks optional members with default null, keeps features', () => {
    expect(m.get('Paint')).toEqual({
      name: 'Paint',
      'meta-type': 'object',
      members: [
        { name: 'id', type: 'str' },
        { name: 'color', type: 'Color' },
        { name: 'depth', type: 'uint8', default: null },
        { name: 'sizes', type: '[size]' },
      ],
      features: ['glossy'],
    });
    expect(m.has('Base')).toBe(false); // folded into Paint, as in QEMU
    expect(m.get('Shape')).toEqual({
      name: 'Shape',
      'meta-type': 'object',
      members: [{ name: 'kind', type: 'Color' }],
      tag: 'kind',
      variants: [
        { case: 'red', type: 'Paint' },
        { case: 'green', type: 'q_empty' },
      ],
    });
    expect(m.get('q_empty')).toEqual({ name: 'q_empty', 'meta-type': 'object', members: [] });
  });

  it('describes enums, arrays, alternates and built-ins exactly', () => {
    expect(m.get('Color')).toEqual({
      name: 'Color',
      'meta-type': 'enum',
      members: [{ name: 'red' }, { name: 'green', features: ['deprecated'] }],
      values: ['red', 'green'],
    });
    expect(m.get('[size]')).toEqual({ name: '[size]', 'meta-type': 'array', 'element-type': 'size' });
    expect(m.get('PaintOrName')).toEqual({
      name: 'PaintOrName',
      'meta-type': 'alternate',
      members: [{ type: 'Paint' }, { type: 'str' }],
    });
    expect(m.get('uint8')).toEqual({ name: 'uint8', 'meta-type': 'builtin', 'json-type': 'int' });
    expect(m.get('any')).toEqual({ name: 'any', 'meta-type': 'builtin', 'json-type': 'value' });
  });

  it('is plain JSON and deterministic', () => {
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    expect(JSON.stringify(buildDescriptor(schema))).toBe(JSON.stringify(d));
  });
});

describe('buildDescriptor on the real schemas', () => {
  it.each(['7.2', '10.0', '10.2'])('QEMU %s: every reference resolves, names are unique', (version) => {
    requireSources(version);
    for (const kind of ['qmp', 'qga'] as const) {
      const d = buildDescriptor(loadSchema(schemaFile(version, kind), { dialect: 'auto' }));
      const m = byName(d);
      expect(m.size).toBe(d.length);
      const refs = (i: SchemaInfo): string[] => {
        switch (i['meta-type']) {
          case 'command':
            return [i['arg-type'], i['ret-type']];
          case 'event':
            return [i['arg-type']];
          case 'array':
            return [i['element-type']];
          case 'object':
            return [...i.members.map((x) => x.type), ...(i.variants ?? []).map((v) => v.type)];
          case 'alternate':
            return i.members.map((x) => x.type);
          default:
            return [];
        }
      };
      for (const i of d) for (const r of refs(i)) expect(m.has(r), `${i.name} -> ${r}`).toBe(true);
      if (kind === 'qmp') {
        expect((m.get('device_add') as SchemaInfoCommand).gen).toBe(false);
        expect((m.get('blockdev-add') as SchemaInfoCommand)['arg-type']).toBe('BlockdevOptions');
        expect((m.get('block_resize') as SchemaInfoCommand)['arg-type']).toBe('q_obj_block_resize-arg');
      }
    }
  });
});

// ------------------------------------------------------------------ live QEMU 7.2

/** Negotiates capabilities, then runs commands one at a time over a QMP socket; returns each reply's 'return'. */
async function qmp(socketPath: string, commands: string[]): Promise<unknown[]> {
  const sock = net.connect(socketPath);
  const pending = ['qmp_capabilities', ...commands];
  const results: unknown[] = [];
  let buffer = '';
  return new Promise((resolve, reject) => {
    const next = (): void => {
      const command = pending.shift();
      if (command === undefined) {
        sock.end();
        resolve(results.slice(1));
      } else {
        sock.write(stringifyJson({ execute: command }) + '\n');
      }
    };
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const msg = parseJson(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        if ('QMP' in msg) next();
        else if ('error' in msg) reject(new Error(stringifyJson(msg)));
        else if ('return' in msg) {
          results.push(msg.return);
          next();
        }
      }
    });
  });
}

describe('QEMU 7.2: our descriptor against the live query-qmp-schema', () => {
  let qemu: QemuProcess | undefined;
  let live: SchemaDescriptor;
  let ours: SchemaDescriptor;
  let schema: Schema;

  beforeAll(async () => {
    requireSources('7.2');
    schema = loadSchema(schemaFile('7.2', 'qmp'), { dialect: 'auto' });
    ours = buildDescriptor(schema);
    // Fails loudly when QEMU is missing: it is part of the test setup (scripts/setup.sh).
    qemu = await startQemu();
    const [version, result] = await qmp(qemu.qmpPath, ['query-version', 'query-qmp-schema']);
    const v = (version as { qemu: { major: number; minor: number } }).qemu;
    expect(`${v.major}.${v.minor}`).toBe('7.2');
    live = result as SchemaDescriptor;
  });

  afterAll(async () => {
    await qemu?.kill();
  });

  const unconditional = (name: string): boolean => schema.lookupEntity(name)?.ifcond === undefined;
  const names = (d: SchemaDescriptor, meta: string): string[] =>
    d.filter((i) => i['meta-type'] === meta).map((i) => i.name);

  it('has every live command and event, in the same order, and every unconditional one is live', () => {
    for (const meta of ['command', 'event']) {
      const liveNames = names(live, meta);
      const ourNames = names(ours, meta);
      expect(liveNames.length).toBeGreaterThan(meta === 'command' ? 150 : 30);
      const liveSet = new Set(liveNames);
      expect(ourNames.filter((n) => liveSet.has(n))).toEqual(liveNames);
      expect(ourNames.filter((n) => unconditional(n) && !liveSet.has(n))).toEqual([]);
    }
  });

  it('agrees on argument members (names, optionality), flags and features of every live command', () => {
    const liveMap = byName(live);
    const ourMap = byName(ours);
    let compared = 0;
    for (const l of live) {
      if (l['meta-type'] !== 'command' && l['meta-type'] !== 'event') continue;
      const o = ourMap.get(l.name)!;
      expect(o['meta-type']).toBe(l['meta-type']);
      expect(o.features ?? []).toEqual(l.features ?? []);
      if (l['meta-type'] === 'command') {
        expect((o as SchemaInfoCommand)['allow-oob'], l.name).toBe(l['allow-oob']);
      }
      const la = liveMap.get(l['arg-type']) as SchemaInfoObject;
      const oa = ourMap.get((o as SchemaInfoCommand)['arg-type']) as SchemaInfoObject;
      const shape = (x: SchemaInfoObject): string[] => x.members.map((m) => m.name + ('default' in m ? '?' : ''));
      const ourType = schema.lookupType(oa.name) as ObjectType;
      const conditional = new Set(ourType.members.filter((m) => m.ifcond !== undefined).map((m) => m.name));
      const liveShape = new Set(shape(la));
      expect(shape(oa).filter((s) => liveShape.has(s) || !conditional.has(s.replace('?', '')))).toEqual(shape(la));
      expect(la.tag).toBe(oa.tag);
      compared++;
    }
    expect(compared).toBeGreaterThan(200);
  });

  it('serves validate() as well as ours does', () => {
    const args = {
      driver: 'qcow2',
      'node-name': 'disk0',
      discard: 'unmap',
      cache: { direct: true },
      'cache-size': 2n ** 62n + 512n,
      file: { driver: 'file', filename: '/tmp/disk0.qcow2' },
    };
    const target = { command: 'blockdev-add', direction: 'arguments' } as const;
    for (const d of [live, ours]) {
      expect(validate(d, target, args)).toEqual([]);
      expect(validate(d, target, { ...args, file: { driver: 'file', filname: 'x' } }).map((p) => p.path)).toEqual([
        '$.file.filename',
        '$.file.filname',
      ]);
      expect(validate(d, target, { ...args, discard: 'unmapp' })[0].allowed).toEqual(['ignore', 'unmap']);
      expect(validate(d, { command: 'device_add', direction: 'arguments' }, { driver: 'e1000', mac: 'x' })).toEqual([]);
      expect(
        validate(
          d,
          { command: 'query-status', direction: 'return' },
          { running: true, singlestep: false, status: 'new-state', extra: 1 },
        ),
      ).toEqual([]);
      expect(validate(d, { event: 'STOP' }, undefined)).toEqual([]);
    }
  });

  it('matches every type the live schema reaches, structurally', () => {
    const liveMap = byName(live);
    const ourMap = byName(ours);
    /** Our name to the live (masked) one; 'int8' and 'int' both map to 'int'. */
    const mapping = new Map<string, string>();
    const errors: string[] = [];
    const lookup = (name: string): Definition | undefined => schema.lookupEntity(name);

    const unify = (ourName: string, liveName: string, where: string): void => {
      const seen = mapping.get(ourName);
      if (seen !== undefined) {
        if (seen !== liveName) errors.push(`${where}: ${ourName} is both ${seen} and ${liveName}`);
        return;
      }
      mapping.set(ourName, liveName);
      const o = ourMap.get(ourName);
      const l = liveMap.get(liveName);
      if (!o || !l) return void errors.push(`${where}: ${ourName}/${liveName} missing`);
      if (o['meta-type'] !== l['meta-type']) return void errors.push(`${where}: ${ourName} meta-type differs`);
      const here = `${where} > ${ourName}`;
      switch (o['meta-type']) {
        case 'builtin': {
          const expected = o['json-type'] === 'int' ? 'int' : o.name;
          if (l.name !== expected) errors.push(`${here}: built-in is ${l.name}`);
          break;
        }
        case 'enum': {
          const lv = enumValues(l as typeof o);
          const ours = enumValues(o);
          const type = lookup(o.name) as EnumType;
          const always = type.members.filter((m) => m.ifcond === undefined).map((m) => m.name);
          if (lv.some((v) => !ours.includes(v)))
            errors.push(`${here}: live values ${lv.join()} not ours ${ours.join()}`);
          if (always.some((v) => !lv.includes(v)))
            errors.push(`${here}: values ${always.join()} not all live ${lv.join()}`);
          break;
        }
        case 'array':
          unify(o['element-type'], (l as typeof o)['element-type'], here);
          break;
        case 'object': {
          const lo = l as typeof o;
          const type = lookup(o.name) as ObjectType;
          for (const lm of lo.members) {
            const om = o.members.find((m) => m.name === lm.name);
            if (!om) errors.push(`${here}: live member ${lm.name} is not ours`);
            else {
              if ('default' in om !== 'default' in lm) errors.push(`${here}.${lm.name}: optionality differs`);
              if (stringifyJson(om.features ?? []) !== stringifyJson(lm.features ?? [])) {
                errors.push(`${here}.${lm.name}: features differ`);
              }
              unify(om.type, lm.type, `${here}.${lm.name}`);
            }
          }
          for (const m of type.members) {
            if (m.ifcond === undefined && !lo.members.some((lm) => lm.name === m.name)) {
              errors.push(`${here}: member ${m.name} is not live`);
            }
          }
          if (o.tag !== lo.tag) errors.push(`${here}: tag differs`);
          for (const lv of lo.variants ?? []) {
            const ov = o.variants?.find((v) => v.case === lv.case);
            if (!ov) errors.push(`${here}: live variant ${lv.case} is not ours`);
            else unify(ov.type, lv.type, `${here}[${lv.case}]`);
          }
          if (stringifyJson(o.features ?? []) !== stringifyJson(lo.features ?? [])) errors.push(`${here}: features`);
          break;
        }
        case 'alternate': {
          const la = l as typeof o;
          if (o.members.length !== la.members.length) errors.push(`${here}: alternatives differ`);
          else o.members.forEach((m, i) => unify(m.type, la.members[i].type, `${here}|${i}`));
          break;
        }
        default:
          // Commands and events are never a member's type: unify starts from their arg-type and ret-type.
          break;
      }
    };

    for (const l of live) {
      if (l['meta-type'] === 'command') {
        const o = ourMap.get(l.name) as SchemaInfoCommand;
        unify(o['arg-type'], l['arg-type'], l.name);
        unify(o['ret-type'], l['ret-type'], l.name);
      } else if (l['meta-type'] === 'event') {
        unify((ourMap.get(l.name) as SchemaInfoCommand)['arg-type'], l['arg-type'], l.name);
      }
    }
    expect(errors).toEqual([]);
    // Every live type was reached, so all of them were compared, except those QEMU lists because
    // something conditional uses them (its generator queues types before looking at conditions):
    // those must have a twin among ours that nothing unconditional reached.
    const reached = new Set(mapping.values());
    const unreached = live.filter((l) => !['command', 'event'].includes(l['meta-type']) && !reached.has(l.name));
    expect(unreached.length).toBeLessThan(5);
    const shape = (i: SchemaInfo): string =>
      i['meta-type'] + ':' + stringifyJson('members' in i ? i.members.map((m) => ('name' in m ? m.name : '')) : []);
    const spare = new Set(ours.filter((o) => !mapping.has(o.name)).map(shape));
    for (const l of unreached) expect(spare.has(shape(l)), shape(l)).toBe(true);
    expect(mapping.size).toBeGreaterThan(700);
  });
});
