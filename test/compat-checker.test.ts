/**
 * The compat checker (cli/compat.ts) on test/fixtures/compat-project, a small
 * project pinned to qemu-10.2 (resolved by package self-reference to dist/):
 * every break it was written to have is found against each release, at its
 * place, and nothing else; 10.2 itself has no error.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkCompat,
  compatCommand,
  CompatUsageError,
  formatCompat,
  type CompatFinding,
  type CompatReport,
} from '../cli/compat.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = path.join(ROOT, 'test/fixtures/compat-project');

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/generated/qemu-10.2/index.d.ts'))) {
    throw new Error('the fixture resolves qapi-ts/qemu-* to dist/ (package self-reference): build it first');
  }
});

/** [file:line:column, kind, a fragment of the message]. */
type Expected = [string, CompatFinding['kind'], string];

const EXPECTED: Record<string, Expected[]> = {
  '7.2': [
    ['src/block.ts:7:32', 'deprecated', "eject: 'device' is deprecated: Member `device` is deprecated"],
    ['src/migration.ts:5:21', 'error', 'query-migrationthreads: Argument of type \'"query-migrationthreads"\''],
    [
      'src/migration.ts:7:57',
      'error',
      "migrate-incoming: Object literal may only specify known properties, and ''exit-on-error''",
    ],
    ['src/migration.ts:9:68', 'error', 'migrate-set-capabilities: Type \'"mapped-ram"\' is not assignable'],
    ['src/query.ts:5:17', 'error', "query-audiodevs: Property 'queryAudiodevs' does not exist"],
    ['src/query.ts:7:21', 'error', 'qom-list-get: Argument of type \'"qom-list-get"\''],
    [
      'src/query.ts:9:33',
      'error',
      "query-machines: Object literal may only specify known properties, and ''compat-props''",
    ],
    ['src/query.ts:17:63', 'deprecated', "'values' is deprecated: Member `values` is deprecated"],
  ],
  '10.0': [
    ['src/block.ts:7:32', 'deprecated', "eject: 'device' is deprecated"],
    ['src/block.ts:10:13', 'deprecated', "blockdev-add: driver: 'gluster' is deprecated: Member `gluster`"],
    ['src/block.ts:19:46', 'deprecated', "'BlockdevOptions$gluster' is deprecated"],
    ['src/migration.ts:5:21', 'deprecated', 'query-migrationthreads is deprecated: This command is deprecated'],
    ['src/migration.ts:11:71', 'deprecated', "migrate-set-capabilities: 'zero-blocks' is deprecated"],
    ['src/query.ts:7:21', 'error', 'qom-list-get: Argument of type \'"qom-list-get"\''],
    ['src/query.ts:17:63', 'deprecated', "'values' is deprecated"],
  ],
  '10.2': [
    [
      'src/block.ts:5:17',
      'deprecated',
      'blockJobPause (block-job-pause) is deprecated: This command is deprecated. Use `job-pause`',
    ],
    ['src/block.ts:7:32', 'deprecated', "eject: 'device' is deprecated"],
    ['src/block.ts:10:13', 'deprecated', "blockdev-add: driver: 'gluster' is deprecated"],
    ['src/block.ts:19:46', 'deprecated', "'BlockdevOptions$gluster' is deprecated"],
    ['src/migration.ts:5:21', 'deprecated', 'query-migrationthreads is deprecated'],
    ['src/migration.ts:11:71', 'deprecated', "migrate-set-capabilities: 'zero-blocks' is deprecated"],
    ['src/query.ts:17:63', 'deprecated', "'values' is deprecated"],
  ],
  '11.1': [
    ['src/block.ts:1:15', 'error', "has no exported member named 'BlockdevOptions$gluster'"],
    ['src/block.ts:5:17', 'deprecated', 'blockJobPause (block-job-pause) is deprecated'],
    ['src/block.ts:7:32', 'deprecated', "eject: 'device' is deprecated"],
    ['src/block.ts:10:5', 'error', 'blockdev-add: Type \'"gluster"\' is not assignable'],
    // The same break: without the gluster branch, `server` is checked against another one.
    ['src/block.ts:14:5', 'error', 'blockdev-add: Type '],
    ['src/migration.ts:5:21', 'error', 'query-migrationthreads: Argument of type \'"query-migrationthreads"\''],
    ['src/migration.ts:11:59', 'error', 'migrate-set-capabilities: Type \'"zero-blocks"\' is not assignable'],
    [
      'src/query.ts:11:21',
      'deprecated',
      'query-kvm is deprecated: This command is deprecated. Use `query-accelerators`',
    ],
    ['src/query.ts:17:63', 'deprecated', "'values' is deprecated"],
  ],
};

