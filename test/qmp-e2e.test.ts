/**
 * The QMP client against a real QEMU 7.2 (Debian's qemu-system-x86), typed
 * with the 7.2 entry point. Each block starts its own throwaway QEMU and
 * always kills it. A missing QEMU fails these tests; it never skips them.
 */
import { execFileSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectQmp, type Client } from '../generated/qemu-7.2/index.js';
import { ConnectionError, QmpError, QmpTimeoutError, QmpUsageError, QmpValidationError } from '../runtime/index.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';

describe('QMP on QEMU 7.2, -machine none', () => {
  let qemu: QemuProcess;
  let qmp: Client;

  beforeAll(async () => {
    qemu = await startQemu();
    qmp = await connectQmp({ path: qemu.qmpPath });
  });
  afterAll(async () => {
    await qmp?.close();
    await qemu?.kill();
  });

  it('reads the greeting and negotiates', () => {
    expect(qmp.greeting.version.qemu).toMatchObject({ major: 7, minor: 2 });
    expect(qmp.greeting.capabilities).toContain('oob');
    expect(qmp.enabled).toEqual(['oob']);
  });

  it('query-status, stop and cont with their STOP and RESUME events', async () => {
    const before = await qmp.execute('query-status');
    expect(before).toMatchObject({ status: 'running', running: true });
    const stopped = qmp.waitForEvent('STOP', undefined, { timeout: 10_000 });
    await qmp.execute('stop');
    const stopEvent = await stopped;
    expect(stopEvent.event).toBe('STOP');
    expect(typeof stopEvent.timestamp.seconds).toBe('number');
    expect((await qmp.cmd.queryStatus()).status).toBe('paused');
    const resumed = qmp.waitForEvent('RESUME', undefined, { timeout: 10_000 });
    await qmp.execute('cont');
    await resumed;
    expect((await qmp.execute('query-status')).running).toBe(true);
  });

  it('rejects with QmpError carrying class, desc, command and id', async () => {
    const e1 = await qmp.executeRaw('no-such-command').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(QmpError);
    expect((e1 as QmpError).class).toBe('CommandNotFound');
    expect((e1 as QmpError).command).toBe('no-such-command');
    expect((e1 as QmpError).id).toEqual(expect.any(Number));
    const e2 = await qmp.execute('blockdev-del', { 'node-name': 'nope' }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(QmpError);
    expect((e2 as QmpError).class).toBe('GenericError');
    expect((e2 as QmpError).desc).toMatch(/nope/);
    expect((e2 as QmpError).args).toEqual({ 'node-name': 'nope' });
  });

  it('validates arguments before sending, naming the path and allowed values', async () => {
    const bad = qmp.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'v1',
      // @ts-expect-error not a valid detect-zeroes value
      'detect-zeroes': 'sometimes',
      file: { driver: 'file', filename: '/nonexistent' },
    });
    const e = await bad.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpValidationError);
    expect((e as QmpValidationError).problems[0]).toMatchObject({
      path: '$.detect-zeroes',
      allowed: ['off', 'on', 'unmap'],
    });
  });

  it('reads a 2^62 + 512 byte null-co node back exactly', async () => {
    const size = 2n ** 62n + 512n;
    await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big', size });
    const nodes = await qmp.execute('query-named-block-nodes');
    const big = nodes.find((n) => n['node-name'] === 'big');
    expect(big?.image['virtual-size']).toBe(size);
    await qmp.execute('blockdev-del', { 'node-name': 'big' });
  });

  it('answers 200 pipelined calls, in order', async () => {
    const settled: number[] = [];
    const calls = Array.from({ length: 200 }, (_, i) =>
      (i % 2 ? qmp.execute('query-status') : qmp.execute('query-name')).then((r) => {
        settled.push(i);
        return r;
      }),
    );
    const results = await Promise.all(calls);
    expect(settled).toEqual([...settled].sort((a, b) => a - b));
    results.forEach((r, i) => {
      if (i % 2) expect(r).toMatchObject({ status: expect.any(String) });
      else expect(r).toEqual({});
    });
  });

  it('times out one call and keeps the connection in step', async () => {
    // qemu-io's sleep runs in the monitor's coroutine: the reply comes after the timeout.
    await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'slow' });
    const slow = qmp.hmp('qemu-io slow "sleep 400"', { timeout: 50 });
    await expect(slow).rejects.toBeInstanceOf(QmpTimeoutError);
    expect((await qmp.execute('query-status')).status).toEqual(expect.any(String));
    expect(qmp.stats.lateReplies).toBe(1);
    await qmp.execute('blockdev-del', { 'node-name': 'slow' });
  });

  it('refuses exec-oob for a command that does not allow it', async () => {
    await expect(qmp.executeOob('query-status')).rejects.toBeInstanceOf(QmpUsageError);
  });
});

