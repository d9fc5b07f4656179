/**
 * The README's SDK example runs as written against a real QEMU 7.2
 * (-M pc -S -nodefaults), with its paths pointed at a private temp dir.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';

function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('## The SDK');
  const start = readme.indexOf('```ts\n', at) + 6;
  return readme.slice(start, readme.indexOf('```\n', start));
}

describe('README example', () => {
  let qemu: QemuProcess | undefined;
  afterAll(async () => void (await qemu?.kill()));

  it('runs as written', async () => {
    const dir = tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'd1.qcow2'), '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path.join(dir, 'backup.raw'), '16M']);
    qemu = await startQemu({ machine: 'pc', args: ['-S'] });
    const code = readmeExample().replaceAll("'/tmp/", `'${dir}/`).replaceAll('/run/vm.qmp', qemu.qmpPath);
    // Inside the package, so that 'qapi-ts' resolves to this package (its exports and dist/).
    const scratch = path.join(ROOT, '.cache/examples');
    mkdirSync(scratch, { recursive: true });
    const file = path.join(scratch, 'readme-example.mjs');
    writeFileSync(file, code);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/major: 7/);
    expect(r.stdout).toMatch(/^prelaunch false$/m);
    expect(r.stdout).toMatch(/^backed up 16777216 of 16777216 bytes$/m);
    expect(r.stdout).toMatch(/d1: .*d1\.qcow2/);
    expect(r.stdout).toMatch(/^CommandNotFound /m);
  });
});
