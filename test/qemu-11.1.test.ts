/**
 * QEMU 11.1.3, newer than every generated release: Debian sid's binaries,
 * run chrooted from the root scripts/qemu-root.sh builds. What the SDK can
 * do with a QEMU it has no release for: the newest release's types and
 * checks (with a warning), the live schema for what 11.1 has, drift for
 * what changed; and qemu-ga 11.1.3 with the qga-11.1 SDK generated from the
 * schema its package ships.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp } from '../generated/latest.js';
import { connectQga } from '../generated/qga-11.1/index.js';
import { connectQmp as connect102, schema as schema102 } from '../generated/qemu-10.2/index.js';
import { connectQmp as connect111, schema as schema111 } from '../generated/qemu-11.1/index.js';
import { QmpValidationError } from '../runtime/index.js';
import { drift } from '../runtime/schema/drift.js';
import { startAgent, type AgentProcess } from './support/agent.js';
import { startQemu, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';
import { qemuRoot, rootQemuVersion } from './support/roots.js';

let qemu: QemuProcess;
let agent: AgentProcess;
beforeAll(async () => {
  const root = qemuRoot('sid');
  expect(rootQemuVersion(root)).toMatch(/version 11\.1\.\d+/);
  qemu = await startQemu({ root });
  agent = await startAgent({ root });
});
afterAll(async () => {
  await qemu?.kill();
  await agent?.kill();
});

describe('QMP on QEMU 11.1.3', () => {
  it("qapi-ts's client: 10.2's types, 11.1's checks (from its introspection), no warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const qmp = await connectQmp({ path: qemu.qmpPath });
      expect(qmp.greeting.version.qemu).toMatchObject({ major: 11, minor: 1 });
      expect(qmp.release).toBe('11.1');
      expect(typeof (await qmp.execute('query-status')).running).toBe('boolean');
      // 11.1 has query-block's 'flat'; the 10.2 types do not, but the checks are 11.1's.
      const execute = qmp.execute.bind(qmp) as (command: string, args: unknown) => Promise<unknown>;
      expect(Array.isArray(await execute('query-block', { flat: true }))).toBe(true);
      await qmp.close();
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => (w as Error & { code?: string }).code === 'QAPI_TS_NEWER_QEMU')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("qapi-ts/qemu-11.1, generated from 11.1.3's introspection, is exactly what it reports", async () => {
    const qmp = await connect111({ path: qemu.qmpPath });
    try {
      expect(qmp.release).toBe('11.1');
      expect(drift(schema111, await qmp.schema()).items).toEqual([]);
      expect(Array.isArray(await qmp.execute('query-block', { flat: true }))).toBe(true);
    } finally {
      await qmp.close();
    }
  });

  it('the live schema and drift say what 11.1 added and removed since 10.2', async () => {
    const qmp = await connect102({ path: qemu.qmpPath });
    try {
      const report = drift(schema102, await qmp.schema());
      expect(report.unexplained.length).toBeGreaterThan(0);
      // Added in 11.1: query-block's 'flat'; gone: the gluster block driver.
      expect(report.unexplained).toContainEqual(
        expect.objectContaining({ path: 'query-block/arg-type/flat', what: 'member', side: 'live' }),
      );
      expect(report.unexplained).toContainEqual(
        expect.objectContaining({ path: 'blockdev-add/arg-type/+gluster', what: 'branch', side: 'generated' }),
      );
      expect(await qmp.supports('query-block/arg-type/flat')).toBe(true);
      expect(await qmp.supports('blockdev-add/arg-type/+gluster')).toBe(false);
    } finally {
      await qmp.close();
    }
  });

  it("validate: 'both' refuses what 11.1 removed; 'live' accepts what it added", async () => {
    const both = await connect102({ path: qemu.qmpPath }, { validate: 'both' });
    try {
      const e = await both
        .execute('blockdev-add', { driver: 'gluster', 'node-name': 'g', volume: 'v', path: 'p', server: [] })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QmpValidationError);
      expect((e as Error).message).toMatch(/in the running QEMU's schema/);
    } finally {
      await both.close();
    }
    const live = await connect102({ path: qemu.qmpPath }, { validate: 'live' });
    try {
      expect(Array.isArray(await live.execute('query-block', { flat: true } as never))).toBe(true);
    } finally {
      await live.close();
    }
  });

  it("validate: 'live' checks 11.1's own schema", async () => {
    const qmp = await connect102({ path: qemu.qmpPath }, { validate: 'live' });
    try {
      await expect(qmp.execute('query-blockstats', { bogus: 1 } as never)).rejects.toThrow(
        /in the running QEMU's schema/,
      );
      expect(await qmp.execute('query-version')).toMatchObject({ qemu: { major: 11, minor: 1 } });
    } finally {
      await qmp.close();
    }
  });
});

describe('qapi-ts/qemu-11.1, from introspection and the QMP reference', () => {
  it("documents every command, event and member, and uses the reference's names", () => {
    const undocumented: string[] = [];
    let members = 0;
    for (const file of ['types.ts', 'commands.ts', 'events.ts']) {
      const text = readFileSync(path.join(ROOT, 'generated/qemu-11.1', file), 'utf8');
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node, owner: string): void => {
        // A union branch's interface repeats the tag (documented on the base), as every SDK here does.
        if (ts.isPropertySignature(node) && !owner.includes('$')) {
          const name = node.name.getText();
          const isMember = !(file === 'commands.ts' && ['args', 'params', 'returns'].includes(name));
          if (isMember) members++;
          if (isMember && !ts.getJSDocCommentsAndTags(node).length) undocumented.push(`${file} ${owner}.${name}`);
        }
        const next = ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) ? node.name.text : owner;
        ts.forEachChild(node, (c) => visit(c, next));
      };
      visit(source, '');
    }
    expect(members).toBeGreaterThan(2500);
    expect(undocumented).toEqual([]);
    const types = readFileSync(path.join(ROOT, 'generated/qemu-11.1/types.ts'), 'utf8');
    expect(types).toMatch(/^export type BlockdevOptions =/m);
    expect(types).toMatch(/^export interface NetdevPasstOptions \{/m);
  });
});

describe('qemu-ga 11.1.3', () => {
  it("its own release's client (qga-11.1, from the schema it ships): ping, info, exec, a file round trip", async () => {
    const qga = await connectQga({ path: agent.path });
    try {
      expect(await qga.execute('guest-ping')).toEqual({});
      expect((await qga.cmd.guestInfo()).version).toMatch(/^11\.1\./);
      const r = await qga.exec('/bin/sh', ['-c', 'echo from-11.1; exit 4']);
      expect([r.exitCode, r.stdout.toString()]).toEqual([4, 'from-11.1\n']);
      const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff));
      const file = `/tmp/${agent.dir.split('/').pop()}/round.bin`;
      await qga.writeFile(file, data);
      expect((await qga.readFile(file)).equals(data)).toBe(true);
    } finally {
      await qga.close();
    }
  });
});
