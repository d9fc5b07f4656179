/**
 * The SDK's deprecation knowledge against a real QEMU 7.2 run with
 * `-compat deprecated-input=reject,deprecated-output=hide`: what the schema
 * marks deprecated is what QEMU refuses (commands, members, enum values, all
 * refused before anything runs) and what it hides (replies still validate),
 * and the client's `deprecated` option warns or refuses before sending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp, schema } from '../generated/qemu-7.2/index.js';
import { QmpError, QmpUsageError, validate } from '../runtime/index.js';
import { deprecatedInput } from '../runtime/schema/deprecation.js';
import { drift } from '../runtime/schema/drift.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

let qemu: QemuProcess;
beforeAll(async () => {
  qemu = await startQemu({ args: ['-compat', 'deprecated-input=reject,deprecated-output=hide'] });
});
afterAll(async () => {
  await qemu?.kill();
});

/** Requests that use one deprecated thing each, and would fail harmlessly (no such device) if QEMU ran them. */
const DEPRECATED: [string, Record<string, unknown>, string][] = [
  ['drive-backup', { device: 'none', target: '/nonexistent/x', sync: 'full' }, '$'],
  ['nbd-server-add', { device: 'none' }, '$'],
  ['nbd-server-remove', { name: 'none' }, '$'],
  ['eject', { device: 'none' }, '$.device'],
  ['blockdev-open-tray', { device: 'none' }, '$.device'],
  [
    'transaction',
    { actions: [{ type: 'drive-backup', data: { device: 'none', target: '/nonexistent/x', sync: 'full' } }] },
    '$.actions[0].type',
  ],
];

describe('-compat deprecated-input=reject', () => {
  it("every deprecated command of the release is one QEMU refuses by policy, and the SDK's check finds each use", async () => {
    const commands = schema
      .filter((e) => e['meta-type'] === 'command' && e.features?.includes('deprecated'))
      .map((e) => e.name);
    expect(commands.sort()).toEqual(['drive-backup', 'nbd-server-add', 'nbd-server-remove']);
    const qmp = await connectQmp({ path: qemu.qmpPath }, { validate: false });
    try {
      for (const [command, args, path] of DEPRECATED) {
        expect(
          deprecatedInput(schema, command, args).map((u) => u.path),
          command,
        ).toEqual([path]);
        const e = await qmp.executeRaw(command, args as never).catch((x: unknown) => x);
        expect(e, command).toBeInstanceOf(QmpError);
        expect((e as QmpError).desc, command).toMatch(/[Dd]eprecated .* disabled by policy/);
      }
      // The same commands without the deprecated member are not refused by policy.
      const e = await qmp.executeRaw('eject', { id: 'none' }).catch((x: unknown) => x);
      expect((e as QmpError).desc).not.toMatch(/policy/);
      expect(deprecatedInput(schema, 'eject', { id: 'none' })).toEqual([]);
    } finally {
      await qmp.close();
    }
  });

  it("the client option: 'reject' refuses before sending, naming the path; 'warn' warns once and sends", async () => {
    const strict = await connectQmp({ path: qemu.qmpPath }, { deprecated: 'reject' });
    try {
      const e = await strict.execute('eject', { device: 'none' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpUsageError);
      expect(e).toMatchObject({ code: 'deprecated' });
      expect((e as Error).message).toMatch(/eject: \$\.device: the member 'device' is deprecated.*nothing was sent/);
      await expect(strict.execute('drive-backup', DEPRECATED[0][1] as never)).rejects.toMatchObject({
        code: 'deprecated',
      });
    } finally {
      await strict.close();
    }
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const lenient = await connectQmp({ path: qemu.qmpPath }, { deprecated: 'warn' });
    try {
      for (let i = 0; i < 2; i++) {
        // Sent, and refused by this QEMU's policy.
        const e = await lenient.execute('blockdev-close-tray', { device: 'none' }).catch((x: unknown) => x);
        expect((e as QmpError).desc).toMatch(/disabled by policy/);
      }
      await new Promise((r) => setImmediate(r));
      const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'QAPI_TS_DEPRECATED');
      expect(ours.map((w) => w.message)).toEqual(["blockdev-close-tray: $.device: the member 'device' is deprecated"]);
    } finally {
      process.off('warning', onWarning);
      await lenient.close();
    }
  });
});

describe('-compat deprecated-output=hide', () => {
  it('QEMU hides the deprecated members of its replies, and the replies still validate', async () => {
    const qmp = await connectQmp({ path: qemu.qmpPath });
    try {
      const live = await qmp.schema();
      const enums = live.filter((e) => e['meta-type'] === 'enum');
      // SchemaInfoEnum.values is deprecated: hidden.
      expect(enums.length).toBeGreaterThan(10);
      expect(enums.every((e) => !('values' in e))).toBe(true);
      expect(validate(schema, { command: 'query-qmp-schema', direction: 'return' }, live)).toEqual([]);
    } finally {
      await qmp.close();
    }
  });
});

describe('a live schema under deprecated-output=hide (enums without their deprecated values list)', () => {
  it('still answers supports() and drift()', async () => {
    const qmp = await connectQmp({ path: qemu.qmpPath });
    try {
      expect(await qmp.supports('query-status/ret-type/status/^running')).toBe(true);
      expect(await qmp.supports('query-status/ret-type/status/^no-such-state')).toBe(false);
      const report = drift(schema, await qmp.schema());
      expect(report.unexplained).toEqual([]);
      // What QEMU hid is told apart from what its build lacks.
      expect(report.items).toContainEqual(
        expect.objectContaining({ path: 'eject/arg-type/device', what: 'member', deprecated: true }),
      );
      expect(report.items).toContainEqual(expect.objectContaining({ path: 'drive-backup', deprecated: true }));
    } finally {
      await qmp.close();
    }
  });
});
