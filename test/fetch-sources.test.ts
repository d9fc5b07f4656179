/**
 * scripts/fetch-qemu.sh beyond Debian: QEMU's release tarballs (pinned by
 * sha256 in scripts/qemu-versions) and local source trees. No network: the
 * tarball is built here from the Debian-fetched 10.2 sources, with upstream's
 * layout (qemu-10.2.2/...), and served from a local mirror folder. Every fetch
 * goes to a temp cache; the real one is only read.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
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
function fetch(args: string[], env: Record<string, string>, cwd?: string): SpawnSyncReturns<string> {
  return spawnSync('bash', [script, ...args], { encoding: 'utf8', cwd, env: { ...process.env, ...CLEAN, ...env } });
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
function tarball(dir: string, full: string, out: string, extra: string[] = []): string {
  mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync(
    'tar',
    [
      '-C',
      path.dirname(dir),
      '--exclude=.complete',
      '--transform',
      `s,^${path.basename(dir).replace(/\./g, '\\.')},qemu-${full},`,
      ...extra,
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
    expect(r.stdout).toContain('  qapi/qapi-schema.json differs\n');
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

/**
 * A tiny QEMU FULL tree (the four files every source release has, and what `files` adds), with no
 * docs/ or python/: patterns of fetch-qemu.sh's that match nothing in it are no error.
 */