describe('QMP hot-plug on QEMU 7.2, -M pc -S -nodefaults', () => {
  let qemu: QemuProcess;
  let qmp: Client;
  const dir = tempDir();
  const image = path.join(dir, 'd1.qcow2');

  beforeAll(async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    qemu = await startQemu({ machine: 'pc', args: ['-S'] });
    qmp = await connectQmp({ path: qemu.qmpPath });
  });
  afterAll(async () => {
    await qmp?.close();
    await qemu?.kill();
  });

  it('adds a qcow2 node and a virtio-blk-pci device that query-block and query-pci show', async () => {
    await qmp.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'd1',
      file: { driver: 'file', filename: image },
    });
    await qmp.cmd.deviceAdd({ driver: 'virtio-blk-pci', drive: 'd1', id: 'vd1' });
    const blocks = await qmp.execute('query-block');
    const disk = blocks.find((b) => b.qdev?.includes('vd1'));
    expect(disk?.inserted?.['node-name']).toBe('d1');
    expect(disk?.inserted?.image.format).toBe('qcow2');
    const pci = await qmp.execute('query-pci');
    const devices = pci.flatMap((bus) => bus.devices);
    expect(devices.some((d) => d.qdev_id === 'vd1')).toBe(true);
  });
});

describe('QMP when QEMU dies, on TCP, with oob', () => {
  const started: QemuProcess[] = [];
  afterEach(async () => {
    for (const q of started.splice(0)) await q.kill();
  });

  it('rejects a pending call with ConnectionError when QEMU is SIGKILLed mid-command', async () => {
    const qemu = await startQemu({ args: ['-blockdev', 'null-co,node-name=n0'] });
    started.push(qemu);
    const qmp = await connectQmp({ path: qemu.qmpPath });
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    const call = qmp.hmp('qemu-io n0 "sleep 5000"');
    const waiter = qmp.waitForEvent('SHUTDOWN');
    waiter.catch(() => undefined);
    setTimeout(() => qemu.child.kill('SIGKILL'), 100);
    const err = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('closed');
    await qmp.closed;
    await expect(qmp.execute('query-status')).rejects.toBeInstanceOf(ConnectionError);
    await new Promise((r) => setTimeout(r, 50));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('connects over TCP on 127.0.0.1', async () => {
    const port = 40000 + Math.floor(Math.random() * 20000);
    const qemu = await startQemu({
      noDefaultMonitor: true,
      args: ['-qmp', `tcp:127.0.0.1:${port},server=on,wait=off`],
    });
    started.push(qemu);
    const deadline = Date.now() + 5000;
    while (!(await portOpen(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const qmp = await connectQmp({ host: '127.0.0.1', port });
    expect((await qmp.execute('query-status')).status).toBe('running');
    await qmp.close();
  });

  it('runs exec-oob on an oob-capable monitor while an in-band command is busy', async () => {
    const qemu = await startQemu({
      noDefaultMonitor: true,
      args: [
        '-object',
        'iothread,id=io0',
        '-blockdev',
        'null-co,node-name=n0',
        '-chardev',
        'socket,id=mon0,path={dir}/oob.sock,server=on,wait=off',
        '-mon',
        'chardev=mon0,mode=control',
      ],
      waitFor: ['{dir}/oob.sock'],
    });
    started.push(qemu);
    const qmp = await connectQmp({ path: path.join(qemu.dir, 'oob.sock') });
    expect(qmp.enabled).toContain('oob');
    // The in-band command sleeps in the main loop; the oob one is answered first, from the monitor's thread.
    const order: string[] = [];
    const busy = qmp.hmp('qemu-io n0 "sleep 1000"').then(() => order.push('in-band'));
    await new Promise((r) => setTimeout(r, 100));
    const yanks = await qmp.executeOob('query-yank');
    order.push('oob');
    expect(Array.isArray(yanks)).toBe(true);
    await busy;
    expect(order).toEqual(['oob', 'in-band']);
    await qmp.close();
  });

  it('times out waiting for a greeting on a monitor that already has a client', async () => {
    const qemu = await startQemu();
    started.push(qemu);
    const first = await connectQmp({ path: qemu.qmpPath });
    const second = connectQmp({ path: qemu.qmpPath }, { connectTimeout: 500 });
    const err = await second.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('greeting-timeout');
    await first.close();
  });

  it('accepts QEMU connecting to us (server mode)', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 'listen.sock');
    const pending = connectQmp({ listen: { path: sock } });
    await new Promise((r) => setTimeout(r, 50));
    const qemu = await startQemu({ noDefaultMonitor: true, args: ['-qmp', `unix:${sock},server=off`] });
    started.push(qemu);
    const qmp = await pending;
    expect((await qmp.execute('query-status')).status).toBe('running');
    await qmp.close();
  });
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
