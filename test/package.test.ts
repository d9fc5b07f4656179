/**
 * The package as users import it: `qapi-ts`, `qapi-ts/qemu-<version>`,
 * `qapi-ts/qga-<version>`, `qapi-ts/codegen`, through package.json's exports
 * and the built dist/ (scripts/setup.sh builds it).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, VERSIONS } from './support/qemu-sources.js';

function run(code: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('package entry points', () => {
  it('qapi-ts gives the client, errors, validate and the newest release', () => {
    const r = run(`
      const m = await import('qapi-ts');
      console.log([typeof m.connectQmp, typeof m.QmpError, typeof m.ConnectionError, typeof m.validate, m.qemuVersion].join(' '));
      console.log(m.validate(m.schema, { command: 'blockdev-del', direction: 'arguments' }, {}).map((p) => p.path + ' ' + p.message).join('; '));`);
    expect(r.err).toBe('');
    const [first, second] = r.out.split('\n');
    expect(first).toBe(`function function function function ${'10.2.2'}`);
    expect(second).toMatch(/^\$\.node-name /);
  });

  it('qapi-ts/runtime is the runtime alone: no release is loaded', () => {
    const r = run(`
      const m = await import('qapi-ts/runtime');
      console.log([typeof m.connect, typeof m.QmpError, typeof m.validate, typeof m.connectQmp, typeof m.schema].join(' '));`);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('function function function undefined undefined');
  });

  it.each(VERSIONS)(
    'qapi-ts/qemu-%s and qsd-%s re-export the client API and errors: one import line is enough',
    (v) => {
      const r = run(`
      for (const p of ['qemu', 'qsd']) {
        const m = await import('qapi-ts/' + p + '-${v}');
        const runtime = await import('qapi-ts/runtime');
        const names = ['connectQmp', 'QmpError', 'ConnectionError', 'QmpTimeoutError', 'QmpAbortError', 'QmpUsageError', 'QmpValidationError', 'ProtocolError', 'CallbackError', 'validate', 'parseJson', 'stringifyJson', 'QmpClient'];
        console.log(p, names.filter((n) => typeof m[n] !== 'function').join(',') || 'all', m.QmpError === runtime.QmpError);
      }`);
      expect(r.err).toBe('');
      expect(r.out.trim().split('\n')).toEqual(['qemu all true', 'qsd all true']);
    },
  );

  it('qapi-ts/qga-11.1 (from the schema qemu-guest-agent 11.1.3 ships) loads, and is the guest agent of qapi-ts', () => {
    const r = run(`
      const m = await import('qapi-ts/qga-11.1');
      const main = await import('qapi-ts');
      console.log(m.qemuVersion, Object.keys(m.table.commands).length, typeof m.connectQga, main.connectQga === m.connectQga);`);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('11.1.3 44 function true');
  });

  it("qapi-ts/qemu-11.1 (from 11.1.3's introspection and QMP reference) loads", () => {
    const r = run(`
      const m = await import('qapi-ts/qemu-11.1');
      console.log(m.qemuVersion, Object.keys(m.table.commands).length, typeof m.connectQmp);`);
    expect(r.err).toBe('');
    expect(r.out.trim()).toMatch(/^11\.1\.3 2\d\d function$/);
  });

  it.each(VERSIONS)('qapi-ts/qemu-%s, qga-%s and qsd-%s load', (v) => {
    const r = run(`
      for (const p of ['qemu', 'qga', 'qsd']) {
        const m = await import('qapi-ts/' + p + '-${v}');
        console.log(p, m.qemuVersion.split('.').slice(0, 2).join('.'), Object.keys(m.table.commands).length, typeof (p === 'qga' ? m.connectQga : m.connectQmp), m.QmpError === (await import('qapi-ts')).QmpError);
      }
      console.log(typeof (await import('qapi-ts')).connectQga);`);
    expect(r.err).toBe('');
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^qemu ${v.replace('.', '\\.')} \\d{3} function true$`));
    expect(lines[1]).toMatch(/^qga \S+ \d{2} function true$/);
    expect(lines[2]).toMatch(/^qsd \S+ \d{2} function true$/);
    expect(lines[3]).toBe('function');
  });

  it('qapi-ts/codegen loads a schema', () => {
    const r = run(`
      const { loadSchema, countDefinitions, renderSdk, generate } = await import('qapi-ts/codegen');
      const schema = loadSchema('.cache/qemu/10.2/qga/qapi-schema.json');
      console.log(JSON.stringify(countDefinitions(schema)));
      const files = renderSdk(schema, { protocol: 'qga', source: 'qga', regenerate: 'x', qemuVersion: '10.2', runtime: 'package' });
      console.log(typeof generate, files.map((f) => f.name).join(' '));`);
    expect(r.err).toBe('');
    const [counts, rendered] = r.out.trim().split('\n');
    expect(JSON.parse(counts)).toEqual({ commands: 44, events: 0, structs: 34, unions: 3, alternates: 2, enums: 8 });
    expect(rendered).toBe('function types.ts commands.ts events.ts table.ts schema.ts methods.ts index.ts');
  });
});

describe('the packed package', () => {
  it('installs without this repository: only what users import, entry points load, repository-only commands say so', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-pack-'));
    try {
      const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
      expect(packed.status, packed.stderr).toBe(0);
      const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
      const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
      // The generated modules ship bundled (dist/bundle); their unbundled .js would be dead weight.
      expect(
        files.filter((f) => /^package\/(dist\/(bench|test)\/|generated\/|dist\/generated\/.*\.js$)/.test(f)),
      ).toEqual([]);
      expect(files).toEqual(
        expect.arrayContaining([
          'package/LICENSE',
          'package/LICENSES/GPL-2.0.txt',
          'package/dist/bundle/main.js',
          'package/dist/generated/qemu-7.2/index.d.ts',
        ]),
      );
      const installed = path.join(dir, 'node_modules', 'qapi-ts');
      mkdirSync(installed, { recursive: true });
      expect(spawnSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']).status).toBe(0);
      const node = (args: string[]): { status: number | null; out: string; err: string } => {
        const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
        return { status: r.status, out: r.stdout, err: r.stderr };
      };
      const imported = node([
        '--input-type=module',
        '-e',
        `const m = await import('qapi-ts'); const r = await import('qapi-ts/qemu-7.2'); const q = await import('qapi-ts/qsd-10.0'); const rt = await import('qapi-ts/runtime');
         // One class per error whichever entry it comes from, or instanceof would fail across them.
         console.log(typeof m.connectQmp, typeof r.QmpError, m.QmpError === r.QmpError && r.QmpError === q.QmpError && q.QmpError === rt.QmpError)`,
      ]);
      expect(imported).toEqual({ status: 0, out: 'function function true\n', err: '' });
      const bin = path.join(installed, 'dist/cli/bin.js');
      expect(node([bin, 'version']).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      const all = node([bin, 'gen', '--all', '--check']);
      expect(all.status).toBe(1);
      expect(all.err).toMatch(/works in a clone of the qapi-ts repository/);

      // A user's program type-checks against the installed package under each resolution TypeScript offers
      // for ESM (node16, nodenext, bundler), and a wrong argument does not.
      writeFileSync(
        path.join(dir, 'app.ts'),
        `import { connectQmp, QmpError, fullBackup, type StatusInfo } from 'qapi-ts';
import { connectQmp as connect72, type Client } from 'qapi-ts/qemu-7.2';
import { connectQga } from 'qapi-ts/qga-11.1';
import { createFakeQemu } from 'qapi-ts/testing';
import * as q72 from 'qapi-ts/qemu-7.2';
export async function main(): Promise<StatusInfo> {
  const fake = createFakeQemu({ release: q72 });
  const qmp: Client = await connect72({ stream: fake.connectStream() });
  void connectQmp; void connectQga; void fullBackup; void QmpError;
  return qmp.execute('query-status');
}
`,
      );
      writeFileSync(
        path.join(dir, 'bad.ts'),
        `import { connectQmp } from 'qapi-ts';\nconst q = await connectQmp({ path: '/x' });\nawait q.execute('blockdev-del', { 'node-name': 1 });\n`,
      );
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }));
      const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
      for (const [module, resolution] of [
        ['node16', 'node16'],
        ['nodenext', 'nodenext'],
        ['esnext', 'bundler'],
      ]) {
        const base = [
          '--noEmit',
          '--strict',
          '--target',
          'es2022',
          '--module',
          module,
          '--moduleResolution',
          resolution,
          '--types',
          'node',
          '--typeRoots',
          path.join(ROOT, 'node_modules/@types'),
        ];
        const good = spawnSync(process.execPath, [tsc, ...base, 'app.ts'], { cwd: dir, encoding: 'utf8' });
        expect(good.stdout + good.stderr, `${resolution}`).toBe('');
        const bad = spawnSync(process.execPath, [tsc, ...base, 'bad.ts'], { cwd: dir, encoding: 'utf8' });
        expect(bad.stdout, `${resolution}: a wrong argument`).toMatch(/bad\.ts\(3,\d+\): error TS2322/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