function miniTree(full: string, files: Record<string, string> = {}): string {
  const dir = path.join(temp(), `qemu-${full}`);
  const all: Record<string, string> = {
    'qapi/qapi-schema.json': "{ 'include': 'block-core.json' }\n",
    'qapi/block-core.json': "{ 'command': 'x' }\n",
    'qga/qapi-schema.json': "{ 'command': 'guest-ping' }\n",
    'storage-daemon/qapi/qapi-schema.json': "{ 'include': '../../qapi/block-core.json' }\n",
    VERSION: `${full}\n`,
    ...files,
  };
  for (const [f, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

/** A mirror folder with `dir` as qemu-9.1.0.tar.xz, and a versions file pinning it (QEMU 9.1). */
function mirrored(dir: string, extra: string[] = []): { mirror: string; versions: string; hash: string } {
  const mirror = path.join(temp(), 'mirror');
  const hash = tarball(dir, '9.1.0', path.join(mirror, 'qemu-9.1.0.tar.xz'), extra);
  const versions = path.join(temp(), 'versions');
  writeFileSync(versions, `# QEMU 9.1, from a test mirror\n9.1\t1:9.1+ds-1\tupstream:9.1.0#sha256=${hash}\n`);
  return { mirror, versions, hash };
}

const listed = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('fetch-qemu.sh: failures install nothing', () => {
  it('fails on a write error while extracting (ulimit -f: a truncated file), installing nothing', () => {
    // 3 MB of schema, a few hundred bytes of tarball: the file size limit (1000 KiB) stops the extraction only.
    const big = '# a big schema file\n'.repeat(150_000);
    const { mirror, versions } = mirrored(miniTree('9.1.0', { 'qapi/block-core.json': big }));
    const cache = path.join(temp(), 'cache');
    const vars = { QAPI_TS_VERSIONS: versions, QAPI_TS_CACHE: cache, QAPI_TS_QEMU_MIRROR: mirror };
    const limited = spawnSync(
      'bash',
      ['-c', `trap '' XFSZ; ulimit -f 1000; exec bash "$0" --source upstream 9.1`, script],
      { encoding: 'utf8', env: { ...process.env, ...CLEAN, ...vars } },
    );
    expect(limited.status, limited.stderr).toBe(1);
    expect(limited.stderr).toContain('fetch-qemu: could not extract qemu-9.1.0.tar.xz:\n  tar: qapi/block-core.json:');
    expect(limited.stderr).toContain('\nnothing was installed\n');
    expect(listed(cache)).toEqual([]);
    // Without the limit: the whole file (the patterns this tree has nothing for are no error).
    const r = fetch(['--source', 'upstream', '9.1'], vars);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(path.join(cache, '9.1/qapi/block-core.json'), 'utf8')).toBe(big);
  });

  it('refuses a tarball holding a symbolic link, naming it; takes no owner or setuid mode from one', () => {
    const tree = miniTree('9.1.0');
    symlinkSync('/etc/passwd', path.join(tree, 'qapi/evil.json'));
    const linked = mirrored(tree);
    const cache = path.join(temp(), 'cache');
    const env = { QAPI_TS_CACHE: cache, QAPI_TS_QEMU_MIRROR: linked.mirror };
    const r = fetch(['--source', 'upstream', '9.1'], { ...env, QAPI_TS_VERSIONS: linked.versions });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      'fetch-qemu: qemu-9.1.0.tar.xz holds what is neither a file nor a folder (symbolic links are not taken):\n' +
        '  qapi/evil.json -> /etc/passwd\nnothing was installed\n',
    );
    expect(listed(cache)).toEqual([]);
    // Another owner's setuid file: extracted as the user's, without the setuid bit.
    rmSync(path.join(tree, 'qapi/evil.json'));
    writeFileSync(path.join(tree, 'qapi/tool.json'), '{}\n');
    const owned = mirrored(tree, ['--owner=1234', '--group=1234', '--mode=u+s,g+s']);
    const ok = fetch(['--source', 'upstream', '9.1'], {
      ...env,
      QAPI_TS_VERSIONS: owned.versions,
      QAPI_TS_QEMU_MIRROR: owned.mirror,
    });
    expect(ok.status, ok.stderr).toBe(0);
    const st = statSync(path.join(cache, '9.1/qapi/tool.json'));
    expect(st.mode & 0o6000).toBe(0);
    expect(st.uid).toBe(process.getuid?.());
  });

  it('refuses a source tree holding a symbolic link (--from-tree), naming it', () => {
    const tree = miniTree('9.1.0');
    symlinkSync('/etc/passwd', path.join(tree, 'qapi/evil.json'));
    const versions = path.join(temp(), 'versions');
    writeFileSync(versions, '9.1\t1:9.1+ds-1\n');
    const cache = path.join(temp(), 'cache');
    const r = fetch(['--from-tree', tree], { QAPI_TS_VERSIONS: versions, QAPI_TS_CACHE: cache });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('fetch-qemu: the tree holds what is neither a file nor a folder');
    expect(r.stderr).toContain('  qapi/evil.json -> /etc/passwd\nnothing was installed\n');
    expect(listed(cache)).toEqual([]);
  });

  it('says plainly when a tarball has no VERSION file (no shell noise)', () => {
    const tree = miniTree('9.1.0');
    rmSync(path.join(tree, 'VERSION'));
    const { mirror, versions } = mirrored(tree);
    const cache = path.join(temp(), 'cache');
    const r = fetch(['--source', 'upstream', '9.1'], {
      QAPI_TS_VERSIONS: versions,
      QAPI_TS_CACHE: cache,
      QAPI_TS_QEMU_MIRROR: mirror,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `fetch-qemu: downloading ${mirror}/qemu-9.1.0.tar.xz\nfetch-qemu: qemu-9.1.0.tar.xz: its VERSION file says nothing, not 9.1.0\n`,
    );
    expect(listed(cache)).toEqual([]);
  });

  // apt-get is faked: it must never be run (an unusable $TMPDIR once had it run in the current folder).
  it.skipIf(!existsSync('/etc/apt/sources.list.d/qapi-ts-deb-src.sources'))(
    'stops when no temp folder can be made ($TMPDIR), before apt-get runs anywhere',
    () => {
      const bin = path.join(temp(), 'bin');
      const called = path.join(temp(), 'called');
      mkdirSync(bin);
      writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh\necho "$PWD $*" >> '${called}'\nexit 1\n`, { mode: 0o755 });
      const versions = path.join(temp(), 'versions');
      writeFileSync(versions, '9.1\t1:9.1+ds-1\n');
      const cwd = temp();
      const cache = path.join(temp(), 'cache');
      const r = fetch(
        ['--source', 'debian', '9.1'],
        {
          PATH: `${bin}:${process.env.PATH}`,
          TMPDIR: '/nonexistent',
          QAPI_TS_VERSIONS: versions,
          QAPI_TS_CACHE: cache,
        },
        cwd,
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('fetch-qemu: could not create a temp folder in /nonexistent ($TMPDIR)');
      expect(existsSync(called)).toBe(false);
      expect(readdirSync(cwd)).toEqual([]);
      expect(listed(cache)).toEqual([]);
    },
  );
});

describe('fetch-qemu.sh: two fetches at once', () => {
  it('into one cache: one fills each release, the other takes it as done', async () => {
    const { mirror, versions, hash } = mirrored(miniTree('9.1.0'));
    const run = (cache: string) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn('bash', [script, '--source', 'upstream'], {
          env: {
            ...process.env,
            ...CLEAN,
            QAPI_TS_VERSIONS: versions,
            QAPI_TS_CACHE: cache,
            QAPI_TS_QEMU_MIRROR: `file://${mirror}`,
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (status) => resolve({ status, stderr }));
      });
    for (let round = 0; round < 6; round++) {
      const cache = path.join(temp(), 'cache');
      const results = await Promise.all([run(cache), run(cache), run(cache)]);
      for (const r of results) expect(r.status, r.stderr).toBe(0);
      // Exactly one of them fetched (the others found it complete once the lock was theirs).
      expect(results.filter((r) => r.stderr.includes('9.1 ready in')).length).toBe(1);
      expect(readdirSync(cache)).toEqual(['9.1']);
      expect(readdirSync(path.join(cache, '9.1')).sort()).toEqual([
        '.complete',
        'VERSION',
        'qapi',
        'qga',
        'storage-daemon',
      ]);
      expect(readFileSync(path.join(cache, '9.1/.complete'), 'utf8')).toBe(`upstream:9.1.0#sha256=${hash}\n`);
    }
  }, 30_000);
});

