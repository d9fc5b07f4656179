/**
 * Drift between a generated release and the real QEMU of that release:
 * Debian's 7.2 (this machine's) and Debian trixie's 10.0.13 (run chrooted
 * from the root scripts/qemu-root.sh builds). Every difference must be a
 * build condition the release's schema states; and what the conditions
 * made optional validates against what the real QEMU sends.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema as schema72 } from '../generated/qemu-7.2/index.js';
import { connectQmp as connect100, schema as schema100 } from '../generated/qemu-10.0/index.js';
import { connect, validate } from '../runtime/index.js';
import { drift } from '../runtime/schema/drift.js';
import { startQemu, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';
import { qemuRoot, rootQemuVersion } from './support/roots.js';

let qemu72: QemuProcess;
let qemu100: QemuProcess;
beforeAll(async () => {
  qemu72 = await startQemu();
  qemu100 = await startQemu({ root: qemuRoot('trixie') });
});
afterAll(async () => {
  await qemu72?.kill();
  await qemu100?.kill();
});

async function liveSchema(qemu: QemuProcess) {
  const qmp = await connect({ path: qemu.qmpPath }, {}, {});
  try {
    return { greeting: qmp.greeting, schema: await qmp.schema() };
  } finally {
    await qmp.close();
  }
}

describe('drift against the real binaries', () => {
  it('generated 7.2 against Debian 7.2: every difference is a build condition (4 commands, 9 values, 24 branches)', async () => {
    const { schema } = await liveSchema(qemu72);
    const report = drift(schema72, schema);
    expect(report.unexplained).toEqual([]);
    const count = (what: string) => report.items.filter((i) => i.what === what).length;
    expect([count('command'), count('value'), count('branch')]).toEqual([4, 9, 24]);
    expect(report.items.find((i) => i.path === 'dump-skeys')).toMatchObject({
      side: 'generated',
      condition: 'TARGET_S390X',
    });
  });

  it('generated 10.0 against Debian trixie 10.0.13, chrooted: every difference is a build condition', async () => {
    expect(rootQemuVersion(qemuRoot('trixie'))).toMatch(/version 10\.0\.\d+/);
    const { greeting, schema } = await liveSchema(qemu100);
    expect(greeting.version.qemu).toMatchObject({ major: 10, minor: 0 });
    const report = drift(schema100, schema);
    expect(report.unexplained).toEqual([]);
    expect(report.items.length).toBeGreaterThan(0);
    expect(report.items).toContainEqual(
      expect.objectContaining({
        path: 'query-cpu-model-expansion/ret-type/deprecated-props',
        what: 'member',
        condition: 'TARGET_S390X',
      }),
    );
  });

  it("the real 10.0's query-cpu-model-expansion reply (no s390x member) validates against the generated 10.0", async () => {
    const qmp = await connect100({ path: qemu100.qmpPath });
    try {
      const reply = await qmp.execute('query-cpu-model-expansion', { type: 'full', model: { name: 'max' } });
      expect(reply).not.toHaveProperty('deprecated-props');
      expect(validate(schema100, { command: 'query-cpu-model-expansion', direction: 'return' }, reply)).toEqual([]);
    } finally {
      await qmp.close();
    }
  });

  it('the newer release against the older QEMU is real drift: unexplained', async () => {
    const { schema } = await liveSchema(qemu72);
    const report = drift(schema100, schema);
    expect(report.unexplained.length).toBeGreaterThan(10);
    expect(report.unexplained).toContainEqual(
      expect.objectContaining({ path: 'query-status/ret-type/singlestep', side: 'live' }),
    );
  });
});

describe('qapi-ts drift', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/bin.js'), 'drift', ...args], { encoding: 'utf8' });

  it('reports against the nearest release, each difference with its condition; exit 0 when all are explained', () => {
    const r = cli(qemu72.qmpPath);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^QEMU 7\.2\.\d+ \(.*\) against the generated 7\.2 release: 37 differences, 0 unexplained$/,
    );
    expect(r.stdout).toMatch(/not built: TARGET_S390X\s+command\s+dump-skeys\s+\(only in the release\)/);
  });

  it('exits 1 with what is unexplained; --json for scripts', () => {
    const r = cli(qemu72.qmpPath, '--release', '10.2');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/UNEXPLAINED\s+member\s+query-status\/ret-type\/singlestep\s+\(only in this QEMU\)/);
    const j = cli(qemu72.qmpPath, '--json');
    const report = JSON.parse(j.stdout) as { release: string; qemu: string; unexplained: unknown[]; items: unknown[] };
    expect(report).toMatchObject({ release: '7.2', unexplained: [] });
    expect(report.items).toHaveLength(37);
  });

  it('says what is wrong with its arguments', () => {
    expect(cli().status).toBe(2);
    expect(cli(qemu72.qmpPath, '--release', '9.9').stderr).toMatch(/no generated release 9\.9/);
  });
});
