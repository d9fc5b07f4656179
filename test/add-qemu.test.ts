/**
 * `npm run add-qemu`: adding a release is one command, in a scratch copy of
 * this repository (its own scripts/qemu-versions, generated/, docs/ and
 * cache), so the real ones are never touched. From a local source tree (a
 * copy of 10.2's, relabelled 10.3) and from a real QEMU binary (Debian's
 * 7.2, whose line is taken out first); then the copy's own tests pick the
 * new release up with no other edit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addQemu, AddQemuError } from '../cli/add-qemu.js';
import { ALL_VERSIONS, CACHE, requireSources, ROOT } from './support/qemu-sources.js';

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A copy of the repository's files (tracked and new), node_modules linked, a cache of links to the real one. */
function scratch(): { root: string; cache: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'qapi-ts-add-'));
  temps.push(root);
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && existsSync(path.join(ROOT, f)));
  for (const f of files) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    cpSync(path.join(ROOT, f), path.join(root, f));
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  const cache = path.join(root, '.cache/qemu');
  mkdirSync(cache, { recursive: true });
  // Links to the real cache, except a release generated from introspection: generation writes its
  // schema back into its folder, which must not be the real one.
  for (const v of ALL_VERSIONS) {
    if (existsSync(path.join(requireSources(v), 'qapi/introspection.json')))
      cpSync(requireSources(v), path.join(cache, v), { recursive: true, dereference: true });
    else symlinkSync(requireSources(v), path.join(cache, v));
  }
  return { root, cache };
}

const quiet = (): void => undefined;