describe('fetch-qemu.sh --compare', () => {
  it('reads a cache whose path holds any character, and lists what differs by relative path', () => {
    const { mirror, versions } = mirrored(miniTree('9.1.0'));
    const cache = path.join(temp(), 'a|b&c', 'cache');
    const env = { QAPI_TS_VERSIONS: versions, QAPI_TS_CACHE: cache, QAPI_TS_QEMU_MIRROR: mirror };
    const r = fetch(['--source', 'upstream', '9.1'], env);
    expect(r.status, r.stderr).toBe(0);
    const same = fetch(['--compare', '9.1'], env);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).toContain(`the schemas in ${cache}/9.1 (upstream:9.1.0#sha256=`);
    expect(same.stdout).toContain("are qemu-9.1.0.tar.xz's, byte for byte\n");
    const dest = path.join(cache, '9.1');
    writeFileSync(path.join(dest, 'qapi/block-core.json'), '# changed\n', { flag: 'a' });
    writeFileSync(path.join(dest, 'qga/extra.json'), '{}\n');
    rmSync(path.join(dest, 'storage-daemon/qapi/qapi-schema.json'));
    const differ = fetch(['--compare', '9.1'], env);
    expect(differ.status).toBe(1);
    expect(differ.stdout.split('\n').slice(1)).toEqual([
      '  qapi/block-core.json differs',
      '  qga/extra.json: only in the cache',
      '  storage-daemon/qapi/qapi-schema.json: only in qemu-9.1.0.tar.xz',
      '',
    ]);
  });
});

