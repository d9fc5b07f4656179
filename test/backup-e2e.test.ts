/**
 * Block jobs and incremental backup, end to end on real QEMU: Debian's 7.2
 * and sid's 11.1.3 (chrooted from its Debian root), each with no machine
 * (-machine none) and a qcow2 made by qemu-img. Data is written through
 * HMP qemu-io; every backup chain is compared with the source by
 * `qemu-img compare`, byte for byte. No test leaves a QEMU, a node or a file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as qemu72 from '../generated/qemu-7.2/index.js';
import * as qemu111 from '../generated/qemu-11.1/index.js';
import {
  addBitmap,
  backingFileOf,
  clearBitmap,
  fleece,
  mergeBitmaps,
  removeBitmap,
  type JsonValue,
  fullBackup,
  HmpError,
  imagesEqual,
  incrementalBackup,
  JobError,
  listBitmaps,
  qemuIo,
  QmpAbortError,
  restoreChain,
  runJob,
  type JobProgress,
} from '../runtime/client-api.js';
import type { JobHost } from '../runtime/block/jobs.js';
import type { BackupHost } from '../runtime/block/backup.js';
import { qemuRoot } from './support/roots.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

type Client = qemu72.Client | qemu111.Client;

interface Release {
  name: string;
  root?: string;
  connect: (path: string) => Promise<Client>;
}

const RELEASES: Release[] = [
  { name: 'QEMU 7.2', connect: (p) => qemu72.connectQmp({ path: p }) },
  { name: 'QEMU 11.1.3', root: qemuRoot('sid'), connect: (p) => qemu111.connectQmp({ path: p }) },
];

const MiB = 1 << 20;

describe.each(RELEASES)('$name', (release) => {
  let proc: QemuProcess;
  let qmp: Client;
  /** The folder as both QEMU and this process name it (for a chrooted QEMU, a link to it in the root). */
  let dir: string;
  let link: string | undefined;
  const file = (name: string): string => path.join(dir, name);

  const addSource = (q: Client): Promise<unknown> =>
    q.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'src',
      file: { driver: 'file', filename: file('src.qcow2') },
    });
  /** Whether the source (which QEMU holds open: flushed first, read with -U) reads the same as `image`. */
  const sameAsSource = async (image: string): Promise<boolean> => {
    await qemuIo(host(), 'src', 'flush');
    return imagesEqual(file('src.qcow2'), image, { forceShare: true });
  };

  const start = async (): Promise<void> => {
    proc = await startQemu({ root: release.root });
    qmp = await release.connect(proc.qmpPath);
  };

  beforeAll(async () => {
    await start();
    if (release.root) {
      // QEMU sees /tmp/qt-X inside its root; the same name here points there, so paths mean the same to both.
      link = path.join('/tmp', path.basename(proc.dir));
      symlinkSync(proc.dir, link);
      dir = link;
    } else {
      dir = proc.dir;
    }
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file('src.qcow2'), '512M']);
    await addSource(qmp);
  });

  afterAll(async () => {
    await qmp?.close();
    await proc?.kill();
    if (link) rmSync(link, { force: true });
  });

  const nodes = async (): Promise<string[]> =>
    ((await qmp.executeRaw('query-named-block-nodes', { flat: true })) as { 'node-name': string }[])
      .map((n) => n['node-name'])
      .filter((n) => n.startsWith('qapi-ts'));
  const host = (): BackupHost => qmp;

  it('qemuIo writes through HMP, and HMP errors throw', async () => {
    await qemuIo(host(), 'src', 'write -P 0x11 0 1M');
    await qemuIo(host(), 'src', 'write -P 0x12 8M 64k');
    await expect(qemuIo(host(), 'nosuch', 'read 0 4k')).rejects.toBeInstanceOf(HmpError);
    await expect(qmp.hmp('qemu-io nosuch "read 0 4k"', { check: true })).rejects.toThrow(
      /HMP qemu-io nosuch: Error: Cannot find device='' nor node-name='nosuch'/,
    );
    // Without check, HMP's error is only text.
    expect(await qmp.hmp('qemu-io nosuch "read 0 4k"')).toMatch(/^Error: /);
  });

  it('full, then incremental backups: each chain reads the same as the source', async () => {
    const full = await fullBackup(host(), { node: 'src', target: file('full.qcow2'), bitmap: 'b0' });
    expect(full.job.statuses).toEqual(expect.arrayContaining(['created', 'running', 'concluded']));
    const [bitmap] = await listBitmaps(host(), 'src');
    expect(bitmap).toMatchObject({ name: 'b0', count: 0, persistent: true });
    expect(await sameAsSource(file('full.qcow2'))).toBe(true);

    await qemuIo(host(), 'src', 'write -P 0x21 2M 512k');
    await qemuIo(host(), 'src', 'write -P 0x22 100M 64k');
    expect((await listBitmaps(host(), 'src'))[0].count).toBeGreaterThan(0);
    await incrementalBackup(host(), {
      node: 'src',
      bitmap: 'b0',
      target: file('inc1.qcow2'),
      backingFile: file('full.qcow2'),
    });
    expect((await listBitmaps(host(), 'src'))[0].count).toBe(0);
    expect(await sameAsSource(file('inc1.qcow2'))).toBe(true);
    // The incremental image holds only what changed: far smaller than the full one.
    const size = (f: string): number =>
      Number(
        JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', f], { encoding: 'utf8' }))['actual-size'],
      );
    expect(size(file('inc1.qcow2'))).toBeLessThan(size(file('full.qcow2')));

    await qemuIo(host(), 'src', 'write -P 0x31 300M 1M');
    await incrementalBackup(host(), {
      node: 'src',
      bitmap: 'b0',
      target: file('inc2.qcow2'),
      backingFile: file('inc1.qcow2'),
    });
    expect(await sameAsSource(file('inc2.qcow2'))).toBe(true);
    // Not just the same as the source: inc1 alone is the state before the last write.
    expect(await sameAsSource(file('inc1.qcow2'))).toBe(false);

    // Restored into one standalone image, it is still the source.
    await restoreChain([file('full.qcow2'), file('inc1.qcow2'), file('inc2.qcow2')], file('restored.qcow2'));
    expect(await sameAsSource(file('restored.qcow2'))).toBe(true);
    expect(await nodes()).toEqual([]);
  });

  it('a failed incremental (target disk full) keeps the bitmap dirty, leaves nothing behind, and a retry succeeds', async () => {
    // A 1 MiB filesystem for the target: the backup of 4 MiB of changes runs out of space.
    const small = path.join(proc.dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', small]);
    try {
      await qemuIo(host(), 'src', 'write -P 0x41 50M 4M');
      const dirty = (await listBitmaps(host(), 'src'))[0].count;
      expect(dirty).toBe(4 * MiB);
      const failed = incrementalBackup(host(), {
        node: 'src',
        bitmap: 'b0',
        target: file('small/inc3.qcow2'),
        backingFile: file('inc2.qcow2'),
      });
      await expect(failed).rejects.toBeInstanceOf(JobError);
      await expect(failed).rejects.toMatchObject({ code: 'job-failed', error: expect.stringMatching(/No space left/) });
      expect((await listBitmaps(host(), 'src'))[0].count).toBe(dirty);
      expect(readdirSync(small)).toEqual([]);
      expect(await nodes()).toEqual([]);
      expect(await qmp.executeRaw('query-jobs')).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
    await incrementalBackup(host(), {
      node: 'src',
      bitmap: 'b0',
      target: file('inc3.qcow2'),
      backingFile: file('inc2.qcow2'),
    });
    expect((await listBitmaps(host(), 'src'))[0].count).toBe(0);
    expect(await sameAsSource(file('inc3.qcow2'))).toBe(true);
  });

  it('backup progress is monotone, on a few hundred MB of written data', async () => {
    await qemuIo(host(), 'src', 'write -P 0x51 0 320M');
    const seen: JobProgress[] = [];
    await fullBackup(host(), {
      node: 'src',
      target: file('big.qcow2'),
      speed: 256 * MiB,
      onProgress: (p) => seen.push(p),
    });
    const currents = seen.map((p) => p.current);
    expect(new Set(currents).size).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < currents.length; i++) expect(currents[i]).toBeGreaterThanOrEqual(currents[i - 1]);
    expect(seen.at(-1)).toMatchObject({ current: 512 * MiB, total: 512 * MiB });
    rmSync(file('big.qcow2'));
  });

  it('an aborted backup is cancelled and leaves no node, job or file behind', async () => {
    const abort = new AbortController();
    const run = fullBackup(host(), {
      node: 'src',
      target: file('aborted.qcow2'),
      speed: 16 * MiB,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.current > 0) abort.abort(new Error('enough'));
      },
    });
    await expect(run).rejects.toBeInstanceOf(QmpAbortError);
    expect(await nodes()).toEqual([]);
    expect(await qmp.executeRaw('query-jobs')).toEqual([]);
    expect(existsSync(file('aborted.qcow2'))).toBe(false);
  });

  it('a mirror runs to ready and is completed', async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file('mirror.qcow2'), '512M']);
    await qmp.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'qapi-ts-mirror',
      file: { driver: 'file', filename: file('mirror.qcow2') },
    });
    const r = await runJob(
      qmp,
      () =>
        qmp.executeRaw('blockdev-mirror', {
          'job-id': 'm1',
          device: 'src',
          target: 'qapi-ts-mirror',
          sync: 'full',
          'auto-dismiss': false,
        }),
      { id: 'm1', autoDismiss: false },
    );
    expect(r.statuses).toEqual(expect.arrayContaining(['ready', 'waiting', 'pending', 'concluded']));
    expect(r.type).toBe('mirror');
    await qmp.executeRaw('blockdev-del', { 'node-name': 'qapi-ts-mirror' });
    expect(await sameAsSource(file('mirror.qcow2'))).toBe(true);
    rmSync(file('mirror.qcow2'));
  });

  it('differential backups keep the bitmap; bitmaps merge, clear and go', async () => {
    await fullBackup(host(), { node: 'src', target: file('dfull.qcow2'), bitmap: 'diff', persistent: false });
    await qemuIo(host(), 'src', 'write -P 0x91 20M 256k');
    const opts = { node: 'src', bitmap: 'diff', backingFile: file('dfull.qcow2'), mode: 'differential' as const };
    await incrementalBackup(host(), { ...opts, target: file('d1.qcow2') });
    const afterFirst = (await listBitmaps(host(), 'src')).find((b) => b.name === 'diff')!;
    expect(afterFirst.count).toBe(256 * 1024); // not cleared
    await qemuIo(host(), 'src', 'write -P 0x92 30M 256k');
    await incrementalBackup(host(), { ...opts, target: file('d2.qcow2') });
    // Each differential is against the full backup: the second holds both writes.
    expect(await sameAsSource(file('d2.qcow2'))).toBe(true);
    expect(await backingFileOf(file('d2.qcow2'))).toBe(file('dfull.qcow2'));

    await addBitmap(host(), 'src', 'tmp', { persistent: false });
    await mergeBitmaps(host(), 'src', 'tmp', ['diff']);
    const find = async (name: string) => (await listBitmaps(host(), 'src')).find((b) => b.name === name);
    expect((await find('tmp'))!.count).toBe(512 * 1024);
    await clearBitmap(host(), 'src', 'tmp');
    expect((await find('tmp'))!.count).toBe(0);
    await removeBitmap(host(), 'src', 'tmp');
    await removeBitmap(host(), 'src', 'diff');
    expect((await listBitmaps(host(), 'src')).map((b) => b.name)).toEqual(['b0']);
    for (const f of ['dfull', 'd1', 'd2']) rmSync(file(`${f}.qcow2`));
  });

  it('fleecing: a point-in-time view over NBD while the source keeps changing', async () => {
    await qemuIo(host(), 'src', 'write -P 0xa1 10M 1M');
    await fullBackup(host(), { node: 'src', target: file('before.qcow2') });
    const view = await fleece(host(), { node: 'src', scratch: file('fleece.qcow2'), nbdSocket: file('nbd.sock') });
    try {
      // Straight to the disk is refused while fleecing; through the filter, as a guest's writes go.
      await expect(qemuIo(host(), 'src', 'write -P 0xa2 10M 1M')).rejects.toThrow(/Permission conflict/);
      expect(view.writeNode).not.toBe('src');
      await qemuIo(host(), view.writeNode, 'write -P 0xa2 10M 1M');
      execFileSync('qemu-img', ['convert', '-O', 'qcow2', view.uri!, file('fleeced.qcow2')]);
    } finally {
      await view.release();
    }
    expect(await imagesEqual(file('fleeced.qcow2'), file('before.qcow2'))).toBe(true);
    // Released once, whoever asks twice.
    await expect(view.release()).resolves.toBeUndefined();

    // A view whose job was ended by someone else is no longer the point in time: check() and release() say so.
    const broken = await fleece(host(), { node: 'src', scratch: file('fleece2.qcow2') });
    const jobs = (await qmp.executeRaw('query-jobs')) as { id: string }[];
    await qmp.executeRaw('block-job-cancel', {
      device: jobs.find((j) => j.id.startsWith('qapi-ts-fleece-job'))!.id,
      force: true,
    });
    await new Promise((r) => setTimeout(r, 200));
    await expect(broken.check()).rejects.toThrow(/no longer the point in time/);
    await expect(broken.release()).rejects.toThrow(/no longer the point in time/);
    expect(existsSync(file('fleece2.qcow2'))).toBe(false);
    expect(await sameAsSource(file('fleeced.qcow2'))).toBe(false);
    expect(await nodes()).toEqual([]);
    expect(await qmp.executeRaw('query-jobs')).toEqual([]);
    expect(existsSync(file('fleece.qcow2'))).toBe(false);
    for (const f of ['before', 'fleeced']) rmSync(file(`${f}.qcow2`));
  });

  it('blockdev-create, stream and commit jobs run through runJob too', async () => {
    const job = (id: string, command: string, args: Record<string, JsonValue>) =>
      runJob(qmp, () => qmp.executeRaw(command, { 'job-id': id, ...args }), {
        id,
        autoDismiss: false,
      });
    const created = await job('cr1', 'blockdev-create', {
      options: { driver: 'file', filename: file('created.raw'), size: 1048576 },
    });
    expect(created.type).toBe('create');
    expect(statSync(file('created.raw')).size).toBe(1048576);
    rmSync(file('created.raw'));

    // A chain base <- mid <- top made with qemu-img and qemu-io, each layer with its own data.
    const img = (...args: string[]) => execFileSync('qemu-img', args);
    img('create', '-q', '-f', 'qcow2', file('base.qcow2'), '8M');
    execFileSync('qemu-io', ['-c', 'write -P 0xb1 0 2M', file('base.qcow2')]);
    img('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', file('mid.qcow2'));
    execFileSync('qemu-io', ['-c', 'write -P 0xb2 1M 2M', file('mid.qcow2')]);
    img('create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', file('top.qcow2'));
    execFileSync('qemu-io', ['-c', 'write -P 0xb3 2M 2M', file('top.qcow2')]);
    img('convert', '-O', 'qcow2', file('top.qcow2'), file('view.qcow2'));
    const add = (name: string, f: string, backing: string | null) =>
      qmp.executeRaw('blockdev-add', {
        driver: 'qcow2',
        'node-name': name,
        file: { driver: 'file', filename: file(f) },
        backing,
      });
    await add('qapi-ts-base', 'base.qcow2', null);
    await add('qapi-ts-mid', 'mid.qcow2', 'qapi-ts-base');
    await add('qapi-ts-top', 'top.qcow2', 'qapi-ts-mid');

    const commit = await job('c1', 'block-commit', {
      device: 'qapi-ts-top',
      'top-node': 'qapi-ts-mid',
      'base-node': 'qapi-ts-base',
    });
    expect(commit.type).toBe('commit');
    const stream = await job('s1', 'block-stream', { device: 'qapi-ts-top' });
    expect(stream.type).toBe('stream');
    for (const n of ['qapi-ts-top', 'qapi-ts-mid', 'qapi-ts-base'])
      await qmp.executeRaw('blockdev-del', { 'node-name': n });
    // top reads as it did, and now on its own: the commit folded mid into base, the stream copied base into top.
    expect(await backingFileOf(file('top.qcow2'))).toBeUndefined();
    expect(await imagesEqual(file('top.qcow2'), file('view.qcow2'))).toBe(true);
    for (const f of ['base', 'mid', 'top', 'view']) rmSync(file(`${f}.qcow2`));
    expect(await nodes()).toEqual([]);
  });

  it('never overwrites a file: an existing target (the live disk itself) is refused and left as it was', async () => {
    const before = statSync(file('src.qcow2')).size;
    await expect(fullBackup(host(), { node: 'src', target: file('src.qcow2') })).rejects.toMatchObject({
      name: 'BackupError',
      code: 'target-exists',
    });
    expect(statSync(file('src.qcow2')).size).toBe(before);
    await expect(
      incrementalBackup(host(), {
        node: 'src',
        bitmap: 'b0',
        target: file('inc1.qcow2'),
        backingFile: file('full.qcow2'),
      }),
    ).rejects.toMatchObject({ code: 'target-exists' });
    expect(existsSync(file('inc1.qcow2'))).toBe(true);
    expect(await nodes()).toEqual([]);
  });

  it('a full backup that fails keeps the existing bitmap (the old chain stays usable); a disabled bitmap is refused', async () => {
    await qemuIo(host(), 'src', 'write -P 0xc1 40M 256k');
    const dirty = (await listBitmaps(host(), 'src')).find((b) => b.name === 'b0')!.count;
    expect(dirty).toBeGreaterThan(0);
    const ac = new AbortController();
    const run = fullBackup(host(), {
      node: 'src',
      target: file('full2.qcow2'),
      bitmap: 'b0',
      speed: 8 * MiB,
      signal: ac.signal,
      onProgress: (p) => p.current > 0 && ac.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(QmpAbortError);
    expect((await listBitmaps(host(), 'src')).find((b) => b.name === 'b0')!.count).toBe(dirty);
    expect(existsSync(file('full2.qcow2'))).toBe(false);

    await qmp.executeRaw('block-dirty-bitmap-disable', { node: 'src', name: 'b0' });
    await expect(
      incrementalBackup(host(), {
        node: 'src',
        bitmap: 'b0',
        target: file('nope.qcow2'),
        backingFile: file('inc3.qcow2'),
      }),
    ).rejects.toMatchObject({ code: 'bad-bitmap', message: expect.stringMatching(/disabled/) });
    expect(existsSync(file('nope.qcow2'))).toBe(false);
    await qmp.executeRaw('block-dirty-bitmap-enable', { node: 'src', name: 'b0' });
    // The chain goes on from where it was.
    await incrementalBackup(host(), {
      node: 'src',
      bitmap: 'b0',
      target: file('inc4.qcow2'),
      backingFile: file('inc3.qcow2'),
    });
    expect(await sameAsSource(file('inc4.qcow2'))).toBe(true);
  });

  it('relative paths are taken from the current folder and the chain still restores', async () => {
    // From the folder above (for a chrooted QEMU, /tmp, where the link to its folder is).
    const cwd = process.cwd();
    process.chdir(path.dirname(dir));
    const rel = (f: string): string => path.join(path.basename(dir), f);
    try {
      await qemuIo(host(), 'src', 'write -P 0xd1 60M 64k');
      await incrementalBackup(host(), {
        node: 'src',
        bitmap: 'b0',
        target: rel('inc5.qcow2'),
        backingFile: rel('inc4.qcow2'),
      });
      expect(await backingFileOf(rel('inc5.qcow2'))).toBe(file('inc4.qcow2'));
    } finally {
      process.chdir(cwd);
    }
    const chain = ['full', 'inc1', 'inc2', 'inc3', 'inc4', 'inc5'].map((f) => file(`${f}.qcow2`));
    await restoreChain(chain, file('restored2.qcow2'));
    expect(await sameAsSource(file('restored2.qcow2'))).toBe(true);
  });

  it('the persistent bitmap survives a QEMU restart and still tracks writes', async () => {
    await qemuIo(host(), 'src', 'write -P 0x61 64M 128k');
    const before = (await listBitmaps(host(), 'src'))[0];
    expect(before.count).toBeGreaterThan(0);
    // quit closes the image cleanly, which stores its persistent bitmaps.
    await qmp.executeRaw('quit').catch(() => undefined);
    await proc.exited;
    await qmp.close();
    // A new QEMU on the same folder (kill() of the old one would remove it: it is gone already).
    const next = await startQemu({ root: release.root });
    try {
      const q = await release.connect(next.qmpPath);
      try {
        await addSource(q);
        const [after] = await listBitmaps(q, 'src');
        expect(after).toMatchObject({ name: 'b0', persistent: true, count: before.count, inconsistent: false });
        await qemuIo(q, 'src', 'write -P 0x62 400M 1M');
        expect((await listBitmaps(q as unknown as JobHost, 'src'))[0].count).toBeGreaterThan(before.count);
      } finally {
        await q.close();
      }
    } finally {
      await next.kill();
    }
  });
});
