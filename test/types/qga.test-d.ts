/**
 * Type-level tests of the guest-agent client (QEMU 10.2's qemu-ga and the
 * newest from 'qapi-ts'): right calls compile with typed returns, wrong ones
 * must not (each @ts-expect-error fails the test if the line compiles).
 */
import { describe, expectTypeOf, test } from 'vitest';
import {
  connectQga,
  type Client,
  type GuestExecStatus,
  type GuestNetworkInterface,
} from '../../generated/qga-10.2/index.js';
import { connectQmp } from '../../generated/qemu-10.2/index.js';
import type { ExecResult, Int64 } from '../../runtime/index.js';

declare const qga: Client;

describe('QGA 10.2 client', () => {
  test('commands and the facade are typed', async () => {
    expectTypeOf(await qga.execute('guest-network-get-interfaces')).toEqualTypeOf<GuestNetworkInterface[]>();
    expectTypeOf(await qga.cmd.guestExecStatus({ pid: 1 })).toEqualTypeOf<GuestExecStatus>();
    expectTypeOf(await qga.execute('guest-get-time')).toEqualTypeOf<Int64>();
    // A command that never replies resolves with nothing.
    expectTypeOf(await qga.execute('guest-shutdown', { mode: 'reboot' })).toEqualTypeOf<void>();
    await qga.execute('guest-ping', { timeout: 500 });
    // @ts-expect-error: a misspelt member
    await qga.execute('guest-exec', { pth: '/bin/true' });
    // @ts-expect-error: a QMP command is not an agent command
    await qga.execute('query-status');
    // @ts-expect-error: pid is an integer
    await qga.cmd.guestExecStatus({ pid: '1' });
  });

  test('helpers', async () => {
    expectTypeOf(await qga.exec('/bin/true')).toEqualTypeOf<ExecResult>();
    expectTypeOf(await qga.readFile('/etc/hostname')).toEqualTypeOf<Buffer>();
    await qga.writeFile('/tmp/x', new Uint8Array([1]), { append: true });
    // @ts-expect-error: arguments are strings
    await qga.exec('/bin/echo', [1]);
    // @ts-expect-error: no such mode
    await qga.shutdown('poweroff');
    // Any release's QMP client gives the power helpers QEMU's events.
    const qmp = await connectQmp({ path: '/run/vm.qmp' });
    await qga.shutdown('powerdown', { qmp });
    await qga.suspend('ram', { qmp, timeout: 1000 });
  });

  test('connectQga gives the typed client', () => {
    expectTypeOf(connectQga).returns.resolves.toEqualTypeOf<Client>();
  });
});
