/**
 * examples/: short programs as a user would write them, each run as written
 * (settings from the environment) against a real peer: QEMU 7.2, qemu-ga,
 * a libvirt domain. They import the package by name, as users do.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectQmp } from '../generated/qemu-7.2/index.js';
import { startAgent } from './support/agent.js';
import { startLibvirt } from './support/libvirt.js';
import { startQemu } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';

function example(name: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'examples', name)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples/', () => {
  it('hotplug-disk.mjs attaches a disk to a PCI machine', async () => {
    const qemu = await startQemu({ machine: 'pc', args: ['-S'] });
    try {
      const disk = path.join(qemu.dir, 'extra.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
      const r = example('hotplug-disk.mjs', { QMP: qemu.qmpPath, DISK: disk });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^attached: .*vd-extra0/m);
    } finally {
      await qemu.kill();
    }
  });

  it('watch-events.mjs prints events as they come', async () => {
    const qemu = await startQemu({
      args: ['-qmp', 'unix:{dir}/qmp2.sock,server=on,wait=off'],
      waitFor: ['{dir}/qmp2.sock'],
    });
    try {
      const child = spawn(process.execPath, [path.join(ROOT, 'examples/watch-events.mjs')], {
        cwd: ROOT,
        env: { ...process.env, QMP: qemu.qmpPath, STOP_AFTER: '2' },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<number | null>((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, 700));
      const other = await connectQmp({ path: path.join(qemu.dir, 'qmp2.sock') });
      await other.execute('stop');
      await other.execute('cont');
      expect(await done).toBe(0);
      await other.close();
      expect(out).toMatch(/^\d{4}-\d\d-\d\dT.*Z STOP/m);
      expect(out).toMatch(/ RESUME/);
    } finally {
      await qemu.kill();
    }
  });

  it('guest-exec.mjs runs a program in the guest (here: qemu-ga on this host, as nobody)', async () => {
    const agent = await startAgent();
    try {
      const r = example('guest-exec.mjs', { QGA: agent.path });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^agent \d+\.\d+/m);
      expect(r.stdout).toMatch(/^exit 0 stdout hello from Linux$/m);
    } finally {
      await agent.kill();
    }
  });

  it('incremental-backup.mjs backs up, incrementally, and restores', async () => {
    const qemu = await startQemu();
    try {
      const disk = path.join(qemu.dir, 'disk0.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
      const setup = await connectQmp({ path: qemu.qmpPath });
      await setup.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'disk0',
        file: { driver: 'file', filename: disk },
      });
      await setup.close();
      const r = example('incremental-backup.mjs', { QMP: qemu.qmpPath, NODE: 'disk0', DIR: qemu.dir });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/restored and verified/);
      expect(existsSync(path.join(qemu.dir, 'restored.qcow2'))).toBe(true);
    } finally {
      await qemu.kill();
    }
  });

  it('feature-probe.mjs asks the QEMU what it has', async () => {
    const qemu = await startQemu();
    try {
      const r = example('feature-probe.mjs', { QMP: qemu.qmpPath });
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^QEMU 7\.2\.\d+, checked against release 7\.2$/),
          'query-accelerators no',
          'blockdev-backup yes',
          'blockdev-add/arg-type/driver/^vvfat yes',
        ]),
      );
    } finally {
      await qemu.kill();
    }
  });

  it('libvirt-status.mjs reaches a libvirt domain and its (absent) agent', async () => {
    const lv = await startLibvirt('qt-example');
    try {
      const r = example('libvirt-status.mjs', { DOMAIN: lv.domain, URI: lv.uri });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('status running\nagent: agent-not-connected\n');
    } finally {
      await lv.stop();
    }
  }, 60_000);
});
