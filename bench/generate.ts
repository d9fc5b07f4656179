/**
 * Full generation of one version (types, docs, tables, descriptor, formatted)
 * by `qapi-ts gen` versus QEMU's scripts/qapi-gen.py generating its C output
 * for the same schema: both whole processes, median of a few runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, report } from './report.js';
import { qemuTree } from './sources.js';

const RUNS = 3;

function timeMs(cmd: string, args: string[], cwd: string): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = mkdtempSync(path.join(tmpdir(), 'qapi-ts-gen-'));
    try {
      const t0 = process.hrtime.bigint();
      execFileSync(cmd, [...args, out], { cwd, stdio: 'ignore' });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  return median(times);
}

export function benchGenerate(version = '10.2'): void {
  const tree = qemuTree(version);
  const cli = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
  const ours = timeMs(process.execPath, [cli, 'gen', '--schema', 'qapi/qapi-schema.json', '--out'], tree);
  const theirs = timeMs('python3', ['scripts/qapi-gen.py', 'qapi/qapi-schema.json', '-o'], tree);
  report({ name: `generate-qmp-${version}`, ours, baseline: theirs, unit: 'ms', better: 'lower', goal: 1.0 });
}
