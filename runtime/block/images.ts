/**
 * Backup images on disk, through qemu-img (QEMU's image tool, not a
 * dependency of this package: it runs as a program, `qemuImg` says which).
 * A backup chain is a full image and incremental ones, each backed by the
 * one before: restoring converts its newest image, which reads as the whole
 * disk, into one standalone image, and checks it reads the same.
 */
import fs from 'node:fs';

// fs.promises loads when first used, not by every import of the runtime.
const open = (p: string, flags: string): Promise<fs.promises.FileHandle> => fs.promises.open(p, flags);
const rm = (p: string, o: fs.RmOptions): Promise<void> => fs.promises.rm(p, o);
import path from 'node:path';

import { ImageError } from './errors.js';

export { ImageError, type ImageErrorCode } from './errors.js';

/** qemu-img, run when asked for (node:child_process is loaded then, not by every import of the runtime). */
async function run(program: string, args: string[], options: { maxBuffer?: number } = {}): Promise<{ stdout: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile(program, args, { maxBuffer: options.maxBuffer ?? 64 << 20, encoding: 'utf8' }, (error, stdout, stderr) =>
      // An ExecFileException is an Error (an Omit<> of one, which the lint rule cannot see through).
      error ? reject(Object.assign(error as Error, { stderr })) : resolve({ stdout }),
    ),
  );
}

export interface ImageToolOptions {
  /** The qemu-img program (default 'qemu-img' from PATH). */
  qemuImg?: string;
}

async function qemuImg(args: string[], options: ImageToolOptions): Promise<string> {
  try {
    const { stdout } = await run(options.qemuImg ?? 'qemu-img', args, { maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new ImageError('qemu-img-failed', `qemu-img ${args[0]}: ${(err.stderr || err.message).trim()}`);
  }
}

/** The backing file a qcow2 image names, resolved against the image's folder (as QEMU does), or undefined. */
export async function backingFileOf(image: string, options: ImageToolOptions = {}): Promise<string | undefined> {
  // -f: never let the file's contents choose how it is read (a guest can write a qcow2 header into a raw disk).
  const info = JSON.parse(await qemuImg(['info', '-U', '-f', 'qcow2', '--output=json', image], options)) as {
    'backing-filename'?: string;
  };
  const b = info['backing-filename'];
  return b === undefined ? undefined : path.resolve(path.dirname(path.resolve(image)), b);
}

export interface CompareOptions extends ImageToolOptions {
  /** Read images QEMU has open (-U). */
  forceShare?: boolean;
  /** The images' formats, never guessed from their contents (default qcow2 for both). */
  formats?: readonly ['qcow2' | 'raw', 'qcow2' | 'raw'];
}

/** Whether two images read the same, byte for byte (qemu-img compare, which follows backing chains). */
export async function imagesEqual(a: string, b: string, options: CompareOptions = {}): Promise<boolean> {
  const [fa, fb] = options.formats ?? ['qcow2', 'qcow2'];
  try {
    await run(options.qemuImg ?? 'qemu-img', [
      'compare',
      ...(options.forceShare ? ['-U'] : []),
      '-f',
      fa,
      '-F',
      fb,
      a,
      b,
    ]);
    return true;
  } catch (e) {
    const err = e as { code?: number; stderr?: string; message: string };
    if (err.code === 1) return false;
    throw new ImageError('qemu-img-failed', `qemu-img compare: ${(err.stderr || err.message).trim()}`);
  }
}

/**
 * Rebuilds one standalone image at `output` from a backup chain of qcow2
 * images (oldest first: the full backup, then each incremental), after
 * checking that each image is backed by the one before it; then checks the
 * result reads the same as the chain.
 */
export async function restoreChain(
  chain: readonly string[],
  output: string,
  options: ImageToolOptions & { format?: 'qcow2' | 'raw' } = {},
): Promise<void> {
  if (!chain.length) throw new ImageError('bad-chain', 'restoreChain: the chain is empty');
  const full = path.resolve(chain[0]);
  if ((await backingFileOf(full, options)) !== undefined)
    throw new ImageError('bad-chain', `${chain[0]} has a backing file: the chain must start with a full backup`);
  for (let i = 1; i < chain.length; i++) {
    const backing = await backingFileOf(path.resolve(chain[i]), options);
    if (backing !== path.resolve(chain[i - 1]))
      throw new ImageError('bad-chain', `${chain[i]} is backed by ${backing ?? 'nothing'}, not by ${chain[i - 1]}`);
  }
  const top = path.resolve(chain[chain.length - 1]);
  const format = options.format ?? 'qcow2';
  // Never over an existing file: the output is created here, exclusively, and removed if the restore fails.
  try {
    await (await open(output, 'wx')).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new ImageError('output-exists', `${output} exists already: a restore never overwrites a file`);
    throw new ImageError('qemu-img-failed', `${output}: ${(e as Error).message}`);
  }
  try {
    await qemuImg(['convert', '-f', 'qcow2', '-O', format, top, output], options);
    if (!(await imagesEqual(top, output, { ...options, formats: ['qcow2', format] })))
      throw new ImageError('differs', `${output} does not read the same as the chain it was made from`);
  } catch (e) {
    await rm(output, { force: true });
    throw e;
  }
}
