/**
 * `qapi-ts backup ...`: full and incremental backups over the backup module
 * (runtime/block/backup.ts), and restore; a progress bar on a terminal,
 * plain lines otherwise.
 */
import { fullBackup, incrementalBackup, listBitmaps } from '../runtime/block/backup.js';
import { restoreChain } from '../runtime/block/images.js';
import type { JobProgress } from '../runtime/block/jobs.js';
import {
  EXIT,
  noRest,
  numberOption,
  optionNames,
  parseArgs,
  UsageError,
  type Command,
  type Io,
  type OptionKind,
} from './command.js';
import { connectQmpCli } from './connect.js';
import { formatJson } from './output.js';

const HELP = `usage: qapi-ts backup TARGET full --node NODE --to FILE [--bitmap NAME] [--speed BYTES/S]
       qapi-ts backup TARGET incremental --node NODE --bitmap NAME --to FILE --from PREVIOUS [--differential]
       qapi-ts backup TARGET bitmaps [--node NODE]
       qapi-ts backup restore FULL [INCREMENTAL...] --to FILE

full: a full backup of block node NODE into a new qcow2 FILE; with --bitmap,
a dirty bitmap (persistent) is started in the same transaction, for the
incremental backups that follow.
incremental: what NODE's bitmap recorded since the last backup, into a new
qcow2 FILE backed by PREVIOUS (the last backup of the chain); the bitmap is
cleared only when it succeeds. --differential: since the full backup (the
bitmap is never cleared).
bitmaps: the dirty bitmaps, as JSON.
restore: one standalone image from a chain (oldest first), checked with
qemu-img to read the same as the chain.

A backup never overwrites a file. On a terminal, progress shows as a bar;
otherwise as lines ("backup: 40% (…)"). Paths are as QEMU sees them.

Exit codes: 0 done; 1 the backup failed (QEMU's error on stderr; the new file
is removed, the bitmap keeps its bits) or QEMU could not be reached; 2 a usage
error (a file that exists, a bitmap that is missing or disabled).

Examples:
  qapi-ts backup /run/vm.qmp full --node disk0 --to /backup/full.qcow2 --bitmap daily
  qapi-ts backup /run/vm.qmp incremental --node disk0 --bitmap daily --to /backup/inc1.qcow2 --from /backup/full.qcow2
  qapi-ts backup restore /backup/full.qcow2 /backup/inc1.qcow2 --to /restore/disk0.qcow2`;

const MiB = 1024 * 1024;

/** Progress as a bar redrawn in place (a terminal), or a line per 10% (a log). */
export function progressPrinter(io: Io, label: string): { update(p: JobProgress): void; done(): void } {
  let lastStep = -1;
  let drawn = false;
  const size = (n: number): string => `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)} MiB`;
  return {
    update(p) {
      const fraction = p.total > 0 ? Math.min(1, p.current / p.total) : 0;
      const pct = Math.floor(fraction * 100);
      if (io.isTTY) {
        const width = 30;
        const full = Math.round(fraction * width);
        io.err(
          `\r${label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(pct).padStart(3)}% ${size(p.current)} of ${size(p.total)}`,
        );
        drawn = true;
        return;
      }
      const step = Math.floor(pct / 10);
      if (step === lastStep) return;
      lastStep = step;
      io.err(`${label}: ${pct}% (${size(p.current)} of ${size(p.total)}, ${p.status})\n`);
    },
    done() {
      if (drawn) io.err('\n');
    },
  };
}

const OPTIONS: Record<string, OptionKind> = {
  node: 'value',
  to: 'value',
  bitmap: 'value',
  from: 'value',
  differential: 'flag',
  speed: 'value',
};

export const backupCommand: Command = {
  name: 'backup',
  synopsis: 'backup TARGET full|incremental|bitmaps ... | backup restore CHAIN... --to FILE',
  help: HELP,
  options: optionNames(OPTIONS),
  async run(argv, io) {
    const args = parseArgs('backup', argv, OPTIONS);
    const [first, action, ...more] = args.positional;
    noRest('backup', args.rest);
    if (first === 'restore') {
      const chain = [action, ...more].filter((x): x is string => x !== undefined);
      const to = args.values.get('to');
      if (!chain.length || !to) throw new UsageError('backup: restore FULL [INCREMENTAL...] --to FILE');
      await restoreChain(chain, to);
      io.out(`restored ${chain.length} image${chain.length === 1 ? '' : 's'} into ${to}\n`);
      return EXIT.ok;
    }
    if (!first || !action) throw new UsageError('backup: give TARGET and full, incremental or bitmaps');
    if (more.length) throw new UsageError(`backup: unexpected '${more[0]}'`);
    const node = args.values.get('node');
    const speed = numberOption('backup', 'speed', args.values.get('speed'));
    const need = (name: string): string => {
      const v = args.values.get(name);
      if (v === undefined) throw new UsageError(`${action} needs --${name}`);
      return v;
    };
    if (!['full', 'incremental', 'bitmaps'].includes(action))
      throw new UsageError(`backup: '${action}' is not full, incremental, bitmaps or restore`);
    const { client } = await connectQmpCli(first, { warn: (l) => io.err(`qapi-ts: warning: ${l}\n`) });
    try {
      if (action === 'bitmaps') {
        io.out(formatJson(await listBitmaps(client, node)) + '\n');
        return EXIT.ok;
      }
      const progress = progressPrinter(io, action);
      const common = {
        node: need('node'),
        target: need('to'),
        speed,
        onProgress: (p: JobProgress) => progress.update(p),
      };
      try {
        const r =
          action === 'full'
            ? await fullBackup(client, { ...common, bitmap: args.values.get('bitmap') })
            : await incrementalBackup(client, {
                ...common,
                bitmap: need('bitmap'),
                backingFile: need('from'),
                mode: args.flags.has('differential') ? 'differential' : 'incremental',
              });
        progress.done();
        io.out(`${action} backup of ${common.node} into ${r.target}: ${r.job.current} bytes copied\n`);
        return EXIT.ok;
      } catch (e) {
        progress.done();
        if (e instanceof Error && (e.name === 'BackupError' || e.name === 'JobUsageError'))
          throw new UsageError(e.message);
        if (e instanceof Error && e.name === 'JobError') {
          io.err(`qapi-ts backup: ${e.message}\n`);
          return EXIT.no;
        }
        throw e;
      }
    } finally {
      await client.close();
    }
  },
};
