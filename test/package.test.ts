/**
 * The package as users import it: `qapi-ts`, `qapi-ts/qemu-<version>`,
 * `qapi-ts/qga-<version>`, `qapi-ts/codegen`, through package.json's exports
 * and the built dist/ (scripts/setup.sh builds it); then the tarball `npm pack`
 * makes, installed in a temp project: what it holds, type-checked under each ESM
 * resolution, linted by publint and attw, and bundled by esbuild.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build as esbuild } from 'esbuild';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryPoints, packAndInstall, type Packed } from './support/packed.js';
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
    expect(first).toBe('function function function function 10.2.2');
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
  // Packed and installed once for every test below (npm pack of the checkout, dist/ as built).
  let dir: string;
  let pkg: Packed;
  // attw takes seconds: it starts with the packing and runs while the other tests do.
  let attw: Promise<{ status: number | null; out: string; err: string }>;
  let entries: string[];
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-pack-'));
    pkg = packAndInstall(ROOT, dir);
    entries = entryPoints(pkg.installed, pkg.files);
    attw = runAsync(process.execPath, [
      path.join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js'),
      pkg.tarball,
      // ESM only: node10 cannot read "exports" and a CommonJS require() of ESM is not what the package
      // offers, so those two resolutions are ignored (asserted below to be the only problems).
      '--profile',
      'esm-only',
      // The qemu-*, qga-* and qsd-* patterns, which attw reports as "(wildcard)" unchecked, expanded.
      '--entrypoints',
      ...entries,
      '--format',
      'json',
    ]);
  });
  afterAll(async () => {
    await attw?.catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs without this repository: only what users import, entry points load, repository-only commands say so', () => {
    const { installed } = pkg;
    const files = pkg.files.map((f) => `package/${f}`);
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
    // for ESM (node16, nodenext, bundler), and with the oldest TypeScript the README names (5.0, declarations
    // checked too), and a wrong argument does not.
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
    for (const [typescript, module, resolution] of [
      ['typescript', 'node16', 'node16'],
      ['typescript', 'nodenext', 'nodenext'],
      ['typescript', 'esnext', 'bundler'],
      ['typescript-5.0', 'nodenext', 'nodenext'],
    ] as const) {
      // TypeScript 5.0.4 is put in .cache by scripts/setup.sh.
      const tsc = path.join(
        ROOT,
        typescript === 'typescript' ? 'node_modules/typescript' : '.cache/typescript-5.0/package',
        'bin/tsc',
      );
      expect(existsSync(tsc), `${tsc} (run scripts/setup.sh)`).toBe(true);
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
      // Both files in one program (the package's declarations are read once): every error is bad.ts's.
      const r = spawnSync(process.execPath, [tsc, ...base, 'app.ts', 'bad.ts'], { cwd: dir, encoding: 'utf8' });
      const errors = r.stdout.split('\n').filter((l) => /^\S.*: error TS/.test(l));
      const what = `${typescript} ${resolution}`;
      expect(r.stderr, what).toBe('');
      expect(
        errors.filter((l) => !l.startsWith('bad.ts(')),
        what,
      ).toEqual([]);
      expect(errors.join('\n'), `${what}: a wrong argument`).toMatch(/^bad\.ts\(3,\d+\): error TS2322/m);
    }
  });

  it('publint finds nothing in the tarball: no error, warning or suggestion', async () => {
    const data = readFileSync(pkg.tarball);
    const { messages, pkg: json } = await publint({
      pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) },
      level: 'suggestion',
      strict: true,
    });
    expect(messages.map((m) => `${m.type}: ${formatMessage(m, json, { color: false })}`)).toEqual([]);
  });

  it('attw: the types resolve for every entry point under node16 (from ESM) and bundler', async () => {
    const r = await attw;
    const report = JSON.parse(r.out) as {
      analysis: { entrypoints: Record<string, unknown> };
      problems: Record<string, { kind: string; entrypoint: string; resolutionKind?: string }[]>;
    };
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(
      entries.map((e) => (e === '.' ? '.' : `./${e}`)).sort(),
    );
    const problems = Object.values(report.problems).flat();
    // ESM only, by design: node10 ignores "exports" and a CommonJS require() meets ESM. Nothing else.
    expect(problems.filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs')).toEqual([]);
    expect(new Set(problems.map((p) => `${p.kind}@${p.resolutionKind}`))).toEqual(
      new Set(['NoResolution@node10', 'CJSResolvesToESM@node16-cjs']),
    );
    expect(r.status, r.err).toBe(0);
  });

  it('esbuild bundles a program using qapi-ts/qemu-10.2 with that release alone, and the bundle runs', async () => {
    writeFileSync(
      path.join(dir, 'bundled.ts'),
      `import { connectQmp, QmpValidationError, qemuVersion, schema, table } from 'qapi-ts/qemu-10.2';
import { createFakeQemu } from 'qapi-ts/testing';

const fake = createFakeQemu({ release: { schema, table, qemuVersion } });
const qmp = await connectQmp({ path: await fake.listen({ path: process.argv[2] }) });
const { qemu } = await qmp.execute('query-version');
const { status } = await qmp.execute('query-status');
const refused = await qmp.execute('blockdev-del', { 'node-name': 1 as unknown as string }).catch((e: unknown) => e);
await qmp.close();
await fake.close();
console.log(\`QEMU \${qemu.major}.\${qemu.minor}.\${qemu.micro} \${status}, release \${qmp.release}, \` +
  \`blockdev-del \${refused instanceof QmpValidationError ? 'refused' : 'sent'}, sent: \${fake.calls.map((c) => c.command).join(' ')}\`);
`,
    );
    // Elsewhere than under dir, so that nothing can resolve qapi-ts when the bundle runs; short, for the socket path.
    const out = mkdtempSync('/tmp/qapi-ts-bundle-');
    try {
      const bundle = path.join(out, 'app.mjs');
      const result = await esbuild({
        absWorkingDir: dir,
        entryPoints: ['bundled.ts'],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        treeShaking: true,
        minify: true,
        outfile: bundle,
        metafile: true,
        logLevel: 'silent',
      });
      expect(result.errors).toEqual([]);
      const [output] = Object.values(result.metafile.outputs);
      // Self-contained: Node's own modules are all it imports.
      expect(output.imports.filter((i) => !i.path.startsWith('node:'))).toEqual([]);
      // What went in: the release's entry and its chunk, the runtime's chunks, testing; no other release's file.
      const inputs = Object.keys(output.inputs).map((i) => path.basename(i));
      expect(inputs.filter((i) => /^(qemu|qga|qsd)-/.test(i) && !/^qemu-10\.2[.-]/.test(i))).toEqual([]);
      expect(inputs).toEqual(expect.arrayContaining(['qemu-10.2.js', 'bundled.ts']));

      // And by content, in case another release came in by another file. (1) No name (command, event, type)
      // or version of another release that qemu-10.2 lacks, beyond those the runtime itself uses (guest-sync).
      const text = readFileSync(bundle, 'utf8');
      const found = words(text);
      const { ours, others, entriesBudget } = releaseMarkers(dir, pkg, entries, 'qemu-10.2');
      for (const [release, own] of Object.entries(others)) {
        if (!own.markers.length) continue; // qsd-10.2: a subset of qemu-10.2's names, same version; see (2)
        // The markers do find their release: they are in its own files.
        expect(own.markers.filter((m) => own.words.has(m)).length, `${release}'s markers in its files`).toBeGreaterThan(
          0,
        );
        expect(
          own.markers.filter((m) => found.has(m)),
          `words only ${release} has, in the bundle`,
        ).toEqual([]);
      }
      expect(
        ours.filter((n) => !found.has(n)),
        "qemu-10.2's names are all in the bundle",
      ).toEqual([]);
      // (2) One release's descriptor and no more: every descriptor entry has a "meta-type", and the bundle
      // has no more of them than qemu-10.2's files and the runtime's together, a margin smaller than any
      // other release's descriptor.
      const metaTypes = found.get('meta-type') ?? 0;
      expect(metaTypes).toBeLessThanOrEqual(entriesBudget);
      for (const [release, own] of Object.entries(others))
        expect(own.words.get('meta-type'), release).toBeGreaterThan(entriesBudget - metaTypes);

      const size = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
      const descriptor = Object.entries(output.inputs).find(([i]) => /\/qemu-10\.2-[^/]*\.js$/.test(i))!;
      console.log(
        `esbuild bundle of a qemu-10.2 program (minified, for node): ${size(output.bytes)}, of which ` +
          `${size(descriptor[1].bytesInOutput)} the release (descriptor and tables), from ${inputs.length} inputs`,
      );

      const ran = spawnSync(process.execPath, [bundle, path.join(out, 'qmp.sock')], { cwd: out, encoding: 'utf8' });
      expect({ status: ran.status, err: ran.stderr }).toEqual({ status: 0, err: '' });
      expect(ran.stdout).toBe(
        'QEMU 10.2.2 running, release 10.2, blockdev-del refused, sent: query-version query-status\n',
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/** Identifier-like words of a text and how often each occurs: QAPI names ('x-query-rdma') and versions ('10.2.2') whole. */
function words(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of text.match(/[\w-]+(?:\.[\w-]+)*/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

/**
 * What tells each release apart from `ours` in a bundle: the names of its
 * descriptor that ours lacks and its QEMU version when another, less the words
 * the runtime's own files use (the guest agent's client names guest-sync);
 * and how many descriptor entries ("meta-type") ours and the runtime hold.
 */
function releaseMarkers(
  dir: string,
  pkg: Packed,
  entries: string[],
  ours: string,
): {
  ours: string[];
  others: Record<string, { markers: string[]; words: Map<string, number> }>;
  entriesBudget: number;
} {
  const releases = entries.filter((e) => /^(qemu|qga|qsd)-/.test(e));
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const out = {};
       for (const e of ${JSON.stringify(releases)}) {
         const m = await import('qapi-ts/' + e);
         out[e] = { version: m.qemuVersion, names: m.schema.map((i) => i.name) };
       }
       console.log(JSON.stringify(out));`,
    ],
    { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  expect(r.stderr).toBe('');
  const info = JSON.parse(r.stdout) as Record<string, { version: string; names: string[] }>;
  const bundleDir = path.join(pkg.installed, 'dist/bundle');
  const bundleFiles = pkg.files.filter((f) => f.startsWith('dist/bundle/')).map((f) => f.slice('dist/bundle/'.length));
  const releaseOf = (f: string): string | undefined =>
    releases.find((e) => path.basename(f) === `${e}.js` || path.basename(f).startsWith(`${e}-`));
  const wordsOf = (files: string[]): Map<string, number> =>
    words(files.map((f) => readFileSync(path.join(bundleDir, f), 'utf8')).join('\n'));
  // main.js (qapi-ts) is not runtime: it names every release, to load the one a QEMU answers with.
  const runtime = wordsOf(bundleFiles.filter((f) => !releaseOf(f) && f !== 'main.js'));
  // Names as a bundle holds them: '[SGXEPCSection]', an array type, is the word SGXEPCSection; masked names are numbers.
  const named = (names: string[]): string[] => names.filter((n) => /^[A-Za-z_][\w-]*$/.test(n));
  const ourNames = new Set(info[ours].names);
  const others: Record<string, { markers: string[]; words: Map<string, number> }> = {};
  for (const release of releases.filter((e) => e !== ours)) {
    const markers = named(info[release].names).filter((n) => !ourNames.has(n));
    if (info[release].version !== info[ours].version) markers.push(info[release].version);
    others[release] = {
      markers: markers.filter((m) => !runtime.has(m)),
      words: wordsOf(bundleFiles.filter((f) => releaseOf(f) === release)),
    };
  }
  const oursWords = wordsOf(bundleFiles.filter((f) => releaseOf(f) === ours));
  return {
    ours: named(info[ours].names),
    others,
    entriesBudget: (oursWords.get('meta-type') ?? 0) + (runtime.get('meta-type') ?? 0),
  };
}

/** spawn, collected: for a child that runs while the test process does other things. */
function runAsync(cmd: string, args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out, err }));
  });
}
