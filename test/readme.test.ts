/**
 * The README's SDK example runs as written against a real QEMU 7.2
 * (-M pc -S -nodefaults), with its paths pointed at a private temp dir.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent } from './support/agent.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';

function readmeExample(section = '## The SDK', fence = '```ts\n'): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(section);
  expect(at, section).toBeGreaterThanOrEqual(0);
  const start = readme.indexOf(fence, at) + fence.length;
  return readme.slice(start, readme.indexOf('```\n', start));
}

/** Runs an example inside the package, so that 'qapi-ts' resolves to this package (its exports and dist/). */
function runExample(
  name: string,
  code: string,
  args: string[] = [],
): { stdout: string; stderr: string; status: number | null } {
  const scratch = path.join(ROOT, '.cache/examples');
  mkdirSync(scratch, { recursive: true });
  const file = path.join(scratch, name);
  writeFileSync(file, code);
  return spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('README first script', () => {
  it('prints what the README says, against a throwaway QEMU 7.2', async () => {
    const qemu = await startQemu();
    try {
      const r = runExample('readme-first.mjs', readmeExample('### Your first script', '```js\n'), [qemu.qmpPath]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe("QEMU 7.2: running\nGenericError: Failed to find node with node-name='nosuch'\n");
    } finally {
      await qemu.kill();
    }
  });
});

describe('README guest-agent example', () => {
  it('runs as written against a real qemu-ga (guest-set-time blocked, as the comment says)', async () => {
    const agent = await startAgent();
    try {
      const code = readmeExample('## The guest agent')
        .replaceAll('/run/vm.qga', agent.path)
        .replaceAll('/tmp/hello.bin', path.join(agent.dir, 'hello.bin'));
      const r = runExample('readme-agent.mjs', code);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.split('\n')).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^7\.2\.\d+$/),
          expect.stringMatching(/^lo 127\.0\.0\.1/),
          '3 Linux oops',
          '<Buffer 00 01 02 ff>',
          'command-disabled CommandNotFound',
        ]),
      );
    } finally {
      await agent.kill();
    }
  });
});

describe('README example', () => {
  let qemu: QemuProcess | undefined;
  afterAll(async () => void (await qemu?.kill()));

  it('runs as written', async () => {
    const dir = tempDir();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'd1.qcow2'), '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path.join(dir, 'backup.raw'), '16M']);
    qemu = await startQemu({ machine: 'pc', args: ['-S'] });
    const code = readmeExample('## The SDK').replaceAll("'/tmp/", `'${dir}/`).replaceAll('/run/vm.qmp', qemu.qmpPath);
    const r = runExample('readme-example.mjs', code);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/major: 7/);
    expect(r.stdout).toMatch(/^prelaunch false$/m);
    expect(r.stdout).toMatch(/^backed up 16777216 of 16777216 bytes$/m);
    expect(r.stdout).toMatch(/d1: .*d1\.qcow2/);
    expect(r.stdout).toMatch(/^CommandNotFound /m);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('README incremental backup example', () => {
  let qemu: QemuProcess | undefined;
  afterAll(async () => void (await qemu?.kill()));

  it('runs as written against QEMU 7.2, and the restored image is the disk', async () => {
    const dir = tempDir();
    try {
      for (const d of ['vm', 'backup', 'restore']) mkdirSync(path.join(dir, d));
      const disk = path.join(dir, 'vm/disk0.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
      execFileSync('qemu-io', ['-c', 'write -P 0x11 0 4M', disk]);
      qemu = await startQemu();
      const code = readmeExample('### Incremental backup in a few lines')
        .replaceAll('/run/vm.qmp', qemu.qmpPath)
        .replaceAll('/var/lib/vm/', `${dir}/vm/`)
        .replaceAll('/backup/', `${dir}/backup/`)
        .replaceAll('/restore/', `${dir}/restore/`);
      const r = runExample('readme-backup.mjs', code);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^statuses: created .*running .*concluded/m);
      expect(r.stdout).toMatch(/^concluded 65536\/65536$/m); // the incremental copied only what changed
      // The disk (QEMU has closed it) and the restored image read the same, byte for byte.
      await qemu.kill();
      qemu = undefined;
      const same = spawnSync('qemu-img', ['compare', disk, path.join(dir, 'restore/disk0.qcow2')]);
      expect(same.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README command-line quick start', () => {
  it('runs as written against a throwaway QEMU (scripts/demo-cli.sh)', () => {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts/demo-cli.sh')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\{"status":"running","singlestep":false,"running":true\}$/m);
    expect(r.stdout).toMatch(/^full backup of disk0 into .*full\.qcow2: 67108864 bytes copied$/m);
    expect(r.stdout).toContain('"name": "daily"');
    expect(r.stderr).toContain("(did you mean 'qcow2'?)");
  });
});

describe('README fake QEMU example', () => {
  it('runs as written, through the package entry point qapi-ts/testing', () => {
    const code = readmeExample('### A fake QEMU for your tests');
    const r = runExample('readme-fake.mjs', code);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/status: 'running'/);
    expect(r.stdout).toMatch(/^paused query-status stop$/m);
  });
});