describe('scripts/qemu-versions: one set of rules, TypeScript and shell alike', () => {
  const committed = readFileSync(path.join(ROOT, 'scripts/qemu-versions'), 'utf8');
  const pin = `upstream:9.1.3#sha256=${'a'.repeat(64)}`;
  /** Both readers of `text`: TypeScript's result or error, the shell's --list or error. */
  function both(text: string): { file: string; ts: string; shell: SpawnSyncReturns<string> } {
    const file = path.join(temp(), 'versions');
    writeFileSync(file, text);
    let ts: string;
    try {
      ts = JSON.stringify(supportedReleases(file));
    } catch (e) {
      ts = `error: ${(e as Error).message}`;
    }
    return { file, ts, shell: fetch(['--list'], { QAPI_TS_VERSIONS: file }) };
  }

  it('rejects a malformed line with the same message naming file:line, and fetches nothing', () => {
    const cases: [string, number, string][] = [
      ['9.1\n', 1, "QEMU 9.1: bad or missing package version '' (expected a Debian version, such as 1:10.2.2+ds-1)"],
      ['# c\n11.1\tbin:sid\n', 2, "QEMU 11.1: bad or missing package version 'bin:sid'"],
      ['../victim\t1:7.2+dfsg-7\n', 1, "bad version '../victim' (expected MAJOR.MINOR, such as 10.2)"],
      ['10\t1:10.0+ds-1\n', 1, "bad version '10'"],
      [' #9.1\t1:9.1+ds-1\n', 1, "bad version '#9.1'"],
      ['9.1\t1:9.1+ds-1\n\n9.1\t1:9.1+ds-2\n', 3, 'QEMU 9.1: listed twice (also on line 1)'],
      ['9.1\t1:9.1+ds-1\tfrom:elsewhere\n', 1, "QEMU 9.1: unknown source 'from:elsewhere'"],
      ['9.1\t1:9.1+ds-1\tbin:\n', 1, "QEMU 9.1: unknown source 'bin:'"],
      ['9.1\t1:9.1+ds-1\tbin:sid\tbin:trixie\n', 1, "QEMU 9.1: unexpected 'bin:trixie' after 'bin:sid'"],
      [`9.1\t1:9.1+ds-1\t${pin}\t${pin}\n`, 1, `QEMU 9.1: bad upstream pin '${pin}'`],
      [`9.1\t1:9.1+ds-1\t${pin.replace('9.1.3', '9.2.0')}\n`, 1, 'QEMU 9.1: bad upstream pin'],
      ['9.1\t1:9.1+ds-1\tupstream:9.1.3#sha256=abc\n', 1, 'QEMU 9.1: bad upstream pin'],
      [`9.1\t1:9.1+ds-1\tupstream:9.1.3#sha256=${'A'.repeat(64)}\n`, 1, 'QEMU 9.1: bad upstream pin'],
      [
        `9.1\t1:9.1+ds-1\tbin:sid\t${pin}\n`,
        1,
        "QEMU 9.1: an upstream pin goes with Debian's source package, not with bin:sid",
      ],
    ];
    for (const [text, line, message] of cases) {
      const { file, ts, shell } = both(text);
      expect(ts, text).toMatch(/^error: /);
      expect(ts.startsWith(`error: ${file}:${line}: ${message}`), `${text}: ${ts}`).toBe(true);
      expect(shell.status, text).toBe(1);
      expect(shell.stdout, text).toBe('');
      // The very same message.
      expect(shell.stderr, text).toBe(`fetch-qemu: ${ts.slice('error: '.length)}\n`);
    }
    // A fetch reads the same rules: nothing is fetched, no path is made of a bad version.
    const { file } = both('7.2\t1:7.2+dfsg-7\n../victim\t1:7.2+dfsg-7\n');
    const dir = temp();
    const r = fetch([], { QAPI_TS_VERSIONS: file, QAPI_TS_CACHE: path.join(dir, 'cache') });
    expect([r.status, r.stderr]).toEqual([
      1,
      `fetch-qemu: ${file}:2: bad version '../victim' (expected MAJOR.MINOR, such as 10.2)\n`,
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reads the committed file, and the same with CRLF line ends, alike', () => {
    const lf = both(committed);
    const crlf = both(committed.replace(/\n/g, '\r\n'));
    expect(lf.ts).not.toMatch(/^error/);
    expect(crlf.ts).toBe(lf.ts);
    expect(lf.shell.status, lf.shell.stderr).toBe(0);
    expect(crlf.shell.status, crlf.shell.stderr).toBe(0);
    expect(crlf.shell.stdout).toBe(lf.shell.stdout);
    expect(lf.shell.stdout.trim().split('\n')).toHaveLength(JSON.parse(lf.ts).length);
  });
});
