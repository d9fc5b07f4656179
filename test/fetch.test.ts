/** scripts/fetch-qemu.sh: instant when cached, a clear error for what it can't deliver. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_VERSIONS, ROOT, requireSources } from './support/qemu-sources.js';

const script = path.join(ROOT, 'scripts/fetch-qemu.sh');

describe('fetch-qemu.sh', () => {
  it('is instant for versions already in the cache', () => {
    for (const v of ALL_VERSIONS) requireSources(v);
    const t0 = Date.now();
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('documents its sources and options in --help', () => {
    const r = spawnSync('bash', [script, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const word of ['--source auto|debian|upstream', '--from-tree PATH', '--compare', 'QAPI_TS_QEMU_MIRROR'])
      expect(r.stdout).toContain(word);
    expect(spawnSync('bash', [script, '--bogus'], { encoding: 'utf8' }).stderr).toMatch(/unknown option --bogus/);
  });

  it('names the known versions when asked for an unknown one', () => {
    const r = spawnSync('bash', [script, '9.9'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown QEMU version '9\.9' \(known: 7\.2 10\.0 10\.2/);
  });
});

describe('fetch-qemu.sh when apt cannot deliver', () => {
  it('fails with a clear message instead of a partial cache', async () => {
    const { mkdtempSync, writeFileSync, existsSync, readdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-fetch-'));
    try {
      writeFileSync(path.join(dir, 'versions'), '0.1\t1:0.1+nonexistent-0\n');
      const r = spawnSync('bash', [script, '0.1'], {
        encoding: 'utf8',
        env: { ...process.env, QAPI_TS_VERSIONS: path.join(dir, 'versions'), QAPI_TS_CACHE: path.join(dir, 'cache') },
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/apt could not deliver the source of qemu=1:0\.1\+nonexistent-0/);
      // Without an upstream pin there is nothing else to try: it says where else the sources can come from.
      expect(r.stderr).toContain('pins no upstream tarball for QEMU 0.1: fetch it from a QEMU 0.1.0 source tree');
      expect(existsSync(path.join(dir, 'cache/0.1/.complete'))).toBe(false);
      expect(readdirSync(path.join(dir, 'cache'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
