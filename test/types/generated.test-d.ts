/**
 * Type-level tests of the generated SDK (QEMU 10.2): right code compiles,
 * wrong code must not (each @ts-expect-error fails the test if the line
 * compiles).
 */
import { describe, expectTypeOf, test } from 'vitest';
import type {
  BlockdevOptions,
  BlockdevOptionsQcow2,
  QmpCommands,
  QmpEvents,
  RunState,
  StatusInfo,
} from '../../generated/qemu-10.2/index.js';
import type { QgaCommands } from '../../generated/qga-10.2/index.js';
import type { Int64 } from '../../runtime/wire/json.js';

declare function execute<K extends keyof QmpCommands>(
  command: K,
  ...params: QmpCommands[K]['params']
): Promise<QmpCommands[K]['returns']>;

describe('QMP 10.2 commands', () => {
  test('correct calls compile and returns are typed', async () => {
    const st = await execute('query-status');
    expectTypeOf(st).toEqualTypeOf<StatusInfo>();
    expectTypeOf(st.running).toEqualTypeOf<boolean>();
    await execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'd1',
      file: { driver: 'file', filename: '/tmp/d1.qcow2' },
    });
    await execute('query-named-block-nodes', { flat: true });
    await execute('query-named-block-nodes');
    await execute('device_add', { driver: 'virtio-blk-pci', drive: 'd1', id: 'vd1' });
  });

  test('64-bit integers are number | bigint', async () => {
    const nodes = await execute('query-named-block-nodes');
    expectTypeOf(nodes[0].image['virtual-size']).toEqualTypeOf<Int64>();
    await execute('blockdev-add', { driver: 'null-co', 'node-name': 'n', size: 2n ** 62n });
  });

  test('a misspelled argument fails', async () => {
    // @ts-expect-error 'nodename' is not a member
    await execute('blockdev-del', { nodename: 'd1' });
  });

  test('an invalid enum value fails', async () => {
    await execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'd1',
      // @ts-expect-error 'sometimes' is not a BlockdevDetectZeroesOptions
      'detect-zeroes': 'sometimes',
      file: 'f',
    });
  });

  test('a missing required member fails', async () => {
    // @ts-expect-error 'node-name' is required
    await execute('blockdev-del', {});
    // @ts-expect-error blockdev-add needs its arguments
    await execute('blockdev-add');
  });

  test('a member of the wrong union branch fails', () => {
    const ok: BlockdevOptions = { driver: 'file', filename: '/x' };
    // @ts-expect-error 'filename' belongs to the file branch, not qcow2
    const bad: BlockdevOptions = { driver: 'qcow2', file: 'f', filename: '/x' };
    const q: BlockdevOptionsQcow2 = { file: 'f' };
    void ok;
    void bad;
    void q;
  });

  test('an unknown command fails', async () => {
    // @ts-expect-error no such command
    await execute('query-statuss');
  });

  test('misusing a return type fails', async () => {
    const st = await execute('query-status');
    // @ts-expect-error status is a RunState, not a number
    const n: number = st.status;
    // @ts-expect-error query-status returns an object, not an array
    st.map((x: unknown) => x);
    const s: RunState | (string & {}) = st.status;
    void n;
    void s;
  });

  test('arguments take no extra members except where the schema says so', async () => {
    // @ts-expect-error query-status takes no arguments
    await execute('query-status', { verbose: true });
    // device_add ('gen': false) passes driver properties through
    await execute('device_add', { driver: 'virtio-net-pci', id: 'n1', mac: '52:54:00:12:34:56' });
  });

  test('events are typed by name', () => {
    expectTypeOf<QmpEvents['JOB_STATUS_CHANGE']['status']>().toMatchTypeOf<string>();
    // @ts-expect-error no such event
    type Nope = QmpEvents['NO_SUCH_EVENT'];
  });
});

describe('QGA 10.2 commands', () => {
  test('typed like QMP', () => {
    expectTypeOf<QgaCommands['guest-ping']['params']>().toEqualTypeOf<[]>();
    // @ts-expect-error guest-exec needs a path
    const args: QgaCommands['guest-exec']['args'] = { arg: ['x'] };
    void args;
  });
});
