/**
 * What the generated types cost a user's type-check: tsc --noEmit --extendedDiagnostics
 * on the same ~50-line program (bench/fixtures/user-program.ts), once against a
 * generated version's declarations and once against loose stand-ins for the same names.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allowanceGoal, median, report } from './report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUNS = 3;

interface Diagnostics {
  checkMs: number;
  totalMs: number;
  instantiations: number;
}

/** `mustPass`: the SDK run must type-check cleanly; the loose stand-ins give implicit-any errors, which cost nothing to report. */
function typecheck(sdkDeclarations: string, mustPass: boolean): Diagnostics {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-tsc-'));
  try {
    copyFileSync(path.join(ROOT, 'bench/fixtures/user-program.ts'), path.join(dir, 'program.mts'));
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          paths: { sdk: [sdkDeclarations] },
        },
        files: ['program.mts'],
      }),
    );
    const runs: Diagnostics[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = spawnSync(
        process.execPath,
        [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--extendedDiagnostics'],
        { encoding: 'utf8' },
      );
      const out = r.stdout;
      if (mustPass && r.status !== 0) throw new Error(`the user program does not type-check against the SDK:\n${out}`);
      const num = (label: string) => Number(new RegExp(`^${label}:\\s+([\\d.]+)`, 'm').exec(out)?.[1] ?? NaN);
      runs.push({
        checkMs: num('Check time') * 1000,
        totalMs: num('Total time') * 1000,
        instantiations: num('Instantiations'),
      });
    }
    return {
      checkMs: median(runs.map((r) => r.checkMs)),
      totalMs: median(runs.map((r) => r.totalMs)),
      instantiations: runs[0].instantiations,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function benchTypecheck(label = 'qemu-10.2'): void {
  const ours = typecheck(path.join(ROOT, `dist/generated/${label}/index.d.ts`), true);
  const base = typecheck(path.join(ROOT, 'bench/fixtures/no-sdk.d.ts'), false);
  const name = `typecheck-${label}`;
  // The goal: the SDK adds at most 250 ms of check time to a user's program.
  report({
    name: `${name}-check-time`,
    ours: ours.checkMs,
    baseline: base.checkMs,
    unit: 'ms',
    better: 'lower',
    goal: allowanceGoal(base.checkMs, 250),
  });
  report({
    name: `${name}-total-time`,
    ours: ours.totalMs,
    baseline: base.totalMs,
    unit: 'ms',
    better: 'lower',
    goal: 1.5,
  });
  // Loose stand-ins instantiate nothing, so there is no ratio to give: a comment line.
  console.log(
    `# ${name}: with the SDK, check ${ours.checkMs.toFixed(0)} ms, total ${ours.totalMs.toFixed(0)} ms, ${ours.instantiations} type instantiations (@types/node and lib.d.ts included in both)`,
  );
}
