/**
 * Full, incremental and differential backups with dirty bitmaps, image
 * fleecing, and bitmap housekeeping: the workflow of QEMU's "Dirty Bitmaps
 * and Incremental Backup" (docs/interop/bitmaps.rst), on any release's client.
 *
 * - A full backup creates (or clears) the bitmap in the same `transaction`
 *   as the backup job, so that no write falls between them.
 * - An incremental backup copies the clusters the bitmap marks into a new
 *   qcow2 whose backing file is the previous backup, so the newest image of
 *   a chain reads as the whole disk. `sync: 'incremental'` clears the bitmap
 *   only when the job succeeds: a failed backup leaves its bits set, and the
 *   next attempt copies them again. A differential backup (`mode:
 *   'differential'`, sync 'bitmap' with bitmap-mode 'never') never clears
 *   it: each one holds everything since the full backup.
 * - Targets are created through blockdev-create (a file, then the qcow2 on
 *   it), and every node added is removed again, on failure too; a target
 *   file left by a failed backup is deleted, so a retry can create it.
 */
import fs from 'node:fs';

// fs.promises loads when first used, not by every import of the runtime.
const access = (p: string): Promise<void> => fs.promises.access(p);
const open = (p: string, flags: string): Promise<fs.promises.FileHandle> => fs.promises.open(p, flags);
const rm = (p: string, o: fs.RmOptions): Promise<void> => fs.promises.rm(p, o);
import nodePath from 'node:path';
import type { CallOptions } from '../core/calls.js';
import type { JsonObject } from '../wire/framing.js';
import type { JsonValue } from '../wire/json.js';
import { HMP_MAX_ARGUMENT, hmpQuote } from '../qmp/hmp.js';
import { ConnectionError } from '../errors.js';

export { BackupError, type BackupErrorCode } from './errors.js';
import { BackupError } from './errors.js';
import { JobError, runJob, type JobHost, type JobProgress, type JobResult } from './jobs.js';

/** What backups need of a client: any release's QmpClient has it. */
export interface BackupHost extends JobHost {
  hmp(commandLine: string, options?: CallOptions & { check?: boolean }): Promise<string>;
}

export interface BitmapInfo {
  node: string;
  name: string;
  /** Dirty bytes. */
  count: number;
  granularity: number;
  persistent: boolean;
  recording: boolean;
  busy: boolean;
  /** Stored in the image but not saved cleanly (a crash): not to be trusted for an incremental backup. */
  inconsistent: boolean;
}

interface JobOptions {
  /** The backup job's id (default: qapi-ts-backup-N). */
  jobId?: string;
  signal?: AbortSignal;
  timeout?: number;
  onProgress?: (progress: JobProgress) => void;
  /** Bytes per second (0: unlimited). */
  speed?: number;
}

export interface FullBackupOptions extends JobOptions {
  /** The node to back up. */
  node: string;
  /** Path of the backup image to create (qcow2). */
  target: string;
  /** A dirty bitmap to start (or restart, clearing it) in the same transaction, for later incremental backups. */
  bitmap?: string;
  /** Whether a new bitmap is stored in the source image when QEMU closes it (default true; qcow2 sources). */
  persistent?: boolean;
}

export interface IncrementalBackupOptions extends JobOptions {
  node: string;
  /** The bitmap that tracks writes since the last backup (since the full one, for differential). */
  bitmap: string;
  target: string;
  /** The previous backup of the chain: the new image's backing file. */
  backingFile: string;
  /** 'incremental' (default): the bitmap is cleared when the backup succeeds. 'differential': never cleared. */
  mode?: 'incremental' | 'differential';
}

export interface BackupResult {
  target: string;
  job: JobResult;
}

let seq = 0;
const nextName = (what: string): string => `qapi-ts-${what}-${process.pid}-${++seq}`;

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);

async function namedNodes(host: JobHost): Promise<JsonObject[]> {
  const nodes = await host.executeRaw('query-named-block-nodes', { flat: true });
  return Array.isArray(nodes) ? nodes.filter(isObject) : [];
}

/** A node's virtual size in bytes. */
async function virtualSize(host: JobHost, node: string): Promise<number> {
  const entry = (await namedNodes(host)).find((n) => n['node-name'] === node);
  if (!entry) throw new BackupError('no-node', `no block node named '${node}'`);
  const image = entry.image;
  return isObject(image) ? num(image['virtual-size']) : 0;
}

