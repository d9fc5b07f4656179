/**
 * The type-aware lint (eslint.config.js) is clean: `npm run lint`, run here so that CI fails on a finding.
 * It runs in a child process (a TypeScript program of the whole repository: 1.3 GB at most) and takes about
 * 20 s on two idle cores, 30 s of CPU: 12 s to build the program, most of the rest in the type checker,
 * whose work every type-aware rule shares. The timeout leaves room for a suite running beside it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/qemu-sources.js';

interface LintMessage {
  ruleId: string | null;
  line: number;
  column: number;
  message: string;
}

interface LintResult {
  filePath: string;
  messages: LintMessage[];
}

function lint(): Promise<LintResult[]> {
  const bin = path.join(ROOT, 'node_modules/eslint/bin/eslint.js');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [bin, '--format', 'json', '--max-warnings', '0', '.'],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 << 20 },
      (error, stdout, stderr) => {
        // Exit status 1 is "findings" (listed in the JSON); anything else is eslint failing to run.
        if (error && error.code !== 1) {
          reject(new Error(`eslint failed (${String(error.code)}): ${stderr || error.message}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as LintResult[]);
        } catch {
          reject(new Error(`eslint printed no JSON: ${stderr || stdout.slice(0, 2000)}`));
        }
      },
    );
  });
}

describe('lint', () => {
  it('eslint finds nothing, type-aware rules included', { timeout: 240_000 }, async () => {
    const results = await lint();
    const files = results.map((r) => path.relative(ROOT, r.filePath));
    // Every part of the project is linted (a wrong ignore pattern would pass by linting nothing).
    for (const dir of [
      'runtime/',
      'codegen/',
      'cli/',
      'bench/',
      'test/',
      'scripts/',
      'examples/',
      'generated/qemu-10.2/',
    ])
      expect(
        files.some((f) => f.startsWith(dir)),
        `nothing linted under ${dir}`,
      ).toBe(true);
    expect(files.some((f) => f.startsWith('generated/qemu-7.2/'))).toBe(false);
    const findings = results.flatMap((r) =>
      r.messages.map(
        (m) =>
          `${path.relative(ROOT, r.filePath)}:${m.line}:${m.column} ${m.ruleId ?? '(eslint)'} ${m.message.split('\n')[0]}`,
      ),
    );
    expect(findings, 'run: npx eslint . (see eslint.config.js for why a rule is off)').toEqual([]);
  });
});