function expectFindings(findings: CompatFinding[], expected: Expected[]): void {
  expect(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.kind}`)).toEqual(
    expected.map(([where, kind]) => `${where} ${kind}`),
  );
  findings.forEach((f, i) => {
    expect(f.message).toContain(expected[i][2]);
    expect(f.message).not.toContain('\n');
    expect(f.code !== undefined).toBe(f.kind === 'error');
  });
}

describe('checkCompat on the fixture project', () => {
  let report: CompatReport;
  const sources = ['src/block.ts', 'src/migration.ts', 'src/query.ts', 'src/plain.ts'];
  let before: Map<string, { text: string; mtime: number }>;
  beforeAll(async () => {
    before = new Map(
      sources.map((f) => {
        const file = path.join(FIXTURE, f);
        return [f, { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs }];
      }),
    );
    // The default project: cwd's tsconfig.json.
    report = await checkCompat({ cwd: FIXTURE, releases: ['7.2', '10.0', '10.2', '11.1'] });
  });

  it('lists the pinned imports and checks every release', () => {
    expect(report.project).toBe('tsconfig.json');
    expect(report.imports).toEqual(['qapi-ts/qemu-10.2']);
    expect(report.releases.map((r) => r.release)).toEqual(['7.2', '10.0', '10.2', '11.1']);
    expect(report.skipped).toEqual([]);
  });

  for (const release of Object.keys(EXPECTED)) {
    it(`finds exactly the intended breaks and deprecated uses against ${release}`, () => {
      expectFindings(report.releases.find((r) => r.release === release)!.findings, EXPECTED[release]);
    });
  }

  it('finds no error against the release the project is written for, and nothing in plain.ts', () => {
    expect(report.releases.find((r) => r.release === '10.2')!.findings.filter((f) => f.kind === 'error')).toEqual([]);
    expect(report.releases.flatMap((r) => r.findings).filter((f) => f.file === 'src/plain.ts')).toEqual([]);
  });

  it('leaves the files on disk as they were', () => {
    for (const [f, was] of before) {
      const file = path.join(FIXTURE, f);
      expect(readFileSync(file, 'utf8')).toBe(was.text);
      expect(statSync(file).mtimeMs).toBe(was.mtime);
    }
  });

  it('formats one compiler-style line per finding', () => {
    const text = formatCompat(report, false);
    expect(text).toContain('release 7.2: 6 errors, 2 deprecated uses\n');
    expect(text).toContain('  src/query.ts:7:21: error TS2345: qom-list-get: Argument of type \'"qom-list-get"\'');
    expect(text).toContain('  src/query.ts:11:21: deprecated: query-kvm is deprecated');
  });
});

describe('checkCompat: baseline errors, skipped releases', () => {
  it("does not blame a release for the project's own error, even where retargeting moved it", async () => {
    const report = await checkCompat({ cwd: FIXTURE, project: 'tsconfig.baseline.json' });
    // Every qemu release by default.
    expect(report.releases.map((r) => r.release)).toEqual(['7.2', '10.0', '10.2', '11.1']);
    const lines = report.releases.map((r) =>
      r.findings.map((f) => `${r.release} ${f.file}:${f.line}:${f.column} ${f.kind}`),
    );
    expect(lines).toEqual([
      ['7.2 baseline/shifted.ts:6:63 error'],
      ['10.0 baseline/shifted.ts:6:63 deprecated'],
      ['10.2 baseline/shifted.ts:6:63 deprecated'],
      ['11.1 baseline/shifted.ts:6:63 error'],
    ]);
    expect(report.releases[0].findings[0].message).toContain("Property 'query-migrationthreads' does not exist");
  });

  it('skips a release the imported family does not have', async () => {
    const report = await checkCompat({ cwd: FIXTURE, project: 'tsconfig.qsd.json', releases: ['10.2', '11.1'] });
    expect(report.imports).toEqual(['qapi-ts/qsd-10.2']);
    expect(report.releases).toEqual([{ release: '10.2', findings: [] }]);
    expect(report.skipped).toEqual([{ release: '11.1', reason: 'qsd-11.1 does not exist' }]);
  });

  it('refuses an unknown release and a missing project', async () => {
    await expect(checkCompat({ cwd: FIXTURE, releases: ['9.9'] })).rejects.toThrow(CompatUsageError);
    await expect(checkCompat({ cwd: FIXTURE, releases: ['9.9'] })).rejects.toThrow(/known: 7\.2, 10\.0, 10\.2, 11\.1/);
    await expect(checkCompat({ cwd: FIXTURE, project: 'nope.json' })).rejects.toThrow(/project not found/);
  });
});

describe('compatCommand', () => {
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await compatCommand(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { code, out, err };
  }
  const project = (name: string): string[] => ['--project', path.join(FIXTURE, name)];

  it('exits 0 when nothing is found', async () => {
    const r = await run([...project('tsconfig.plain.json'), '--releases', '7.2,11.1']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('release 7.2: compatible, nothing deprecated\n');
    expect(r.out).toContain('release 11.1: compatible, nothing deprecated\n');
  });

  it('exits 1 when something is found, and --json prints the report', async () => {
    const r = await run([...project('tsconfig.baseline.json'), '--releases=7.2', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as CompatReport;
    expect(report.releases).toHaveLength(1);
    expect(report.releases[0].findings).toMatchObject([{ line: 6, column: 63, kind: 'error', code: 2339 }]);
  });

  it('exits 2 on a usage error', async () => {
    const unknownRelease = await run([...project('tsconfig.plain.json'), '--releases', '7.2,9.9']);
    expect(unknownRelease.code).toBe(2);
    expect(unknownRelease.err).toContain('unknown release 9.9 (known: 7.2, 10.0, 10.2, 11.1)');
    expect((await run(['--frobnicate'])).err).toContain('unknown option --frobnicate');
    expect((await run(['--frobnicate'])).code).toBe(2);
    expect((await run(['--json=yes'])).code).toBe(2);
    expect((await run(['--releases'])).code).toBe(2);
    expect((await run(['stray'])).code).toBe(2);
    const missing = await run(project('nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('project not found');
  });
});
