/**
 * Front end (parse + check) of QEMU 10.2's QMP schema: qapi-ts versus QEMU's
 * own scripts/qapi from the same fetched tree, both timed in-process after a
 * warm-up, and both as a cold process (start-up and module loading included).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadSchema } from '../codegen/frontend.js';
import { median, medianMs, report } from './report.js';
import { qemuTree } from './sources.js';

const RUNS = 9;

function pythonFrontEnd(tree: string, runs: number): { warm: number } {
  const script = `
import sys, time
sys.path.insert(0, 'scripts')
from qapi.schema import QAPISchema
ts = []
for i in range(${runs + 2}):
    t0 = time.perf_counter()
    QAPISchema('qapi/qapi-schema.json')
    ts.append((time.perf_counter() - t0) * 1000)
ts = sorted(ts[2:])
print(ts[len(ts) // 2])
`;
  const out = execFileSync('python3', ['-c', script], { cwd: tree, encoding: 'utf8' });
  return { warm: Number(out.trim()) };
}

function coldMs(cmd: string, args: string[], cwd: string, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    execFileSync(cmd, args, { cwd, stdio: 'ignore' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

export function benchFrontend(version = '10.2'): void {
  const tree = qemuTree(version);
  const file = path.join(tree, 'qapi/qapi-schema.json');
  const ours = medianMs(() => void loadSchema(file, { dialect: 'modern' }), RUNS);
  const theirs = pythonFrontEnd(tree, RUNS);
  report({ name: `frontend-qmp-${version}-warm`, ours, baseline: theirs.warm, unit: 'ms', better: 'lower', goal: 0.5 });

  const cli = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
  const oursCold = coldMs(process.execPath, [cli, 'check-schema', file], tree, 5);
  const theirsCold = coldMs(
    'python3',
    [
      '-c',
      "import sys; sys.path.insert(0, 'scripts'); from qapi.schema import QAPISchema; QAPISchema('qapi/qapi-schema.json')",
    ],
    tree,
    5,
  );
  // Whole processes, start-up and JIT warm-up included: a wider goal, as Node's start-up is not the front end.
  report({
    name: `frontend-qmp-${version}-cold-process`,
    ours: oursCold,
    baseline: theirsCold,
    unit: 'ms',
    better: 'lower',
    goal: 1.0,
  });
}
