/**
 * `npm run add-qemu -- VERSION [--from-source DIR | --from-qemu BINARY [--docs MANPAGE]]`:
 * adds a QEMU release to this repository in one step. It records where the
 * schemas come from in scripts/qemu-versions (the single list every script
 * and test reads), puts them in the cache, and regenerates: the SDKs,
 * generated/latest.ts, and the release report against the release before
 * it (docs/releases/). The package exports and the bundle take every
 * generated folder, so nothing else needs an edit.
 *
 * Without a flag the release comes from Debian: its source package when the
 * mirror has it, else the binary packages of the suite that has them.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  generateAll,
  INTROSPECTION,
  PACKAGE_ROOT,
  QMP_REFERENCE,
  SCHEMAS,
  supportedVersions,
} from '../codegen/generate.js';
import { reportName } from '../codegen/releases/docs.js';
import { introspect } from './from-live.js';

export class AddQemuError extends Error {}

export interface AddQemuOptions {
  version: string;
  fromSource?: string;
  fromQemu?: string;
  /** With fromQemu: QEMU's QMP reference man page (qemu-qmp-ref.7[.gz]), for docs. */
  docs?: string;
  /** Default: this repository. */
  root?: string;
  /** Default: $QAPI_TS_CACHE or .cache/qemu of the root. */
  cacheDir?: string;
  log?: (line: string) => void;
}

const numbers = (v: string): number[] => v.split('.').map(Number);
const older = (a: string, b: string): boolean => {
  const [x, y] = [numbers(a), numbers(b)];
  return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
};

/** Adds `line` for `version` to scripts/qemu-versions, keeping the list in version order. */
function insertLine(file: string, version: string, line: string): void {
  const lines = readFileSync(file, 'utf8').replace(/\n*$/, '').split('\n');
  let at = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const v = lines[i].split(/\s+/)[0];
    if (!lines[i].startsWith('#') && /^\d+\.\d+$/.test(v) && older(version, v)) {
      at = i;
      break;
    }
  }
  lines.splice(at, 0, line);
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Replaces the cache folder of `version` with `work` (a fresh one, written beside it). */
function install(work: string, dest: string): void {
  rmSync(dest, { recursive: true, force: true });
  renameSync(work, dest);
}