/** The dirty bitmaps of every node, or of one. */
export async function listBitmaps(host: JobHost, node?: string): Promise<BitmapInfo[]> {
  const out: BitmapInfo[] = [];
  const seen = new Set<string>();
  const nodes = await namedNodes(host);
  if (node !== undefined && !nodes.some((n) => n['node-name'] === node))
    throw new BackupError('no-node', `no block node named '${node}'`);
  for (const n of nodes) {
    const name = n['node-name'];
    if (typeof name !== 'string' || (node !== undefined && name !== node) || seen.has(name)) continue;
    seen.add(name);
    for (const b of Array.isArray(n['dirty-bitmaps']) ? n['dirty-bitmaps'].filter(isObject) : []) {
      if (typeof b.name !== 'string') continue; // QEMU names every bitmap: one without is not one to use
      out.push({
        node: name,
        name: b.name,
        count: num(b.count),
        granularity: num(b.granularity),
        persistent: b.persistent === true,
        recording: b.recording !== false,
        busy: b.busy === true,
        inconsistent: b.inconsistent === true,
      });
    }
  }
  return out;
}

export async function addBitmap(
  host: JobHost,
  node: string,
  name: string,
  options: { persistent?: boolean; granularity?: number } = {},
): Promise<void> {
  await host.executeRaw('block-dirty-bitmap-add', {
    node,
    name,
    persistent: options.persistent ?? true,
    ...(options.granularity ? { granularity: options.granularity } : {}),
  });
}

export async function clearBitmap(host: JobHost, node: string, name: string): Promise<void> {
  await host.executeRaw('block-dirty-bitmap-clear', { node, name });
}

export async function removeBitmap(host: JobHost, node: string, name: string): Promise<void> {
  await host.executeRaw('block-dirty-bitmap-remove', { node, name });
}

/** Sets in `target` every bit set in any of `sources` (bitmaps of the same node). */
export async function mergeBitmaps(
  host: JobHost,
  node: string,
  target: string,
  sources: readonly string[],
): Promise<void> {
  await host.executeRaw('block-dirty-bitmap-merge', { node, target, bitmaps: [...sources] });
}

/**
 * `qemu-io NODE "COMMAND"` through HMP, rejecting with HmpError when HMP
 * reports an error (a missing node, a permission conflict). qemu-io's own
 * results and failures go to QEMU's stdout, not to the reply: a failed
 * write or pattern check is not seen here (see runtime/qmp/hmp.ts).
 */
