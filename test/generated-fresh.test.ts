/**
 * generated/ is what `npm run gen` makes from the fetched QEMU sources:
 * every supported version is regenerated into a temp folder and compared
 * byte for byte. Plus the `qapi-ts gen` command line on top of it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { loadSchema } from '../codegen/frontend.js';
import { listFiles } from '../codegen/emit/output.js';
import { DOCS, generateAll, SCHEMAS } from '../codegen/generate.js';
import { ALL_VERSIONS, BINARY_VERSIONS, CACHE, requireSources, ROOT, SDKS } from './support/qemu-sources.js';

const GENERATED = path.join(ROOT, 'generated');
const temps: string[] = [];
function temp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-gen-'));
  temps.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const run = runCli;

describe('generated/', () => {
  it('holds an SDK per supported version and schema, latest.ts and a README', () => {
    const dirs = new Set(listFiles(GENERATED).map((f) => f.split('/')[0]));
    expect([...dirs].sort()).toEqual(['README.md', 'latest.ts', ...SDKS].sort());
  });

  it('is up to date: regenerating every version gives the same bytes (else run npm run gen)', () => {
    for (const v of ALL_VERSIONS) requireSources(v);
    const dir = temp();
    const docs = temp();
    // The same relative runtime imports as in generated/, which sits in the package.
    generateAll({ outDir: dir, runtime: { relativeDir: '../../runtime' }, docsDir: docs });
    const fresh = listFiles(dir);
    expect(listFiles(GENERATED), 'files in generated/').toEqual(fresh);
    const stale = fresh.filter((f) => !readFileSync(path.join(dir, f)).equals(readFileSync(path.join(GENERATED, f))));
    expect(stale, 'stale files in generated/: run npm run gen').toEqual([]);
    // The release reports too (docs/releases/), written by the same run.
    const reports = listFiles(docs);
    expect(listFiles(path.join(ROOT, DOCS)), `files in ${DOCS}/`).toEqual(reports);
    const staleDocs = reports.filter(
      (f) => !readFileSync(path.join(docs, f)).equals(readFileSync(path.join(ROOT, DOCS, f))),
    );
    expect(staleDocs, `stale files in ${DOCS}/: run npm run gen`).toEqual([]);
  });
});

describe('the docs in generated/', () => {
  /** Word counts; rST markup (`.. note::`, `:title:` lines, a role's name and link target) is not text. */
  const words = (texts: Iterable<string>): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const t of texts) {
      const text = t
        .split('\n')
        .filter((l) => !/^\s*:[\w-]+:/.test(l))
        .map((l) => l.replace(/^\s*\.\. [\w-]+::/, ''))
        .map((l) =>
          l.replace(/:[a-z]+(?::[a-z]+)?:`([^`<]*?)\s*<[^>`]+>`/g, '$1').replace(/:[a-z]+(?::[a-z]+)?:`/g, '`'),
        )
        .join('\n');
      for (const w of text.match(/[A-Za-z0-9_]+/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    return counts;
  };

  it.each(
    // A binary release's QMP SDK has no schema source: its docs come from the man page (from-live.test.ts).
    ALL_VERSIONS.flatMap((v) =>
      SCHEMAS.filter(
        (s) => SDKS.includes(`${s.prefix}-${v}`) && !(s.prefix === 'qemu' && BINARY_VERSIONS.includes(v)),
      ).map((s) => [`${s.prefix}-${v}`, v, s.path] as const),
    ),
  )("%s keeps every word of the schema's doc comments", (label, version, schemaPath) => {
    requireSources(version);
    const schema = loadSchema(path.join(CACHE, version, schemaPath), { dialect: 'auto' });
    const docs = new Set(schema.definitions().flatMap((d) => (d.doc ? [d.doc] : [])));
    const source = words([...docs].flatMap((d) => d.allSections.map((s) => s.text)));
    const comments = ['types.ts', 'commands.ts', 'events.ts'].flatMap(
      (f) => readFileSync(path.join(GENERATED, label, f), 'utf8').match(/\/\*\*[\s\S]*?\*\//g) ?? [],
    );
    const generated = words(comments);
    const lost = [...source].filter(([w, n]) => (generated.get(w) ?? 0) < n).map(([w]) => w);
    expect(lost).toEqual([]);
  });
});

describe('qapi-ts gen', () => {
  const schema = (text: string): string => {
    const file = path.join(temp(), 'qapi-schema.json');
    writeFileSync(file, text);
    return file;
  };
  const simple = "{ 'enum': 'Color', 'data': [ 'red' ] }\n{ 'command': 'paint', 'data': { 'color': 'Color' } }\n";

  it('--all --check passes on the committed generated/', () => {
    for (const v of ALL_VERSIONS) requireSources(v);
    const r = run(['gen', '--all', '--check']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/up to date\n$/);
    expect(r.code).toBe(0);
  });

  it('writes one schema, then rewrites nothing when nothing changed', () => {
    const out = path.join(temp(), 'sdk');
    const file = schema(simple);
    const first = run(['gen', '--schema', file, '--out', out, '--label', 'mine']);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toMatch(/^mine: 7 files, 7 written \(\d+ ms\)\n$/);
    expect(listFiles(out)).toEqual([
      'commands.ts',
      'events.ts',
      'index.ts',
      'methods.ts',
      'schema.ts',
      'table.ts',
      'types.ts',
    ]);
    const types = readFileSync(path.join(out, 'types.ts'), 'utf8');
    expect(types).toMatch(
      /^\/\/ AUTO-GENERATED by qapi-ts from qapi-schema.json\. DO NOT EDIT\.\n\/\/ Regenerate with: qapi-ts gen --schema /,
    );
    // Outside this package, the runtime's types come from the package.
    expect(types).toContain("from 'qapi-ts';");
    expect(readFileSync(path.join(out, 'commands.ts'), 'utf8')).toContain('export interface QmpCommands {');
    expect(run(['gen', '--schema', file, '--out', out]).out).toMatch(/: 7 files, 0 written/);
  });

  it('--check lists stale files and exits 1', () => {
    const out = path.join(temp(), 'sdk');
    const file = schema(simple);
    expect(run(['gen', '--schema', file, '--out', out]).code).toBe(0);
    writeFileSync(file, simple.replace("'red'", "'red', 'blue'"));
    const r = run(['gen', '--schema', file, '--out', out, '--check']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('stale: types.ts\n');
    expect(r.out).toContain('stale: schema.ts\n');
    expect(r.out).not.toContain('stale: commands.ts');
    // Nothing was written.
    expect(readFileSync(path.join(out, 'types.ts'), 'utf8')).not.toContain('blue');
  });

  it('guesses the guest agent from a qga/ path, and takes --protocol', () => {
    const dir = temp();
    const file = path.join(dir, 'qga', 'qapi-schema.json');
    mkdirSync(path.dirname(file));
    writeFileSync(file, "{ 'command': 'guest-ping' }\n");
    const out = path.join(dir, 'out');
    expect(run(['gen', '--schema', file, '--out', out]).code).toBe(0);
    expect(readFileSync(path.join(out, 'commands.ts'), 'utf8')).toContain('export interface QgaCommands {');
    expect(run(['gen', '--schema', file, '--out', out, '--protocol', 'qmp']).code).toBe(0);
    expect(readFileSync(path.join(out, 'commands.ts'), 'utf8')).toContain('export interface QmpCommands {');
  });

  it('--all says which sources are missing', () => {
    expect(() => generateAll({ cacheDir: path.join(temp(), 'none'), outDir: temp(), versions: ['9.9'] })).toThrow(
      /QEMU 9\.9 sources are missing from .*: run npm run fetch/,
    );
  });

  it('reports schema errors with exit 1 and usage errors with exit 2', () => {
    const bad = schema("{ 'command': 'x', 'data': { 'a': 'Nope' } }\n");
    const r = run(['gen', '--schema', bad, '--out', path.join(temp(), 'o')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("refers to unknown type 'Nope'");
    expect(run(['gen']).code).toBe(2);
    expect(run(['gen', '--schema', bad]).code).toBe(2);
    expect(run(['gen', '--all', '--schema', bad]).code).toBe(2);
    expect(run(['gen', '--schema', bad, '--out', 'x', '--protocol', 'http']).code).toBe(2);
    expect(run(['gen', '--bogus']).code).toBe(2);
  });
});