function fromSource(dir: string, version: string, dest: string): string {
  const versionFile = path.join(dir, 'VERSION');
  if (!existsSync(versionFile))
    throw new AddQemuError(`--from-source ${dir}: not a QEMU source tree (no VERSION file)`);
  const full = readFileSync(versionFile, 'utf8').trim();
  if (!full.startsWith(`${version}.`))
    throw new AddQemuError(`--from-source ${dir}: that tree is QEMU ${full}, not ${version}`);
  // QEMU numbers its development trees x.y.50 and release candidates x.y.90+: not a release's schema.
  if (Number(full.split('.')[2]) >= 50)
    throw new AddQemuError(
      `--from-source ${dir}: QEMU ${full} is a development tree or a release candidate, not a release`,
    );
  for (const s of SCHEMAS)
    if (!existsSync(path.join(dir, s.path))) throw new AddQemuError(`--from-source ${dir}: no ${s.path}`);
  const work = `${dest}.adding`;
  rmSync(work, { recursive: true, force: true });
  try {
    for (const s of SCHEMAS) {
      cpSync(path.join(dir, path.dirname(s.path)), path.join(work, path.dirname(s.path)), { recursive: true });
    }
    copyFileSync(versionFile, path.join(work, 'VERSION'));
    // The stamp fetch-qemu.sh checks: the second and third columns of the release's line.
    writeFileSync(path.join(work, '.complete'), `${full} local:source\n`);
    install(work, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return full;
}

async function fromQemu(binary: string, version: string, dest: string, docs: string | undefined): Promise<string> {
  if (docs && !existsSync(docs)) throw new AddQemuError(`--docs ${docs}: no such file`);
  let introspected: Awaited<ReturnType<typeof introspect>>;
  try {
    introspected = await introspect({ qemu: binary });
  } catch (e) {
    throw new AddQemuError(`--from-qemu ${binary}: ${(e as Error).message}`);
  }
  const { live, version: full } = introspected;
  if (!full.startsWith(`${version}.`))
    throw new AddQemuError(`--from-qemu ${binary}: that binary is QEMU ${full}, not ${version}`);
  const work = `${dest}.adding`;
  rmSync(work, { recursive: true, force: true });
  try {
    mkdirSync(path.join(work, 'qapi'), { recursive: true });
    writeFileSync(path.join(work, INTROSPECTION), JSON.stringify(live));
    if (docs) {
      const bytes = readFileSync(docs);
      writeFileSync(path.join(work, QMP_REFERENCE), docs.endsWith('.gz') ? bytes : gzipSync(bytes));
    }
    writeFileSync(path.join(work, 'VERSION'), `${full}\n`);
    writeFileSync(path.join(work, '.complete'), `${full} local:qemu\n`);
    install(work, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return full;
}

/**
 * From Debian: the source package when the mirror serves it, else the binary
 * packages of its suite. `pending` is the list with the line to add; the
 * fetch reads it (QAPI_TS_VERSIONS), the real list is not touched yet.
 */
function fromDebian(root: string, version: string, pending: string, cacheDir: string, log: (l: string) => void): void {
  const fetch = path.join(root, 'scripts/fetch-qemu.sh');
  const found = spawnSync('bash', [fetch, '--find', version], { encoding: 'utf8' });
  if (found.status !== 0) throw new AddQemuError(`could not ask apt for QEMU ${version}: ${found.stderr.trim()}`);
  const candidates = found.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
  if (!candidates.length)
    throw new AddQemuError(`apt knows no QEMU ${version} (apt-cache madison qemu); use --from-source or --from-qemu`);
  const [debver, suite] = candidates[0];
  const before = readFileSync(pending, 'utf8');
  for (const line of [`${version}\t${debver}`, `${version}\t${debver}\tbin:${suite}`]) {
    writeFileSync(pending, before);
    insertLine(pending, version, line);
    log(`add-qemu: trying ${line.replace(/\t/g, ' ')}`);
    const r = spawnSync('bash', [fetch, version], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, QAPI_TS_VERSIONS: pending, QAPI_TS_CACHE: cacheDir },
    });
    if (r.status === 0) return;
    // Not served (a source package listed but missing from the mirror): try the next way.
  }
  throw new AddQemuError(`neither the source nor the binary packages of qemu ${debver} could be fetched`);
}

/**
 * Adds the release; resolves with what was generated, for the caller to
 * report. All or nothing: the release is listed only once its SDKs are
 * generated; on failure its cache folder goes and the list is as it was.
 */
export async function addQemu(options: AddQemuOptions): Promise<{ written: string[]; report?: string }> {
  const root = options.root ?? PACKAGE_ROOT;
  const log = options.log ?? ((l: string) => void process.stderr.write(l + '\n'));
  const versions = path.join(root, 'scripts/qemu-versions');
  if (!existsSync(versions)) throw new AddQemuError('add-qemu works in a clone of the qapi-ts repository');
  const { version } = options;
  if (!/^\d+\.\d+$/.test(version)) throw new AddQemuError(`VERSION is major.minor, such as 11.1 (not '${version}')`);
  if (options.fromSource && options.fromQemu) throw new AddQemuError('give --from-source or --from-qemu, not both');
  if (options.docs && !options.fromQemu) throw new AddQemuError('--docs goes with --from-qemu');
  if (supportedVersions(versions).includes(version))
    throw new AddQemuError(`QEMU ${version} is already listed in scripts/qemu-versions`);
  const cacheDir = options.cacheDir ?? process.env.QAPI_TS_CACHE ?? path.join(root, '.cache/qemu');
  const dest = path.join(cacheDir, version);
  const pending = `${versions}.adding`;
  copyFileSync(versions, pending);
  try {
    if (options.fromSource) {
      const full = fromSource(path.resolve(options.fromSource), version, dest);
      insertLine(pending, version, `${version}\t${full}\tlocal:source`);
    } else if (options.fromQemu) {
      const full = await fromQemu(options.fromQemu, version, dest, options.docs);
      insertLine(pending, version, `${version}\t${full}\tlocal:qemu`);
    } else {
      fromDebian(root, version, pending, cacheDir, log);
    }
    log(`add-qemu: QEMU ${version} fetched; generating`);
    const all = generateAll({
      outDir: path.join(root, 'generated'),
      // generated/ sits next to runtime/ in the repository, wherever that is.
      runtime: { relativeDir: '../../runtime' },
      cacheDir,
      versionsFile: pending,
      docsDir: path.join(root, 'docs/releases'),
    });
    renameSync(pending, versions);
    const order = supportedVersions(versions);
    const i = order.indexOf(version);
    return { written: [...all.changed], report: i > 0 ? reportName(order[i - 1], version) : undefined };
  } catch (e) {
    rmSync(pending, { force: true });
    rmSync(dest, { recursive: true, force: true });
    throw e;
  }
}
