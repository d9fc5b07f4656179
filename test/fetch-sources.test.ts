/**
 * scripts/fetch-qemu.sh beyond Debian: QEMU's release tarballs (pinned by
 * sha256 in scripts/qemu-versions) and local source trees. No network: the
 * tarball is built here from the Debian-fetched 10.2 sources, with upstream's
 * layout (qemu-10.2.2/...), and served from a local mirror folder. Every fetch
 * goes to a temp cache; the real one is only read.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles } from '../codegen/emit/output.js';
import { generateAll, supportedReleases } from '../codegen/generate.js';
import { ALL_VERSIONS, CACHE, requireSources, ROOT } from './support/qemu-sources.js';

const script = path.join(ROOT, 'scripts/fetch-qemu.sh');
const temps: string[] = [];
function temp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-sources-'));
  temps.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The choices a user's environment may make, unmade. */
const CLEAN = { QAPI_TS_QEMU_SOURCE: '', QAPI_TS_QEMU_TREE: '', QAPI_TS_QEMU_MIRROR: '' };
function fetch(args: string[], env: Record<string, string>): SpawnSyncReturns<string> {
  return spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, ...CLEAN, ...env } });
}

/** The files the generator reads, relative to a cache folder. */
const SCHEMA_DIRS = ['qapi', 'qga', 'storage-daemon/qapi'];
function schemaFiles(dir: string): string[] {
  return [...SCHEMA_DIRS.flatMap((d) => listFiles(path.join(dir, d)).map((f) => `${d}/${f}`)), 'VERSION'].sort();
}
function sameSchemas(a: string, b: string): void {
  const files = schemaFiles(a);
  expect(files).toEqual(schemaFiles(b));
  expect(files.length).toBeGreaterThan(40);
  expect(files.filter((f) => !readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f))))).toEqual([]);
}

/** A .tar.xz with upstream's layout (qemu-FULL/...) of `dir`, left out `.complete`. */
function tarball(dir: string, full: string, out: string): string {
  mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync(
    'tar',
    [
      '-C',
      path.dirname(dir),
      '--exclude=.complete',
      '--transform',
      `s,^${path.basename(dir).replace(/\./g, '\\.')},qemu-${full},`,
      '-cJf',
      out,
      path.basename(dir),
    ],
    { encoding: 'utf8', env: { ...process.env, XZ_OPT: '-0' } },
  );
  expect(r.status, r.stderr).toBe(0);
  return sha256(out);
}

describe('scripts/qemu-versions', () => {
  it('pins the upstream tarballs of 7.2 and 10.2 (10.0: none found to trust), read alike by TypeScript and the shell', () => {
    const releases = supportedReleases();
    const pin = (v: string) => releases.find((r) => r.version === v)?.upstream;
    expect(pin('7.2')).toEqual({
      version: '7.2.0',
      sha256: '5b49ce2687744dad494ae90a898c52204a3406e84d072482a1e1be854eeb2157',
    });
    expect(pin('10.0')).toBeUndefined();
    expect(pin('10.2')).toEqual({
      version: '10.2.2',
      sha256: '784b296ff29c1417aa72323abcb2d2ea9ab9771724f577dcd785c3b04f21e176',
    });
    const listed = fetch(['--list'], {});
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual(
      releases.map(
        (r) =>
          `${r.version} ${r.package} ${r.column ?? '-'} ${r.upstream ? `${r.upstream.version}#sha256=${r.upstream.sha256}` : '-'}`,
      ),
    );
  });

  it('takes the older lines as they were, and rejects a malformed pin', () => {
    const file = path.join(temp(), 'versions');
    const parse = (text: string) => {
      writeFileSync(file, text);
      return supportedReleases(file);
    };
    expect(parse('# a comment\n9.1\t1:9.1+ds-1\n9.2\t9.2.0\tlocal:source\n')).toEqual([
      { version: '9.1', from: 'source', package: '1:9.1+ds-1', column: undefined },
      { version: '9.2', from: 'source', package: '9.2.0', column: 'local:source' },
    ]);
    expect(parse(`9.1 1:9.1+ds-1 upstream:9.1.3#sha256=${'a'.repeat(64)}\n`)[0].upstream).toEqual({
      version: '9.1.3',
      sha256: 'a'.repeat(64),
    });
    expect(() => parse(`9.1 1:9.1+ds-1 upstream:9.2.0#sha256=${'a'.repeat(64)}\n`)).toThrow(/bad upstream pin/);
    expect(() => parse('9.1 1:9.1+ds-1 upstream:9.1.3#sha256=abc\n')).toThrow(/bad upstream pin/);
    expect(() => parse(`9.1 1:9.1+ds-1 bin:sid upstream:9.1.3#sha256=${'a'.repeat(64)}\n`)).toThrow(
      /goes with Debian's source package, not with bin:sid/,
    );
    expect(() => parse('9.1 1:9.1+ds-1 bin:sid bin:trixie\n')).toThrow(/unexpected 'bin:trixie'/);
  });
});