describe('add-qemu --from-source', () => {
  let root: string;
  let cache: string;
  let result: Awaited<ReturnType<typeof addQemu>>;
  beforeAll(async () => {
    ({ root, cache } = scratch());
    // A "10.3" source tree: 10.2's schemas under another VERSION.
    const tree = path.join(root, 'tree');
    for (const d of ['qapi', 'qga', 'storage-daemon/qapi'])
      cpSync(path.join(CACHE, '10.2', d), path.join(tree, d), { recursive: true, dereference: true });
    writeFileSync(path.join(tree, 'VERSION'), '10.3.0\n');
    result = await addQemu({ version: '10.3', fromSource: tree, root, cacheDir: cache, log: quiet });
  }, 120_000);

  it('lists the release in version order and caches its schemas', () => {
    const lines = readFileSync(path.join(root, 'scripts/qemu-versions'), 'utf8')
      .split('\n')
      .filter((l) => /^\d/.test(l));
    expect(lines.map((l) => l.split('\t')[0])).toEqual(['7.2', '10.0', '10.2', '10.3', '11.1']);
    expect(lines[3]).toBe('10.3\t10.3.0\tlocal:source');
    // fetch-qemu.sh (npm run fetch, set-up) takes the cached release as complete: nothing to download.
    const fetch = spawnSync('bash', [path.join(root, 'scripts/fetch-qemu.sh'), '10.3'], {
      encoding: 'utf8',
      env: { ...process.env, QAPI_TS_CACHE: cache },
    });
    expect(fetch.stderr).toBe('');
    expect(fetch.status).toBe(0);
  });

  it('generates its SDKs, makes it the newest full release and writes its report', () => {
    for (const sdk of ['qemu-10.3', 'qga-10.3', 'qsd-10.3'])
      expect(readFileSync(path.join(root, 'generated', sdk, 'index.ts'), 'utf8')).toContain('QEMU 10.3.0');
    expect(readFileSync(path.join(root, 'generated/latest.ts'), 'utf8')).toContain("from './qemu-10.3/index.js'");
    expect(result.report).toBe('10.2-to-10.3.md');
    const report = readFileSync(path.join(root, 'docs/releases/10.2-to-10.3.md'), 'utf8');
    expect(report).toContain('Commands: 0 added, 0 removed, 0 changed.');
    // The pair it came between is no longer consecutive: its report goes, 10.3 → 11.1 comes.
    expect(existsSync(path.join(root, 'docs/releases/10.2-to-11.1.md'))).toBe(false);
    expect(existsSync(path.join(root, 'docs/releases/10.3-to-11.1.md'))).toBe(true);
    expect(readFileSync(path.join(root, 'docs/releases/README.md'), 'utf8')).toContain('(10.2-to-10.3.md)');
  });

  it("the copy's own tests take the new release with no other edit", () => {
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/generated-fresh.test.ts', '-t', 'generated/'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, QAPI_TS_CACHE: cache, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    expect(r.stdout + r.stderr).toMatch(/Tests\s+\d+ passed/);
    expect(r.status).toBe(0);
  }, 120_000);

  it('is all or nothing: a schema that fails to generate leaves the list and the cache as they were', async () => {
    const versions = path.join(root, 'scripts/qemu-versions');
    const before = readFileSync(versions, 'utf8');
    const broken = path.join(root, 'broken');
    for (const d of ['qapi', 'qga', 'storage-daemon/qapi'])
      cpSync(path.join(CACHE, '10.2', d), path.join(broken, d), { recursive: true, dereference: true });
    writeFileSync(path.join(broken, 'VERSION'), '10.4.0\n');
    writeFileSync(path.join(broken, 'qapi/qapi-schema.json'), "{ 'command': 'x', 'data': { 'y': 'NoSuchType' } }\n");
    await expect(addQemu({ version: '10.4', fromSource: broken, root, cacheDir: cache, log: quiet })).rejects.toThrow(
      /NoSuchType/,
    );
    expect(readFileSync(versions, 'utf8')).toBe(before);
    expect(existsSync(path.join(cache, '10.4'))).toBe(false);
    expect(existsSync(`${versions}.adding`)).toBe(false);
  });

  it('refuses what it cannot do, clearly', async () => {
    const tree = path.join(root, 'tree');
    await expect(addQemu({ version: '10.3', fromSource: tree, root, cacheDir: cache, log: quiet })).rejects.toThrow(
      'QEMU 10.3 is already listed in scripts/qemu-versions',
    );
    await expect(addQemu({ version: '10.4', fromSource: tree, root, cacheDir: cache, log: quiet })).rejects.toThrow(
      'that tree is QEMU 10.3.0, not 10.4',
    );
    await expect(addQemu({ version: 'eleven', root, cacheDir: cache, log: quiet })).rejects.toBeInstanceOf(
      AddQemuError,
    );
    await expect(
      addQemu({ version: '9.9', fromQemu: '/nonexistent/qemu', root, cacheDir: cache, log: quiet }),
    ).rejects.toThrow(/--from-qemu \/nonexistent\/qemu: /);
    await expect(
      addQemu({
        version: '9.9',
        fromQemu: 'qemu-system-x86_64',
        docs: '/nonexistent.7',
        root,
        cacheDir: cache,
        log: quiet,
      }),
    ).rejects.toThrow('--docs /nonexistent.7: no such file');
    expect(existsSync(path.join(cache, '9.9'))).toBe(false);
  });
});

describe('add-qemu --from-qemu', () => {
  it('adds a release from a binary: QMP from its introspection, its report against the next', async () => {
    const { root, cache } = scratch();
    // Take 7.2 out, then add it back from Debian's binary.
    const versions = path.join(root, 'scripts/qemu-versions');
    writeFileSync(versions, readFileSync(versions, 'utf8').replace(/^7\.2\t.*\n/m, ''));
    rmSync(path.join(cache, '7.2'));
    const r = await addQemu({ version: '7.2', fromQemu: 'qemu-system-x86_64', root, cacheDir: cache, log: quiet });
    expect(readFileSync(versions, 'utf8')).toMatch(/^7\.2\t7\.2\.\d+\tlocal:qemu\n10\.0\t/m);
    // QMP only: the guest agent's and the storage daemon's 7.2 SDKs are gone with the source.
    expect(existsSync(path.join(root, 'generated/qemu-7.2/index.ts'))).toBe(true);
    expect(existsSync(path.join(root, 'generated/qga-7.2'))).toBe(false);
    expect(existsSync(path.join(root, 'generated/qsd-7.2'))).toBe(false);
    expect(r.report).toBeUndefined(); // the oldest: nothing before it
    const report = readFileSync(path.join(root, 'docs/releases/7.2-to-10.0.md'), 'utf8');
    expect(report).toContain('- `query-audiodevs`');
    expect(report).not.toContain('## Guest agent');
  }, 120_000);
});
