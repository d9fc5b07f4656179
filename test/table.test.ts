/** buildTable: method names, command and event flags, where 64-bit integers live. */
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../codegen/frontend.js';
import { QapiError } from '../codegen/errors.js';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { buildTable, methodName } from '../codegen/emit/table.js';
import { requireSources, schemaFile } from './support/qemu-sources.js';
import { schemaFrom } from './support/schemas.js';

describe('methodName', () => {
  it.each([
    ['blockdev-add', 'blockdevAdd'],
    ['qmp_capabilities', 'qmpCapabilities'],
    ['x-debug-query-block-graph', 'xDebugQueryBlockGraph'],
    ['__com.redhat_drive-add', 'comRedhatDriveAdd'],
    ['query-cpus-fast', 'queryCpusFast'],
    ['guest-sync-delimited', 'guestSyncDelimited'],
    ['block_resize', 'blockResize'],
    ['x-query-virtio-queue-status', 'xQueryVirtioQueueStatus'],
    ['quit', 'quit'],
  ])('%s → %s', (wire, method) => {
    expect(methodName(wire)).toBe(method);
  });
});

describe('buildTable on a small schema', () => {
  const schema = schemaFrom(`
{ 'pragma': { 'command-name-exceptions': [ 'do_it' ] } }
{ 'alternate': 'IntOrStr', 'data': { 'i': 'size', 's': 'Kind' } }
{ 'alternate': 'SmallOrStr', 'data': { 'i': 'int32', 's': 'Kind' } }
{ 'struct': 'Base', 'data': { 'offset': 'int64' } }
{ 'struct': 'Stats', 'base': 'Base',
  'data': { 'name': 'str', 'count': 'uint64', '*sizes': [ 'size' ], 'small': 'int32', 'either': 'IntOrStr',
            'other': 'SmallOrStr', 'nested': 'Inner', 'n': 'number', 'any': 'any' } }
{ 'struct': 'Inner', 'data': { 'big': 'int' } }
{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }
{ 'union': 'Uu', 'base': { 'kind': 'Kind', 'total': 'uint64' }, 'discriminator': 'kind',
  'data': { 'a': 'Inner' } }
{ 'command': 'query-stats', 'data': { 'id': 'str', '*limit': 'size' }, 'returns': 'Stats',
  'allow-oob': true, 'features': [ 'unstable' ] }
{ 'command': 'do_it', 'data': 'Uu', 'boxed': true, 'features': [ 'deprecated', 'unstable' ] }
{ 'command': 'guest-shutdown', 'success-response': false }
{ 'event': 'DONE', 'data': { 'bytes': 'uint64' }, 'features': [ 'deprecated' ] }
{ 'event': 'STARTED' }
`);
  const table = buildTable(schema, 'qmp');

  it('names methods and flags commands', () => {
    expect(table.protocol).toBe('qmp');
    expect(table.commands).toEqual({
      'query-stats': { method: 'queryStats', oob: true, unstable: true },
      do_it: { method: 'doIt', deprecated: true, unstable: true, boxed: true },
      'guest-shutdown': { method: 'guestShutdown', noReply: true },
    });
    expect(Object.keys(table.commands)).toEqual(['query-stats', 'do_it', 'guest-shutdown']);
  });

  it('lists every event with its flags', () => {
    expect(table.events).toEqual({ DONE: { deprecated: true }, STARTED: {} });
  });

  it('names the members holding 64-bit integers per object type, in descriptor order', () => {
    expect(table.int64).toEqual({
      'q_obj_query-stats-arg': ['limit'],
      Stats: ['offset', 'count', 'sizes', 'either'],
      Uu: ['total'],
      'q_obj_DONE-arg': ['bytes'],
      Inner: ['big'],
    });
    const order = buildDescriptor(schema).map((i) => i.name);
    const keys = Object.keys(table.int64);
    expect([...keys].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(keys);
  });

  it('is plain JSON and deterministic', () => {
    expect(JSON.parse(JSON.stringify(table))).toEqual(table);
    expect(JSON.stringify(buildTable(schema, 'qmp'))).toBe(JSON.stringify(table));
    expect(buildTable(schema, 'qga').protocol).toBe('qga');
  });

  it('reports two commands with the same method name', () => {
    const clash = schemaFrom(`
{ 'pragma': { 'command-name-exceptions': [ 'query_thing' ] } }
{ 'command': 'query-thing' }
{ 'command': 'query_thing' }
`);
    expect(() => buildTable(clash, 'qmp')).toThrow(QapiError);
    expect(() => buildTable(clash, 'qmp')).toThrow(
      "commands 'query-thing' and 'query_thing' would both be the client method 'queryThing'",
    );
  });
});

describe('buildTable on the real schemas', () => {
  it.each(['7.2', '10.0', '10.2'])('QEMU %s', (version) => {
    requireSources(version);
    const qmp = buildTable(loadSchema(schemaFile(version, 'qmp'), { dialect: 'auto' }), 'qmp');
    expect(qmp.commands['blockdev-add']).toEqual({ method: 'blockdevAdd', boxed: true });
    expect(qmp.commands.qmp_capabilities.method).toBe('qmpCapabilities');
    expect(qmp.commands['x-debug-query-block-graph']).toMatchObject({
      method: 'xDebugQueryBlockGraph',
      unstable: true,
    });
    expect(qmp.commands['migrate-set-capabilities']).toBeDefined();
    expect(qmp.commands['query-status']).toEqual({ method: 'queryStatus' });
    expect(qmp.commands['x-oob-test'] ?? qmp.commands['migrate-recover']).toBeDefined();
    expect(Object.values(qmp.commands).filter((c) => c.oob).length).toBeGreaterThan(0);
    expect(qmp.events.SHUTDOWN).toEqual({});
    expect(qmp.int64['q_obj_block_resize-arg']).toEqual(['size']);
    expect(qmp.int64.BlockDeviceStats).toContain('rd_bytes');
    expect(new Set(Object.values(qmp.commands).map((c) => c.method)).size).toBe(Object.keys(qmp.commands).length);

    const qga = buildTable(loadSchema(schemaFile(version, 'qga'), { dialect: 'auto' }), 'qga');
    expect(qga.commands['guest-shutdown']).toEqual({ method: 'guestShutdown', noReply: true });
    expect(qga.commands['guest-sync-delimited'].method).toBe('guestSyncDelimited');
    expect(qga.events).toEqual({});
    expect(qga.int64['q_obj_guest-sync-arg']).toEqual(['id']);
  });
});
