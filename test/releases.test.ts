/**
 * Version matching in the main entry (`qapi-ts`): the newest release's
 * types, the checks of the newest release not newer than the QEMU that
 * answered. On a real QEMU 7.2, and a scripted one claiming a future version.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp } from '../generated/latest.js';
import { connectQmp as connect102 } from '../generated/qemu-10.2/index.js';
import { QmpValidationError } from '../runtime/errors.js';
import { nearestRelease } from '../runtime/qmp/releases.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';

let qemu: QemuProcess;
beforeAll(async () => {
  qemu = await startQemu();
});
afterAll(async () => {
  await qemu?.kill();
});

describe('version matching', () => {
  it('picks the newest release not newer than the QEMU, else the oldest', () => {
    const releases = ['10.2', '7.2', '10.0'];
    expect(nearestRelease([7, 2], releases)).toBe('7.2');
    expect(nearestRelease([8, 1], releases)).toBe('7.2');
    expect(nearestRelease([10, 1], releases)).toBe('10.0');
    expect(nearestRelease([10, 2], releases)).toBe('10.2');
    expect(nearestRelease([11, 1], releases)).toBe('10.2');
    expect(nearestRelease([6, 2], releases)).toBe('7.2');
  });

  it("qapi-ts's client on QEMU 7.2 checks with 7.2's schema: a 10.2-only command is refused before sending", async () => {
    const qmp = await connectQmp({ path: qemu.qmpPath });
    try {
      expect(qmp.release).toBe('7.2');
      // The types are 10.2's, so this compiles; 7.2 has no such command.
      const e = await qmp.execute('query-accelerators').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpValidationError);
      expect((e as Error).message).toMatch(
        /unknown command 'query-accelerators': not in QEMU 7\.2, the release this QEMU is checked against \(the types are a newer one's\)/,
      );
      expect(typeof (await qmp.execute('query-status')).running).toBe('boolean');
    } finally {
      await qmp.close();
    }
  });

  it('a pinned entry stays pinned', async () => {
    const qmp = await connect102({ path: qemu.qmpPath });
    try {
      expect(qmp.release).toBe('10.2');
    } finally {
      await qmp.close();
    }
  });

  it('a QEMU newer than every release: the newest checks, and a warning, once per process', async () => {
    const dir = tempDir('qrel');
    const sock = path.join(dir, 'qmp.sock');
    const server = net.createServer((s) => {
      s.write(
        '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 99}, "package": ""}, "capabilities": []}}\r\n',
      );
      s.on('data', (d) => {
        const id = /"id":\s*(\d+)/.exec(d.toString())?.[1];
        if (id) s.write(`{"return": {}, "id": ${id}}\r\n`);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 2; i++) {
        const qmp = await connectQmp({ path: sock });
        // Checked against the highest release there is: 11.1, from its introspection.
        expect(qmp.release).toBe('11.1');
        await qmp.close();
      }
      await new Promise((r) => setImmediate(r));
      const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'QAPI_TS_NEWER_QEMU');
      expect(ours).toHaveLength(1);
      expect(ours[0].message).toMatch(
        /QEMU 99\.0\.0 is newer than every release this qapi-ts knows \(the newest is 11\.1\)/,
      );
    } finally {
      process.off('warning', onWarning);
      server.close();
    }
  });
});
