/**
 * The package as npm publishes it: `npm pack` of the checkout (its dist/ as
 * built), unpacked into `<dir>/node_modules/qapi-ts` as `npm install
 * <tarball>` would, so programs in `<dir>` import it without this repository.
 * Used by test/package.test.ts and bench/package.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Packed {
  /** The .tgz, in `dir`. */
  tarball: string;
  /** Its size in bytes, and the sum of the sizes of the files in it (npm's own figures). */
  size: number;
  unpackedSize: number;
  /** Paths inside the package ('dist/bundle/main.js'), without tar's `package/` prefix. */
  files: string[];
  /** Where it is installed: `<dir>/node_modules/qapi-ts`. */
  installed: string;
}

/**
 * Packs the checkout at `root` into `dir` and installs the tarball there; `dir` gets the package.json of
 * an ESM app. (`root` is a parameter: compiled, this file sits at another depth under dist/.)
 */
export function packAndInstall(root: string, dir: string): Packed {
  const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  const tarball = path.join(dir, info.filename);
  const installed = path.join(dir, 'node_modules', 'qapi-ts');
  mkdirSync(installed, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }));
  return {
    tarball,
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path),
    installed,
  };
}

/**
 * Every subpath a user can import ('.', 'runtime', 'qemu-10.2', ...), as
 * attw's --entrypoints takes them: the exports map with each `*` pattern
 * expanded to the files the package holds for it.
 */
export function entryPoints(installed: string, files: readonly string[]): string[] {
  const exports = (JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { exports: object })
    .exports as Record<string, string | { default: string }>;
  return Object.entries(exports).flatMap(([key, target]) => {
    const subpath = key === '.' ? '.' : key.slice(2);
    if (!key.includes('*')) return [subpath];
    const file = (typeof target === 'string' ? target : target.default).slice(2);
    const [before, after] = file.split('*');
    return files
      .filter((f) => f.startsWith(before) && f.endsWith(after) && !f.slice(before.length).includes('/'))
      .map((f) => subpath.replace('*', f.slice(before.length, f.length - after.length)))
      .sort();
  });
}
