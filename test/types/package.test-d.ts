/** The documented imports type-check through package.json's exports (as users write them). */
import { expectTypeOf, test } from 'vitest';
import type { BlockdevOptions, QmpCommands, StatusInfo } from 'qapi-ts/qemu-10.2';
import {
  connectQmp,
  QmpError,
  type Client,
  type ConnectionErrorCode,
  type ProtocolErrorCode,
  type QmpTimeoutError,
  type QmpUsageError,
  type StallInfo,
  type UsageErrorCode,
} from 'qapi-ts';
import {
  connectQmp as connect72,
  QmpError as QmpError72,
  type Client as Client72,
  type ClientOptions as ClientOptions72,
} from 'qapi-ts/qemu-7.2';
import { connect as connectRuntime, QmpError as QmpErrorRuntime } from 'qapi-ts/runtime';
import { connectQga } from 'qapi-ts';
import { connectQga as connectQga72, type Client as Agent72, type GuestExecStatus } from 'qapi-ts/qga-7.2';

test('entry points', () => {
  expectTypeOf<QmpCommands['query-status']['returns']>().toEqualTypeOf<StatusInfo>();
  expectTypeOf<BlockdevOptions>().toHaveProperty('driver');
  expectTypeOf(connectQmp).returns.resolves.toEqualTypeOf<Client>();
  expectTypeOf(connect72).returns.resolves.toEqualTypeOf<Client72>();
  expectTypeOf<QmpError['errorClass']>().toEqualTypeOf<string>();
  expectTypeOf(connectQga72).returns.resolves.toEqualTypeOf<Agent72>();
  expectTypeOf(connectQga).returns.resolves.toHaveProperty('exec');
  expectTypeOf<Awaited<ReturnType<Agent72['cmd']['guestExecStatus']>>>().toEqualTypeOf<GuestExecStatus>();
});

test('the client is typed per release', async () => {
  const qmp = await connectQmp({ path: '/run/vm.qmp' });
  expectTypeOf(await qmp.execute('query-status')).toEqualTypeOf<StatusInfo>();
  expectTypeOf(qmp.cmd.queryStatus).returns.resolves.toEqualTypeOf<StatusInfo>();
  // @ts-expect-error unknown command
  await qmp.execute('query-statuss');
  // @ts-expect-error wrong argument
  await qmp.cmd.blockdevDel({ node: 'x' });
  await qmp.execute('query-status', { timeout: 1000 });
  await qmp.execute('blockdev-del', { 'node-name': 'x' }, { timeout: 1000 });
  const ev = await qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.id === 'j1');
  expectTypeOf(ev.data.id).toEqualTypeOf<string>();
  await qmp.executeRaw('__com.example_cmd', { any: 'thing' });
  const q72 = await connect72({ host: '127.0.0.1', port: 4444 });
  // @ts-expect-error 7.2 has no such command (added in 10.x)
  await q72.execute('query-accelerators');
});

test('errors, waits and watching the connection are typed', async () => {
  const qmp = await connectQmp({ path: '/run/vm.qmp' });
  qmp.onError((problem) => {
    expectTypeOf(problem.code).toEqualTypeOf<ProtocolErrorCode | 'callback-threw'>();
  });
  qmp.onClose((reason) => expectTypeOf(reason.code).toEqualTypeOf<ConnectionErrorCode>());
  qmp.onStall((info) => expectTypeOf(info).toEqualTypeOf<StallInfo>());
  const wait = qmp.waitForEvent('STOP', undefined, { timeout: 1000 });
  expectTypeOf(wait.cancel).toBeFunction();
  expectTypeOf(await wait).toHaveProperty('timestamp');
  expectTypeOf(qmp.stats.inFlight).toEqualTypeOf<number>();
  expectTypeOf<QmpUsageError['code']>().toEqualTypeOf<UsageErrorCode>();
  expectTypeOf<QmpTimeoutError['sent']>().toEqualTypeOf<boolean>();
  // @ts-expect-error a command without arguments takes call options only
  await qmp.execute('query-status', { verbose: true });
  // @ts-expect-error timeout is a number of milliseconds
  await qmp.execute('query-status', { timeout: '1s' });
});

test('a pinned release re-exports the client API; the runtime entry stands alone', () => {
  expectTypeOf<QmpError72>().toEqualTypeOf<QmpErrorRuntime>();
  expectTypeOf<QmpError72>().toEqualTypeOf<QmpError>();
  expectTypeOf<ClientOptions72['timeout']>().toEqualTypeOf<number | undefined>();
  expectTypeOf(connectRuntime).toBeFunction();
});

test('block jobs and backups take a client of any release, from every entry', async () => {
  const { fullBackup, runJob, qemuIo, JobError } = await import('qapi-ts');
  const { incrementalBackup: incremental72, runJob: runJob72 } = await import('qapi-ts/qemu-7.2');
  const q = null as unknown as Client;
  const q72 = null as unknown as Client72;
  expectTypeOf(fullBackup).toBeCallableWith(q, { node: 'd', target: '/b/full.qcow2', bitmap: 'b0' });
  expectTypeOf(fullBackup).toBeCallableWith(q72, { node: 'd', target: '/b/full.qcow2' });
  expectTypeOf(incremental72).toBeCallableWith(q72, {
    node: 'd',
    bitmap: 'b0',
    target: '/b/i.qcow2',
    backingFile: '/b/full.qcow2',
  });
  expectTypeOf(qemuIo).toBeCallableWith(q, 'd', 'write 0 64k');
  expectTypeOf(runJob72).toBeCallableWith(q72, () => q72.execute('job-cancel', { id: 'j' }), { id: 'j' });
  expectTypeOf(runJob).returns.resolves.toHaveProperty('statuses');
  expectTypeOf<InstanceType<typeof JobError>['code']>().toEqualTypeOf<'job-failed' | 'job-cancelled'>();
  // @ts-expect-error the incremental needs the previous backup
  incremental72(q72, { node: 'd', bitmap: 'b0', target: '/b/i.qcow2' });
});
