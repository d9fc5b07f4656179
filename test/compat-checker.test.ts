/**
 * The compat checker (cli/compat.ts) on test/fixtures/compat-project, a small
 * project pinned to qemu-10.2 (resolved by package self-reference to dist/):
 * every break it was written to have is found against each release, at its
 * place, and nothing else; 10.2 itself has no error.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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
const fixture = (name: string): string => path.join(ROOT, 'test/fixtures', name);

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
    // Type-checking promises no more than that: a value QEMU refuses may still type-check.
    expect(r.out).toContain('release 7.2: no new type errors, nothing deprecated\n');
    expect(r.out).toContain('release 11.1: no new type errors, nothing deprecated\n');
    expect(r.out).not.toContain('compatible');
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

  it('exits 1 when a release given in --releases is skipped entirely', async () => {
    const r = await run([...project('tsconfig.qsd.json'), '--releases', '11.1']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('release 11.1: skipped: qsd-11.1 does not exist\n');
  });

  it('--errors-only leaves deprecated uses out of the report and the exit code', async () => {
    // baseline/shifted.ts has a deprecated use against 10.0, no new error.
    const r = await run([...project('tsconfig.baseline.json'), '--releases', '10.0', '--errors-only']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('release 10.0: no new type errors\n');
    expect(r.out).not.toContain('deprecated');
  });

  it('--help prints the usage and exits 0; an option is never taken for a value', async () => {
    for (const flag of ['--help', '-h']) {
      const help = await run([flag]);
      expect(help).toMatchObject({ code: 0, err: '' });
      expect(help.out).toContain('usage: qapi-ts compat');
      expect(help.out).toContain('Exit codes');
    }
    const swallowed = await run(['--project', '--json']);
    expect(swallowed.code).toBe(2);
    expect(swallowed.err).toContain('--project needs a value (got --json)');
    expect((await run(['--releases', '--json'])).err).toContain('--releases needs a value');
  });
});

describe('checkCompat: imports that do not resolve', () => {
  it('refuses a pinned import that does not resolve: the import, where, and what to do (exit 2)', async () => {
    // The fixture has its own package.json: no self-reference, and no node_modules/qapi-ts.
    const check = checkCompat({ cwd: fixture('compat-unresolved') });
    await expect(check).rejects.toThrow(CompatUsageError);
    await expect(check).rejects.toThrow(/src\/main\.ts:3:41: 'qapi-ts\/qemu-10\.2'/);
    await expect(check).rejects.toThrow(/is qapi-ts installed/);
    let err = '';
    const code = await compatCommand(['--project', fixture('compat-unresolved')], {
      out: () => {},
      err: (t) => void (err += t),
    });
    expect(code).toBe(2);
    expect(err).toContain("'qapi-ts/qemu-10.2'");
  });

  it('says that moduleResolution node10 ignores package exports', async () => {
    const check = checkCompat({ cwd: fixture('compat-node10') });
    await expect(check).rejects.toThrow(CompatUsageError);
    await expect(check).rejects.toThrow(
      /moduleResolution node10 ignores package "exports": use node16, nodenext or bundler/,
    );
  });

  it('skips a release the installed qapi-ts lacks (its import does not resolve), a failure when asked for', async () => {
    // tsconfig.paths.json resolves qapi-ts/qemu-10.2 only.
    const options = { cwd: fixture('compat-unresolved'), project: 'tsconfig.paths.json', releases: ['7.2', '10.2'] };
    const report = await checkCompat(options);
    expect(report.releases).toEqual([{ release: '10.2', findings: [] }]);
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0].release).toBe('7.2');
    expect(report.skipped[0].reason).toContain('qapi-ts/qemu-7.2 does not resolve (for src/main.ts:3:41)');
    const code = await compatCommand(['--project', path.join(options.cwd, options.project), '--releases', '7.2,10.2'], {
      out: () => {},
      err: () => {},
    });
    expect(code).toBe(1);
  });
});

describe('checkCompat: what the project is', () => {
  it('retargets JSDoc imports in JS files (@param, @typedef, @import) and finds deprecated uses there', async () => {
    const report = await checkCompat({ cwd: fixture('compat-js'), releases: ['7.2', '10.0'] });
    expect(report.imports).toEqual(['qapi-ts/qemu-10.2']);
    const notIn72 = 'query-migrationthreads: Argument of type \'"query-migrationthreads"\'';
    expectFindings(report.releases[0].findings, [
      ['src/import.js:5:22', 'error', notIn72],
      ['src/param.js:3:22', 'error', notIn72],
      ['src/typedef.js:5:22', 'error', notIn72],
    ]);
    expectFindings(report.releases[1].findings, [
      ['src/import.js:5:22', 'deprecated', 'query-migrationthreads is deprecated'],
      ['src/import.js:8:12', 'deprecated', "'BlockdevOptions$gluster' is deprecated"],
      ['src/param.js:3:22', 'deprecated', 'query-migrationthreads is deprecated'],
      ['src/typedef.js:5:22', 'deprecated', 'query-migrationthreads is deprecated'],
    ]);
  });

  it("checks the files the tsconfig's files import, and a solution tsconfig's referenced projects", async () => {
    const dir = fixture('compat-solution');
    const lib: Expected[] = [['src/lib.ts:4:53', 'error', 'query-migrationthreads: Argument of type']];
    // tsconfig.app.json lists src/index.ts only, which imports src/lib.ts.
    const app = await checkCompat({ cwd: dir, project: 'tsconfig.app.json', releases: ['7.2'] });
    expect(app.projects).toBeUndefined();
    expectFindings(app.releases[0].findings, lib);
    // tsconfig.json: no files, a reference to tsconfig.app.json.
    const solution = await checkCompat({ cwd: dir, releases: ['7.2'] });
    expect(solution).toMatchObject({ project: 'tsconfig.json', projects: ['tsconfig.app.json'], skipped: [] });
    expect(solution.imports).toEqual(['qapi-ts/qemu-10.2']);
    expectFindings(solution.releases[0].findings, lib);
    expect(formatCompat(solution, false)).toContain('tsconfig.json (tsconfig.app.json): qapi-ts/qemu-10.2\n');
  });

  it('checks the families that have a release, and lists the imports of those that do not as not checked', async () => {
    const report = await checkCompat({ cwd: fixture('compat-mixed'), releases: ['11.1'] });
    expect(report.imports).toEqual(['qapi-ts/qemu-10.2', 'qapi-ts/qsd-10.2']);
    expect(report.skipped).toEqual([]);
    expect(report.releases[0].partial).toEqual([{ imports: ['qapi-ts/qsd-10.2'], reason: 'qsd-11.1 does not exist' }]);
    expectFindings(report.releases[0].findings, [['src/qemu.ts:4:53', 'error', 'query-migrationthreads: Argument']]);
    const text = formatCompat(report, false);
    expect(text).toContain(
      'release 11.1 (partial): 1 error\n  not checked: qapi-ts/qsd-10.2: qsd-11.1 does not exist\n',
    );
  });
});

describe('checkCompat: what it finds', () => {
  it('reports argument members a release lacks in an object passed by variable, which the compiler lets through', async () => {
    const report = await checkCompat({ cwd: fixture('compat-args'), releases: ['7.2', '10.0'] });
    expect(report.releases[0].findings).toEqual([]);
    const findings = report.releases[1].findings;
    expect(findings.map((f) => `${f.file}:${f.line}:${f.column} ${f.kind} ${f.code ?? '-'} ${f.message}`)).toEqual([
      "src/args.ts:6:32 error - member 'blk' is not in migrate's arguments in 10.0",
      "src/args.ts:7:25 error - member 'blk' is not in migrate's arguments in 10.0",
      // Inside a call of something else's `execute`: no command label ('profile: ').
      "src/args.ts:10:34 error 2339 Property 'xQueryProfile' does not exist on type 'QmpMethods'.",
    ]);
    const text = formatCompat(report, false);
    expect(text).toContain('release 7.2: no new type errors, nothing deprecated\n');
    expect(text).toContain("  src/args.ts:6:32: error: member 'blk' is not in migrate's arguments in 10.0\n");
  });

  it('finds deprecated events, methods taken out of cmd, command names held in consts and `as const` tags', async () => {
    const report = await checkCompat({ cwd: fixture('compat-deprecations'), releases: ['7.2'] });
    const event = 'event MEM_UNPLUG_ERROR is deprecated: This event is deprecated. Use `DEVICE_UNPLUG_GUEST_ERROR`';
    expectFindings(report.releases[0].findings, [
      ['src/uses.ts:4:10', 'deprecated', event],
      ['src/uses.ts:5:35', 'deprecated', event],
      ['src/uses.ts:6:30', 'deprecated', event],
      ['src/uses.ts:8:28', 'deprecated', event],
      ['src/uses.ts:9:11', 'deprecated', 'nbdServerAdd (nbd-server-add) is deprecated: This command is deprecated.'],
      ['src/uses.ts:12:21', 'deprecated', 'nbd-server-remove is deprecated: This command is deprecated.'],
      ['src/uses.ts:14:23', 'deprecated', "transaction: type: 'drive-backup' is deprecated: Member `drive-backup`"],
    ]);
  });
});

describe('checkCompat: the setup', () => {
  it('reports a tsconfig that is not valid JSON, or extends a missing file, as a usage error', async () => {
    const dir = fixture('compat-config');
    await expect(checkCompat({ cwd: dir, project: 'tsconfig.invalid.json' })).rejects.toThrow(
      /tsconfig\.invalid\.json:4:1: '}' expected/,
    );
    await expect(checkCompat({ cwd: dir, project: 'tsconfig.extends.json' })).rejects.toThrow(CompatUsageError);
    await expect(checkCompat({ cwd: dir, project: 'tsconfig.extends.json' })).rejects.toThrow(
      /Cannot read file .*tsconfig\.missing\.json/,
    );
    let err = '';
    const code = await compatCommand(['--project', path.join(dir, 'tsconfig.invalid.json')], {
      out: () => {},
      err: (t) => void (err += t),
    });
    expect(code).toBe(2);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it("loads the project's own ts-morph first; a module it lacks is an internal error (exit 3), not a missing ts-morph", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'qapi-ts-compat-'));
    const cwd = process.cwd();
    try {
      writeFileSync(path.join(dir, 'tsconfig.json'), '{ "files": [] }\n');
      const pkg = path.join(dir, 'node_modules/ts-morph');
      mkdirSync(pkg, { recursive: true });
      writeFileSync(path.join(pkg, 'package.json'), '{ "name": "ts-morph", "version": "0.0.0", "main": "index.js" }\n');
      writeFileSync(
        path.join(pkg, 'index.js'),
        "throw Object.assign(new Error(\"Cannot find module '@ts-morph/common'\"), { code: 'MODULE_NOT_FOUND' });\n",
      );
      const check = checkCompat({ cwd: dir });
      await expect(check).rejects.toThrow("Cannot find module '@ts-morph/common'");
      await expect(check).rejects.not.toBeInstanceOf(CompatUsageError);
      // The CLI resolves from the working directory.
      process.chdir(dir);
      let err = '';
      const code = await compatCommand([], { out: () => {}, err: (t) => void (err += t) });
      expect(code).toBe(3);
      expect(err).toContain('qapi-ts compat: internal error:');
      expect(err).not.toContain('npm install');
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
