/** buildTable (method names, commands that never reply or need arguments), and what the runtime reads from the descriptor instead: oob, 64-bit integers. */
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../codegen/frontend.js';
import { QapiError } from '../codegen/errors.js';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { buildTable } from '../codegen/emit/table.js';
import { methodName } from '../codegen/emit/naming.js';
import { requireSources, schemaFile } from './support/qemu-sources.js';
import { schemaFrom } from './support/schemas.js';
import { allowsOob, widenInt64 } from '../runtime/schema/validate.js';

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
  const table = buildTable(schema);

  it('names methods and marks the commands that never reply or need arguments, nothing else', () => {
    expect(table).toEqual({
      commands: {
        'query-stats': { method: 'queryStats', argsRequired: true },
        do_it: { method: 'doIt', argsRequired: true },
        'guest-shutdown': { method: 'guestShutdown', noReply: true },
      },
    });
    expect(Object.keys(table.commands)).toEqual(['query-stats', 'do_it', 'guest-shutdown']);
  });

  it('leaves oob to the descriptor', () => {
    const descriptor = buildDescriptor(schema);
    expect(allowsOob(descriptor, 'query-stats')).toBe(true);
    expect(allowsOob(descriptor, 'do_it')).toBe(false);
  });

  it('finds the 64-bit integers by the descriptor: bases, arrays, alternates, nested objects, union branches, event data', () => {
    const descriptor = buildDescriptor(schema);
    const stats = {
      offset: 1,
      name: 'x',
      count: 2,
      sizes: [3, 4],
      small: 5,
      either: 6,
      other: 7,
      nested: { big: 8 },
      n: 9,
      any: { deep: 10 },
    };
    expect(widenInt64(descriptor, { command: 'query-stats' }, stats)).toEqual({
      offset: 1n,
      name: 'x',
      count: 2n,
      sizes: [3n, 4n],
      small: 5,
      either: 6n,
      other: 7,
      nested: { big: 8n },
      n: 9,
      any: { deep: 10 },
    });
    expect(
      (widenInt64(descriptor, { command: 'query-stats' }, { ...stats, either: 'a' }) as { either: unknown }).either,
    ).toBe('a');
    expect(widenInt64(descriptor, { event: 'DONE' }, { bytes: 11 })).toEqual({ bytes: 11n });
    expect(widenInt64(descriptor, { event: 'STARTED' }, undefined)).toBeUndefined();
    expect(widenInt64(descriptor, { command: 'no-such' }, { a: 1 })).toEqual({ a: 1 });
  });

  it('is plain JSON and deterministic', () => {
    expect(JSON.parse(JSON.stringify(table))).toEqual(table);
    expect(JSON.stringify(buildTable(schema))).toBe(JSON.stringify(table));
  });

  it('reports two commands with the same method name', () => {
    const clash = schemaFrom(`
{ 'pragma': { 'command-name-exceptions': [ 'query_thing' ] } }
{ 'command': 'query-thing' }
{ 'command': 'query_thing' }
`);
    expect(() => buildTable(clash)).toThrow(QapiError);
    expect(() => buildTable(clash)).toThrow(
      "commands 'query-thing' and 'query_thing' would both be the client method 'queryThing'",
    );
  });
});

describe('buildTable on the real schemas', () => {
  it.each(['7.2', '10.0', '10.2'])('QEMU %s', (version) => {
    requireSources(version);
    const qmpSchema = loadSchema(schemaFile(version, 'qmp'), { dialect: 'auto' });
    const qmp = buildTable(qmpSchema);
    // A union's tag is a required argument.
    expect(qmp.commands['blockdev-add']).toEqual({ method: 'blockdevAdd', argsRequired: true });
    expect(qmp.commands['query-blockstats']).toEqual({ method: 'queryBlockstats' });
    expect(qmp.commands.qmp_capabilities.method).toBe('qmpCapabilities');
    expect(qmp.commands['x-debug-query-block-graph']).toEqual({ method: 'xDebugQueryBlockGraph' });
    expect(qmp.commands['query-status']).toEqual({ method: 'queryStatus' });
    expect(new Set(Object.values(qmp.commands).map((c) => c.method)).size).toBe(Object.keys(qmp.commands).length);
    const descriptor = buildDescriptor(qmpSchema);
    expect(allowsOob(descriptor, 'migrate-recover')).toBe(true);
    expect(widenInt64(descriptor, { command: 'query-memory-size-summary' }, { 'base-memory': 1 })).toEqual({
      'base-memory': 1n,
    });

    const qga = buildTable(loadSchema(schemaFile(version, 'qga'), { dialect: 'auto' }));
    expect(qga.commands['guest-shutdown']).toEqual({ method: 'guestShutdown', noReply: true });
    expect(qga.commands['guest-sync-delimited'].method).toBe('guestSyncDelimited');
  });
});