export async function qemuIo(host: BackupHost, node: string, command: string, options?: CallOptions): Promise<void> {
  // A node name, or one QEMU generated ('#block123').
  if (!/^(?:[A-Za-z]|#block)[A-Za-z0-9_.-]*$/.test(node)) throw new TypeError(`qemuIo: '${node}' is not a node name`);
  if (Buffer.byteLength(command) > HMP_MAX_ARGUMENT)
    throw new TypeError(`qemuIo: the command is longer than HMP takes (${HMP_MAX_ARGUMENT} bytes): it would be cut`);
  await host.hmp(`qemu-io ${node} ${hmpQuote(command)}`, { ...options, check: true });
}

/**
 * The backing file as the new image should name it: relative to the image's
 * folder when both are absolute, so that a chain can be moved (or read from
 * another mount namespace) as a whole; as given otherwise.
 */
function relativeBacking(image: string, backing: string): string {
  if (!nodePath.isAbsolute(image) || !nodePath.isAbsolute(backing)) return backing;
  return nodePath.relative(nodePath.dirname(image), backing);
}

/** A new image on `path`, added as nodes; `remove` deletes the nodes (and with `discard`, the file). */
interface Target {
  node: string;
  remove(discard: boolean): Promise<void>;
}

/**
 * Claims `path` for a new image: created here, empty, exclusively, so that an
 * existing file (an earlier backup, the live disk itself) is never
 * overwritten, and only a file this call made is ever deleted.
 */
async function claim(path: string): Promise<void> {
  try {
    await (await open(path, 'wx')).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new BackupError('target-exists', `${path} exists already: a backup never overwrites a file`);
    throw e;
  }
}

/** Creates a qcow2 at `path` (backed by `backingFile`) through blockdev-create and adds it. */
async function createTarget(
  host: JobHost,
  path: string,
  size: number,
  backingFile: string | undefined,
): Promise<Target> {
  const file = nextName('file');
  const node = nextName('target');
  const added: string[] = [];
  await claim(path);
  const remove = async (discard: boolean): Promise<void> => {
    // Every node goes, even when one removal fails; the first error is the one reported.
    let first: { error: unknown } | undefined;
    for (const n of added.splice(0).reverse()) {
      await host.executeRaw('blockdev-del', { 'node-name': n }).catch((e: unknown) => (first ??= { error: e }));
    }
    // The file only once its nodes are gone (else QEMU still holds it) and only ours (claim made it).
    if (discard && first === undefined) await rm(path, { force: true });
    if (first) throw first.error;
  };
  try {
    const job = (options: JsonObject): Promise<JobResult> => {
      const id = nextName('create');
      return runJob(host, () => host.executeRaw('blockdev-create', { 'job-id': id, options }), {
        id,
        autoDismiss: false,
      });
    };
    await job({ driver: 'file', filename: path, size: 0 });
    await host.executeRaw('blockdev-add', { driver: 'file', 'node-name': file, filename: path });
    added.push(file);
    await job({
      driver: 'qcow2',
      file,
      size,
      ...(backingFile ? { 'backing-file': relativeBacking(path, backingFile), 'backing-fmt': 'qcow2' } : {}),
    });
    // Opened without its backing chain: the job writes clusters, and reading through the chain is not needed.
    await host.executeRaw('blockdev-add', { driver: 'qcow2', 'node-name': node, file, backing: null });
    added.push(node);
    return { node, remove };
  } catch (e) {
    await remove(true).catch(() => undefined);
    throw e;
  }
}

/** Only for 'transaction': a blockdev-backup action with the runner's settings. */
function backupAction(data: JsonObject): JsonObject {
  return { type: 'blockdev-backup', data: { ...data, 'auto-dismiss': false } };
}

/**
 * A full backup of `node` into a new qcow2 at `target`, with `bitmap`
 * started in the same transaction, so that the next incremental backup holds
 * exactly what was written after it. A bitmap that exists is synchronised by
 * the job (bitmap-mode on-success): cleared only when the backup succeeds, so
 * a failed full backup leaves the old chain usable; a disabled one is enabled,
 * an inconsistent one (a crash) made anew. A new bitmap is removed again if
 * the backup fails.
 */
export async function fullBackup(host: JobHost, options: FullBackupOptions): Promise<BackupResult> {
  const { bitmap, node } = options;
  const existing = bitmap === undefined ? undefined : (await listBitmaps(host, node)).find((b) => b.name === bitmap);
  const before: JsonObject[] = [];
  let sync: JsonObject = {};
  let created = false;
  if (bitmap !== undefined) {
    if (!existing || existing.inconsistent) {
      if (existing) before.push({ type: 'block-dirty-bitmap-remove', data: { node, name: bitmap } });
      before.push({
        type: 'block-dirty-bitmap-add',
        data: { node, name: bitmap, persistent: options.persistent ?? existing?.persistent ?? true },
      });
      created = !existing;
    } else {
      if (!existing.recording) before.push({ type: 'block-dirty-bitmap-enable', data: { node, name: bitmap } });
      sync = { bitmap, 'bitmap-mode': 'on-success' };
    }
  }
  try {
    return await backupWithActions(host, options, undefined, before, (target, id) => ({
      'job-id': id,
      device: node,
      target,
      sync: 'full',
      ...sync,
      ...(options.speed ? { speed: options.speed } : {}),
    }));
  } catch (e) {
    // A bitmap made for a backup that failed would stand for a full backup that does not exist.
    if (created && e instanceof JobError) await removeBitmap(host, node, bitmap!).catch(() => undefined);
    throw e;
  }
}

/**
 * An incremental backup (or, with `mode: 'differential'`, a differential
 * one) from `bitmap` into a new qcow2 at `target` backed by `backingFile`.
 * The bitmap must be recording and consistent: else the backup would miss
 * writes (BackupError 'bad-bitmap': take a full backup).
 */
export async function incrementalBackup(host: JobHost, options: IncrementalBackupOptions): Promise<BackupResult> {
  const differential = options.mode === 'differential';
  const b = (await listBitmaps(host, options.node)).find((x) => x.name === options.bitmap);
  if (!b)
    throw new BackupError('bad-bitmap', `node '${options.node}' has no bitmap '${options.bitmap}': take a full backup`);
  if (b.inconsistent)
    throw new BackupError(
      'bad-bitmap',
      `bitmap '${options.bitmap}' is inconsistent (QEMU did not store it cleanly): take a full backup`,
    );
  if (!b.recording)
    throw new BackupError(
      'bad-bitmap',
      `bitmap '${options.bitmap}' is disabled: writes since were not tracked; take a full backup`,
    );
  const backing = nodePath.resolve(options.backingFile);
  // The chain's previous image must be there: else the new one would be backed by nothing.
  if (
    !(await access(backing).then(
      () => true,
      () => false,
    ))
  )
    throw new BackupError('bad-chain', `${backing}: no such backup to continue the chain from`);
  return backupWithActions(host, options, backing, [], (target, id) => ({
    'job-id': id,
    device: options.node,
    target,
    bitmap: options.bitmap,
    ...(differential ? { sync: 'bitmap', 'bitmap-mode': 'never' } : { sync: 'incremental' }),
    ...(options.speed ? { speed: options.speed } : {}),
  }));
}

async function backupWithActions(
  host: JobHost,
  options: JobOptions & { node: string; target: string },
  backingFile: string | undefined,
  before: JsonObject[],
  backup: (target: string, jobId: string) => JsonObject,
): Promise<BackupResult> {
  const path = nodePath.resolve(options.target);
  const size = await virtualSize(host, options.node);
  const target = await createTarget(host, path, size, backingFile);
  const id = options.jobId ?? nextName('backup');
  const actions = [...before, backupAction(backup(target.node, id))];
  let job: JobResult;
  try {
    job = await runJob(host, () => host.executeRaw('transaction', { actions }), {
      id,
      autoDismiss: false,
      signal: options.signal,
      timeout: options.timeout,
      onProgress: options.onProgress,
    });
  } catch (e) {
    // Lost contact with QEMU: the job may have finished there; the image is left for the caller to judge.
    if (e instanceof ConnectionError) throw e;
    // QEMU said the job failed, or it was cancelled, or never started: the image is not a backup.
    await target.remove(true).catch(() => undefined);
    throw e;
  }
  await target.remove(false);
  return { target: path, job };
}

export interface FleeceOptions {
  node: string;
  /** The temporary qcow2 that receives the old data of clusters the guest overwrites (deleted on release). */
  scratch: string;
  /** Export the point-in-time view over NBD on this unix socket (starting QEMU's NBD server there). */
  nbdSocket?: string;
  /** The NBD export's name (default: the fleece node's name). */
  exportName?: string;
}

export interface Fleece {
  /** The node that reads as `node` was when fleecing started. */
  readonly node: string;
  /** With nbdSocket: the export, as qemu-img and qemu-nbd take it (nbd+unix:///NAME?socket=PATH). */
  readonly uri?: string;
  /**
   * The node writes to the disk go through while fleecing: the copy-before-write filter the backup
   * job put above it (a guest's disk is moved there by QEMU itself). Writes straight to `node` are refused.
   */
  readonly writeNode: string;
  /**
   * Rejects (JobError) when the view is no longer the point in time: the job that keeps it ended
   * early (cancelled by someone, its scratch image out of space). Check it after reading.
   */
  check(): Promise<void>;
  /**
   * Stops it all and removes what it added: export, server (when it started it), job, nodes, the
   * scratch file; rejects like check() when the view stopped being the point in time before. Once.
   */
  release(): Promise<void>;
}

/**
 * Image fleecing: a consistent point-in-time view of `node` while the guest
 * keeps writing, for a backup tool to read (over NBD with `nbdSocket`). A
 * backup job with sync 'none' copies each cluster's old contents into the
 * scratch image just before the guest overwrites it; the scratch image is
 * backed by the live node, so it reads as the disk at the start. If that job
 * ends before release, the view shows today's data: check() says so.
 */
export async function fleece(host: JobHost, options: FleeceOptions): Promise<Fleece> {
  const scratch = nodePath.resolve(options.scratch);
  const size = await virtualSize(host, options.node);
  const target = await createTarget(host, scratch, size, undefined);
  // The fleece node must read through to the live disk: add a qcow2 over the same file with the node as backing.
  const view = nextName('fleece');
  const id = nextName('fleece-job');
  const exportId = nextName('export');
  const steps: (() => Promise<unknown>)[] = [];
  let broken: string | undefined;
  let releasing = false;
  const watch = host.onAny((e) => {
    if (releasing || e.event !== 'JOB_STATUS_CHANGE' || !isObject(e.data) || e.data.id !== id) return;
    if (e.data.status === 'aborting' || e.data.status === 'concluded' || e.data.status === 'null')
      broken ??= `the fleecing job ended (${String(e.data.status)}) before release: the view is no longer the point in time`;
  });
  const check = async (): Promise<void> => {
    if (broken) throw new JobError('job-failed', id, 'backup', broken, []);
  };
  const undo = async (): Promise<void> => {
    releasing = true;
    let first: { error: unknown } | undefined;
    for (const step of steps.splice(0).reverse()) await step().catch((e: unknown) => (first ??= { error: e }));
    watch.dispose();
    if (first) throw first.error;
  };
  let released: Promise<void> | undefined;
  const release = (): Promise<void> => (released ??= undo().then(check));
  try {
    await target.remove(false);
    steps.push(() => rm(scratch, { force: true }));
    await host.executeRaw('blockdev-add', {
      driver: 'qcow2',
      'node-name': view,
      file: { driver: 'file', filename: scratch },
      backing: options.node,
    });
    steps.push(() => host.executeRaw('blockdev-del', { 'node-name': view }));
    await host.executeRaw('blockdev-backup', {
      'job-id': id,
      device: options.node,
      target: view,
      sync: 'none',
      'auto-dismiss': false,
    });
    steps.push(async () => {
      await host.executeRaw('block-job-cancel', { device: id, force: true }).catch(() => undefined);
      // Wait for the job to be gone before its target node is deleted.
      for (let i = 0; i < 400; i++) {
        const jobs = await host.executeRaw('query-jobs');
        const job = Array.isArray(jobs) ? jobs.filter(isObject).find((j) => j.id === id) : undefined;
        if (!job) return;
        if (job.status === 'concluded') await host.executeRaw('job-dismiss', { id });
        else await new Promise((r) => setTimeout(r, 25));
      }
    });
    // The job inserted a filter above the node, which takes over its parents (the guest's disk): writes
    // that do not come through it are refused while fleecing, so say which node it is.
    // It reads as the node: the same image file (query-named-block-nodes names no children before QEMU 8).
    const all = await namedNodes(host);
    const fileOf = (n: JsonObject | undefined): JsonValue | undefined =>
      isObject(n?.image) ? n.image.filename : undefined;
    const source = fileOf(all.find((n) => n['node-name'] === options.node));
    const filter = all.find(
      (n) => (n.drv === 'backup-top' || n.drv === 'copy-before-write') && source !== undefined && fileOf(n) === source,
    )?.['node-name'];
    let uri: string | undefined;
    if (options.nbdSocket) {
      const socket = nodePath.resolve(options.nbdSocket);
      // QEMU has one NBD server: one already running (someone else's) is used, and left running.
      const started = await host
        .executeRaw('nbd-server-start', { addr: { type: 'unix', data: { path: socket } } })
        .then(
          () => true,
          (e: unknown) => {
            if (e instanceof Error && /already running/i.test(e.message)) return false;
            throw e;
          },
        );
      if (started) steps.push(() => host.executeRaw('nbd-server-stop'));
      const name = options.exportName ?? view;
      await host.executeRaw('block-export-add', {
        type: 'nbd',
        id: exportId,
        'node-name': view,
        name,
        writable: false,
      });
      steps.push(() => host.executeRaw('block-export-del', { id: exportId }));
      uri = `nbd+unix:///${encodeURIComponent(name)}?socket=${encodeURIComponent(socket)}`;
    }
    return { node: view, uri, writeNode: typeof filter === 'string' ? filter : options.node, check, release };
  } catch (e) {
    await undo().catch(() => undefined);
    throw e;
  }
}