describe('fetch-qemu.sh --source upstream (a release tarball from a mirror)', () => {
  let dir: string;
  let mirror: string;
  let versions: string;
  let hash: string;
  beforeAll(() => {
    requireSources('10.2');
    dir = temp();
    mirror = path.join(dir, 'mirror');
    hash = tarball(path.join(CACHE, '10.2'), '10.2.2', path.join(mirror, 'qemu-10.2.2.tar.xz'));
    // scripts/qemu-versions with the local tarball's digest as 10.2's pin.
    versions = path.join(dir, 'versions');
    writeFileSync(
      versions,
      readFileSync(path.join(ROOT, 'scripts/qemu-versions'), 'utf8').replace(
        /^(10\.2\t\S+).*$/m,
        `$1\tupstream:10.2.2#sha256=${hash}`,
      ),
    );
  });

  it('verifies the tarball, then keeps the same files as from Debian; the SDKs are generated/ byte for byte', () => {
    const cache = path.join(dir, 'cache');
    const r = fetch(['--source', 'upstream', '10.2'], {
      QAPI_TS_VERSIONS: versions,
      QAPI_TS_CACHE: cache,
      QAPI_TS_QEMU_MIRROR: `file://${mirror}`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`downloading file://${mirror}/qemu-10.2.2.tar.xz`);
    expect(r.stderr).toContain('10.2 ready in');
    expect(r.stderr).toContain('sha256 checked');
    expect(readFileSync(path.join(cache, '10.2/.complete'), 'utf8')).toBe(`upstream:10.2.2#sha256=${hash}\n`);
    expect(readdirSync(cache)).toEqual(['10.2']);
    sameSchemas(path.join(cache, '10.2'), path.join(CACHE, '10.2'));
    // Fetched again: instant, from the cache.
    const again = fetch(['10.2'], { QAPI_TS_VERSIONS: versions, QAPI_TS_CACHE: cache });
    expect([again.status, again.stderr]).toEqual([0, '']);

    // Every release is generated (each one's docs say when things appeared among all of them): the
    // others from the real cache, read only (11.1's folder is copied: generation writes its
    // introspection back as schema source next to it).
    for (const v of ALL_VERSIONS) requireSources(v);
    for (const v of ALL_VERSIONS.filter((x) => x !== '10.2')) {
      if (v === '11.1') cpSync(path.join(CACHE, v), path.join(cache, v), { recursive: true });
      else symlinkSync(path.join(CACHE, v), path.join(cache, v));
    }
    const out = temp();
    generateAll({ outDir: out, cacheDir: cache, versionsFile: versions, runtime: { relativeDir: '../../runtime' } });
    for (const sdk of ['qemu-10.2', 'qga-10.2', 'qsd-10.2']) {
      const files = listFiles(path.join(out, sdk));
      expect(files, sdk).toEqual(listFiles(path.join(ROOT, 'generated', sdk)));
      const differ = files.filter(
        (f) => !readFileSync(path.join(out, sdk, f)).equals(readFileSync(path.join(ROOT, 'generated', sdk, f))),
      );
      expect(differ, `${sdk} from the upstream tarball vs generated/`).toEqual([]);
    }
  }, 120_000);

  it('fails on a wrong sha256, naming the file and both digests, and leaves nothing', () => {
    const cache = path.join(temp(), 'cache');
    const wrong = hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const bad = path.join(temp(), 'versions');
    writeFileSync(bad, readFileSync(versions, 'utf8').replace(hash, wrong));
    // A plain folder as the mirror works too.
    const r = fetch(['--source', 'upstream', '10.2'], {
      QAPI_TS_VERSIONS: bad,
      QAPI_TS_CACHE: cache,
      QAPI_TS_QEMU_MIRROR: mirror,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `qemu-10.2.2.tar.xz: sha256 mismatch: expected ${wrong} (scripts/qemu-versions), got ${hash}`,
    );
    expect(r.stderr).toContain('nothing was extracted');
    expect(readdirSync(cache)).toEqual([]);
  });

  it('says so for a release without a pin, and for one from binary packages', () => {
    const cache = path.join(temp(), 'cache');
    const r = fetch(['--source', 'upstream', '10.0', '11.1'], {
      QAPI_TS_VERSIONS: versions,
      QAPI_TS_CACHE: cache,
      QAPI_TS_QEMU_MIRROR: mirror,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('QEMU 10.0: scripts/qemu-versions pins no upstream tarball for it');
    expect(r.stderr).toContain('--from-tree PATH');
    expect(r.stderr).toContain("QEMU 11.1 comes from Debian sid's binary packages");
    expect(r.stderr).toContain('not done: 10.0 11.1');
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('is what auto takes where there is no apt-get', () => {
    // This machine's tools without apt-get.
    const bin = path.join(temp(), 'bin');
    mkdirSync(bin);
    for (const d of ['/usr/local/bin', '/usr/bin', '/bin'].filter(existsSync))
      for (const f of readdirSync(d))
        if (f !== 'apt-get' && !existsSync(path.join(bin, f))) symlinkSync(path.join(d, f), path.join(bin, f));
    const cache = path.join(temp(), 'cache');
    const r = spawnSync('/bin/bash', [script, '10.2'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        ...CLEAN,
        PATH: bin,
        QAPI_TS_VERSIONS: versions,
        QAPI_TS_CACHE: cache,
        QAPI_TS_QEMU_MIRROR: mirror,
      },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "10.2: Debian's source package cannot be had here: apt-get is not available here; using QEMU's release tarball instead",
    );
    expect(readFileSync(path.join(cache, '10.2/.complete'), 'utf8')).toBe(`upstream:10.2.2#sha256=${hash}\n`);
  });

  it('--compare lists the schema files a cache does not share with the tarball', () => {
    const same = fetch(['--compare', '10.2'], { QAPI_TS_VERSIONS: versions, QAPI_TS_QEMU_MIRROR: mirror });
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toBe(
      `fetch-qemu: 10.2: the schemas in ${path.join(CACHE, '10.2')} (1:10.2.2+ds-1) are qemu-10.2.2.tar.xz's, byte for byte\n`,
    );
    // A tarball whose qapi-schema.json differs (pinned with its own digest).
    const tree = path.join(temp(), '10.2');
    for (const f of [...SCHEMA_DIRS, 'VERSION'])
      cpSync(path.join(CACHE, '10.2', f), path.join(tree, f), { recursive: true });
    writeFileSync(path.join(tree, 'qapi/qapi-schema.json'), '# changed\n', { flag: 'a' });
    const other = path.join(temp(), 'mirror');
    const changed = tarball(tree, '10.2.2', path.join(other, 'qemu-10.2.2.tar.xz'));
    const pinned = path.join(temp(), 'versions');
    writeFileSync(pinned, readFileSync(versions, 'utf8').replace(hash, changed));
    const r = fetch(['--compare', '10.2'], { QAPI_TS_VERSIONS: pinned, QAPI_TS_QEMU_MIRROR: other });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      `10.2: the schemas in ${path.join(CACHE, '10.2')} (1:10.2.2+ds-1) differ from qemu-10.2.2.tar.xz's:`,
    );
    expect(r.stdout).toContain('  Files qapi/qapi-schema.json and qapi/qapi-schema.json differ\n');
  });
});

describe('fetch-qemu.sh --from-tree (a local QEMU source tree)', () => {
  it('takes the schemas of a tree of the very release; a plain fetch keeps them', () => {
    requireSources('10.2');
    const cache = path.join(temp(), 'cache');
    // The Debian-fetched 10.2 folder is a QEMU 10.2.2 tree (read only).
    const r = fetch(['--from-tree', path.join(CACHE, '10.2')], { QAPI_TS_CACHE: cache });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/10\.2 ready in .* \(from the QEMU 10\.2\.2 tree /);
    expect(readFileSync(path.join(cache, '10.2/.complete'), 'utf8')).toBe('tree:10.2.2\n');
    sameSchemas(path.join(cache, '10.2'), path.join(CACHE, '10.2'));
    const again = fetch(['10.2'], { QAPI_TS_CACHE: cache });
    expect([again.status, again.stderr]).toEqual([0, '']);
    // 7.2's line pins 7.2.0, the release Debian's 1:7.2+dfsg is (its package says 7.2).
    requireSources('7.2');
    const old = fetch(['--from-tree', path.join(CACHE, '7.2')], { QAPI_TS_CACHE: cache });
    expect(old.status, old.stderr).toBe(0);
    expect(readFileSync(path.join(cache, '7.2/.complete'), 'utf8')).toBe('tree:7.2.0\n');
    sameSchemas(path.join(cache, '7.2'), path.join(CACHE, '7.2'));
  });

  it('refuses a tree of another release, or no tree, leaving nothing', () => {
    requireSources('10.2');
    const cache = path.join(temp(), 'cache');
    const tree = path.join(temp(), 'qemu');
    cpSync(path.join(CACHE, '10.2', 'qapi'), path.join(tree, 'qapi'), { recursive: true });
    writeFileSync(path.join(tree, 'VERSION'), '10.2.1\n');
    const other = fetch(['--from-tree', tree], { QAPI_TS_CACHE: cache, QAPI_TS_QEMU_TREE: '' });
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(
      `--from-tree ${tree}: that tree is QEMU 10.2.1, but scripts/qemu-versions has QEMU 10.2 as 10.2.2`,
    );
    writeFileSync(path.join(tree, 'VERSION'), '10.2.50\n');
    expect(fetch(['--from-tree', tree, '10.2'], { QAPI_TS_CACHE: cache }).stderr).toContain(
      'that tree is QEMU 10.2.50',
    );
    rmSync(path.join(tree, 'VERSION'));
    const none = fetch(['--from-tree', tree, '10.2'], { QAPI_TS_CACHE: cache });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('not a QEMU source tree (no VERSION file)');
    // The same through the environment.
    const env = fetch(['10.2'], { QAPI_TS_CACHE: cache, QAPI_TS_QEMU_TREE: tree });
    expect(env.stderr).toContain('not a QEMU source tree (no VERSION file)');
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
    // A release from binary packages has no tree to take.
    const bin = fetch(['--from-tree', path.join(CACHE, '10.2'), '11.1'], { QAPI_TS_CACHE: cache });
    expect(bin.stderr).toContain('QEMU 11.1 is listed as bin:sid');
  });
});
