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

  it('names the known versions when asked for an unknown one', () => {
    const r = spawnSync('bash', [script, '9.9'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown QEMU version '9\.9' \(known: 7\.2 10\.0 10\.2/);
  });
});

describe('fetch-qemu.sh when apt cannot deliver', () => {
  it('fails with a clear message instead of a partial cache', async () => {
    const { mkdtempSync, writeFileSync, existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-fetch-'));
    writeFileSync(path.join(dir, 'versions'), '0.1\t1:0.1+nonexistent-0\n');
    const r = spawnSync('bash', [script, '0.1'], {
      encoding: 'utf8',
      env: { ...process.env, QAPI_TS_VERSIONS: path.join(dir, 'versions'), QAPI_TS_CACHE: path.join(dir, 'cache') },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/apt could not deliver the source of qemu=1:0\.1\+nonexistent-0/);
    expect(existsSync(path.join(dir, 'cache/0.1/.complete'))).toBe(false);
  });
});
