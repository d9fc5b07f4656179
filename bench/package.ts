/**
 * What the published package costs a user, measured on the tarball `npm pack`
 * makes of this checkout, installed in a temp project as `npm install` would:
 *
 * (a) its size, packed and unpacked, against the TypeScript sources it is
 *     built from (generated/, runtime/, codegen/, cli/): the package ships each
 *     of them once as declarations (with QEMU's docs) and once as bundled
 *     JavaScript, so it should cost not much more than the sources themselves;
 *     unbundled copies, source maps or stray files would show here. The
 *     packed baseline is those sources tarred and gzipped at npm's own level (9).
 * (b) the time to import one release (`qapi-ts/qemu-10.2`) in a fresh node,
 *     against importing a module of the same size holding the same text as one
 *     string: the cost of reading and compiling that many bytes, so the ratio is
 *     what the module graph, node's own modules and the top-level code add.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { packAndInstall } from '../test/support/packed.js';
import { allowanceGoal, median, report } from './report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The folders tsconfig.build.json compiles into what the package ships (bench/ is left out of it). */
const SOURCES = ['generated', 'runtime', 'codegen', 'cli'];
const RELEASE = 'qemu-10.2';
const IMPORT_RUNS = 9;

export function benchPackage(): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-bench-pack-'));
  try {
    const pkg = packAndInstall(ROOT, dir);
    const sources = SOURCES.flatMap((d) => tsFiles(ROOT, d));
    const sourceBytes = sources.reduce((n, f) => n + statSync(path.join(ROOT, f)).size, 0);
    const tarred = spawnSync('tar', ['-cf', '-', '-C', ROOT, ...sources], { maxBuffer: 1 << 30 });
    if (tarred.status !== 0) throw new Error(`tar failed: ${String(tarred.stderr)}`);
    const sourceGz = gzipSync(tarred.stdout, { level: 9 }).length;
    const kb = (n: number): number => n / 1024;
    // At most a quarter more than the sources: declarations + bundles, nothing twice.
    report({
      name: 'package-tarball-packed',
      ours: kb(pkg.size),
      baseline: kb(sourceGz),
      unit: 'KiB',
      better: 'lower',
      goal: 1.25,
    });
    report({
      name: 'package-tarball-unpacked',
      ours: kb(pkg.unpackedSize),
      baseline: kb(sourceBytes),
      unit: 'KiB',
      better: 'lower',
      goal: 1.25,
    });

    // The same bytes as the files `import 'qapi-ts/qemu-10.2'` loads, as one string literal (characters
    // that would need escaping become spaces, so the size stays the same).
    const bundle = path.join(pkg.installed, 'dist/bundle');
    const loaded = staticImports(bundle, `${RELEASE}.js`);
    const text = loaded.map((f) => readFileSync(path.join(bundle, f), 'utf8')).join('\n');
    writeFileSync(
      path.join(dir, 'same-bytes.mjs'),
      `export default "${text.replace(/[\\"\n\r\u2028\u2029]/g, ' ')}";\n`,
    );
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < IMPORT_RUNS; i++) {
      ours.push(importMs(dir, `qapi-ts/${RELEASE}`));
      base.push(importMs(dir, './same-bytes.mjs'));
    }
    const baseline = median(base);
    // At most 10 ms over reading the same bytes.
    report({
      name: `package-import-${RELEASE}-vs-same-bytes`,
      ours: median(ours),
      baseline,
      unit: 'ms',
      better: 'lower',
      goal: allowanceGoal(baseline, 10),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The .ts files under `root/dir`, relative to root. */
function tsFiles(root: string, dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/** The files an ES module loads at import time, itself included: its static imports, transitively (not `import()`). */
function staticImports(dir: string, entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    const code = readFileSync(path.join(dir, f), 'utf8');
    for (const m of code.matchAll(/(?:\bfrom\s*|^import\s*)["'](\.[^"']+)["']/gm))
      todo.push(path.join(path.dirname(f), m[1]));
  }
  return [...seen];
}

/** A fresh node in `dir`: ms from the start of `import(spec)` to its end. */
function importMs(dir: string, spec: string): number {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const t0 = performance.now(); await import(${JSON.stringify(spec)}); console.log(performance.now() - t0);`,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}
