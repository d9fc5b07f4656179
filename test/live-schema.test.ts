/**
 * The running QEMU's own schema, on a real QEMU 7.2: fetched once, asked
 * with libvirt's query paths or the typed form, and used to validate before
 * sending ('live', 'both'): what the release's types allow but this build
 * lacks is refused locally, with the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp as connect72, schema as schema72 } from '../generated/qemu-7.2/index.js';
import { connectQmp as connect102 } from '../generated/qemu-10.2/index.js';
import { connect, QmpValidationError, supports, type TapEntry } from '../runtime/index.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

let qemu: QemuProcess;
beforeAll(async () => {
  qemu = await startQemu();
});
afterAll(async () => {
  await qemu?.kill();
});

describe('qmp.schema() and supports()', () => {
  it('fetches query-qmp-schema once and keeps it', async () => {
    const taps: TapEntry[] = [];
    const qmp = await connect72({ path: qemu.qmpPath }, { tap: (e) => void taps.push(e) });
    const [a, b] = await Promise.all([qmp.schema(), qmp.schema()]);
    expect(a).toBe(b);
    expect(await qmp.schema()).toBe(a);
    expect(taps.filter((t) => t.direction === 'out' && t.message.execute === 'query-qmp-schema')).toHaveLength(1);
    // Introspection masks type names: numbers, not BlockdevOptions.
    expect(a.find((e) => e.name === 'query-status')).toMatchObject({ 'meta-type': 'command' });
    expect(a.some((e) => e.name === 'BlockdevOptions')).toBe(false);
    await qmp.close();
  });

  it('answers libvirt-style paths and the typed form, telling this build from the release', async () => {
    const qmp = await connect72({ path: qemu.qmpPath });
    const live = await qmp.schema();
    const cases: [string, boolean, boolean][] = [
      // query, this QEMU (Debian's x86 7.2), the 7.2 release
      ['query-status/ret-type/running', true, true],
      ['query-status/ret-type/status/^running', true, true],
      ['query-status/ret-type/running/!boolean', true, true],
      ['blockdev-add/arg-type/+file/filename/!string', true, true],
      ['blockdev-add/arg-type/+file/aio/^io_uring', true, true],
      // libblkio's io_uring driver is not built in; dump-skeys is s390x only.
      ['blockdev-add/arg-type/driver/^io_uring', false, true],
      ['dump-skeys', false, true],
      ['drive-backup/$deprecated', true, true],
      ['x-blockdev-amend/$unstable', true, true],
      ['query-status/ret-type/no-such-member', false, false],
      ['query-accelerators', false, false],
    ];
    for (const [query, here, release] of cases) {
      expect([query, await qmp.supports(query)]).toEqual([query, here]);
      expect([query, supports(live, query)]).toEqual([query, here]);
      expect([query, supports(schema72, query)]).toEqual([query, release]);
    }
    expect(await qmp.supports({ command: 'blockdev-add', path: ['+file', 'aio'], value: 'io_uring' })).toBe(true);
    expect(await qmp.supports({ command: 'blockdev-add', path: ['driver'], value: 'io_uring' })).toBe(false);
    expect(await qmp.supports({ command: 'drive-backup', feature: 'deprecated' })).toBe(true);
    expect(await qmp.supports({ event: 'BLOCK_JOB_COMPLETED', path: ['offset'] })).toBe(true);
    await qmp.close();
  });
});

describe("validating against the running QEMU's schema", () => {
  it("'both': the newest release's client refuses a command this QEMU 7.2 does not have, before sending it", async () => {
    const taps: TapEntry[] = [];
    const qmp = await connect102({ path: qemu.qmpPath }, { validate: 'both', tap: (e) => void taps.push(e) });
    const e = await qmp.execute('query-accelerators').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpValidationError);
    expect((e as Error).message).toMatch(/unknown command 'query-accelerators'.*\(in the running QEMU's schema\)/);
    expect(taps.some((t) => t.message.execute === 'query-accelerators')).toBe(false);
    // What both have goes through, and the release's exact checks still come first.
    expect(typeof (await qmp.execute('query-status')).running).toBe('boolean');
    await expect(qmp.execute('block-set-write-threshold', { 'node-name': 'x', 'write-threshold': -1 })).rejects.toThrow(
      /write-threshold/,
    );
    await qmp.close();
  });

  it("'both': a value the release has and this build lacks is refused (libblkio's io_uring driver)", async () => {
    const qmp = await connect72({ path: qemu.qmpPath }, { validate: 'both' });
    const e = await qmp
      .execute('blockdev-add', { driver: 'io_uring', 'node-name': 'x', filename: '/dev/null' })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpValidationError);
    expect((e as Error).message).toMatch(/\$\.driver.*in the running QEMU's schema/);
    await qmp.close();
  });

  it("'live' needs no release: the runtime's connect checks against what the QEMU says it has", async () => {
    const qmp = await connect({ path: qemu.qmpPath }, {}, { validate: 'live' });
    await expect(qmp.execute('query-status')).resolves.toHaveProperty('running');
    await expect(qmp.execute('query-statuss')).rejects.toThrow(
      /unknown command 'query-statuss' \(did you mean 'query-status'\?\)/,
    );
    await expect(qmp.execute('query-blockstats', { extra: 1 })).rejects.toBeInstanceOf(QmpValidationError);
    // Whether one parameter is arguments or call options is decided by the live schema too.
    await expect(qmp.execute('query-status', { extra: 1 })).rejects.toMatchObject({ code: 'unexpected-arguments' });
    await qmp.close();
  });

  it('refuses an unknown validate mode', async () => {
    await expect(connect72({ path: qemu.qmpPath }, { validate: 'alive' as never })).rejects.toThrow(
      /validate: expected 'generated', 'live', 'both'/,
    );
  });
});
