/**
 * The hardened core against a real QEMU 7.2: its JSON parser's limits are
 * enforced before sending (QEMU stays up), a flood of id-less errors harms
 * at most one call, and a wedged main loop is visible and escapable.
 * A missing QEMU fails these tests; it never skips them.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectQmp, type Client } from '../generated/qemu-7.2/index.js';
import { QmpError, QmpTimeoutError, QmpUsageError, type StallInfo } from '../runtime/index.js';
import { caught } from './support/fake-qmp.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

const nested = (depth: number): unknown => JSON.parse('['.repeat(depth) + ']'.repeat(depth));

let qemu: QemuProcess | undefined;
let qmp: Client | undefined;
afterEach(async () => {
  await qmp?.close();
  await qemu?.kill();
  qmp = qemu = undefined;
});

describe("QEMU 7.2's JSON parser limits, enforced before sending", () => {
  it('refuses what QEMU would refuse (and abort on, with oob), sends what it reads, and QEMU stays up', async () => {
    qemu = await startQemu();
    qmp = await connectQmp({ path: qemu.qmpPath }, { maxRequestBytes: 64 * 1024 * 1024 });
    expect(qmp.enabled).toEqual(['oob']);
    // 1,100,000 elements: over 2,097,152 tokens. Sent with oob negotiated, QEMU 7.2 aborts.
    const many = await caught(qmp.executeRaw('query-status', { x: Array.from({ length: 1_100_000 }, () => 1) }));
    expect((many as QmpUsageError).code).toBe('too-many-tokens');
    // The envelope and 'arguments' are two levels: 1022 more is QEMU's 1024, and QEMU reads it.
    const deepest = await caught(qmp.executeRaw('query-status', { x: nested(1022) as never }));
    expect(deepest).toBeInstanceOf(QmpError);
    expect((deepest as QmpError).desc).toBe("Parameter 'x' is unexpected");
    expect((deepest as QmpError).id).toEqual(expect.any(Number));
    const deeper = await caught(qmp.executeRaw('query-status', { x: nested(1023) as never }));
    expect((deeper as QmpUsageError).code).toBe('too-deep');
    // NUL is fine for QEMU; noncharacters and unpaired surrogates are not.
    const nul = await caught(qmp.execute('qom-get', { path: 'A\u0000B', property: 'type' }));
    expect((nul as QmpError).class).toBe('DeviceNotFound');
    expect((nul as QmpError).desc).toContain('A\u0000B');
    for (const s of ['A\uffffB', 'A\ufdd0B', 'A\ud800B']) {
      const e = await caught(qmp.execute('qom-get', { path: s, property: 'type' }));
      expect((e as QmpUsageError).code).toBe('unsupported-string');
    }
    expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
    expect(qmp.stats).toMatchObject({ errors: 0, unmatchedReplies: 0 });
    expect(qemu.child.exitCode).toBeNull();
  });
});

describe('a flood of id-less errors from a real QEMU', () => {
  /** A client on a socket the test can also write to, as a confused peer or a second writer would. */
  async function shared(): Promise<{ socket: Socket; qmp: Client }> {
    qemu = await startQemu();
    const socket = netConnect(qemu.qmpPath);
    await new Promise((r) => socket.once('connect', r));
    // oob off: QEMU 7.2 can abort on a parse-error flood with oob negotiated.
    qmp = await connectQmp({ stream: socket }, { oob: false });
    return { socket, qmp };
  }
  // 1,100 levels deep: QEMU answers with about 1,031 errors that carry no id.
  const unreadable = `{"execute":"query-status","arguments":{"x":${'['.repeat(1100)}${']'.repeat(1100)}}}`;

  it('with no call waiting: every error is reported, none reaches a call', async () => {
    const { socket, qmp } = await shared();
    socket.write(unreadable);
    // The whole flood (its length varies with the text after the cut), then a quiet 300 ms.
    const deadline = Date.now() + 20_000;
    let last = -1;
    while ((qmp.stats.unmatchedReplies < 1000 || qmp.stats.unmatchedReplies !== last) && Date.now() < deadline) {
      last = qmp.stats.unmatchedReplies;
      await new Promise((r) => setTimeout(r, 300));
    }
    const [a, b, c] = await Promise.all([
      qmp.execute('query-status'),
      qmp.execute('query-name'),
      qmp.execute('query-kvm'),
    ]);
    expect(a.status).toBe('running');
    expect(b).toEqual({});
    expect(c).toMatchObject({ enabled: false });
    expect(qmp.stats.unmatchedReplies).toBeGreaterThan(1000);
  });

  it('with calls right behind it: at most one of them gets an error, the others their own replies', async () => {
    const { socket, qmp } = await shared();
    socket.write(unreadable);
    const results = await Promise.allSettled([
      qmp.execute('query-status'),
      qmp.execute('query-name'),
      qmp.execute('query-kvm'),
      qmp.execute('query-uuid'),
    ]);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeLessThanOrEqual(1);
    for (const r of rejected) expect((r.reason as Error).message).toMatch(/could not read the request/);
    const values = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    if (values[1] !== undefined) expect(values[1]).toEqual({});
    if (values[2] !== undefined) expect(values[2]).toMatchObject({ enabled: false });
    expect(values[3]).toMatchObject({ UUID: expect.any(String) });
    expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
  });
});

describe('a wedged main loop', () => {
  it('is reported by onStall, calls that could not be sent say why, executeOob gets through, and all settle after', async () => {
    qemu = await startQemu();
    const fifo = path.join(qemu.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    qmp = await connectQmp({ path: qemu.qmpPath }, { stallAfter: 200 });
    const stalls: StallInfo[] = [];
    qmp.onStall((s) => stalls.push(s));
    // Opening a FIFO read-only blocks QEMU's main loop until a writer comes; the oob monitor thread runs on.
    const wedge = caught(
      qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'f', filename: fifo, 'read-only': true }),
    );
    const behind = Array.from({ length: 7 }, () => qmp!.execute('query-status'));
    const notSent = caught(qmp.execute('query-name', { timeout: 600 }));
    expect(await qmp.executeOob('query-yank')).toEqual([{ type: 'chardev', id: 'compat_monitor0' }]);
    const err = await notSent;
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).sent).toBe(false);
    expect((err as Error).message).toMatch(
      /not sent within 600 ms: 8 requests outstanding since .* \(the oldest: blockdev-add\)/,
    );
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ inFlight: 8, queued: 1, oldest: 'blockdev-add' });
    // A writer unblocks QEMU: the wedged command fails (a FIFO is no regular file), the rest succeed.
    const fd = openSync(fifo, 'w');
    try {
      expect(((await wedge) as QmpError).desc).toMatch(/regular file/);
      for (const s of await Promise.all(behind)) expect(s.status).toBe('running');
    } finally {
      closeSync(fd);
    }
    expect(qmp.stats).toMatchObject({ inFlight: 0, queued: 0, lateReplies: 0 });
  });
});
