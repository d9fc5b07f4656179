/**
 * Through libvirt: a real libvirtd (session mode, as nobody) running a TCG
 * domain with a guest-agent channel (no guest OS: the agent never connects)
 * and a second QMP monitor. The same typed client, over `{ libvirt: { domain,
 * uri } }` and over the second monitor's socket, sees the same domain.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/qemu-sources.js';
import { connectQmp, type Client } from '../generated/qemu-7.2/index.js';
import { connectQga } from '../generated/qga-7.2/index.js';
import { ConnectionError, libvirtErrorClass, LibvirtError, QmpError } from '../runtime/errors.js';
import { replyError } from '../runtime/core/calls.js';
import { parseEventLine, classifyVirshError } from '../runtime/libvirt/virsh.js';
import { takeMember } from '../runtime/libvirt/bridge.js';
import { startLibvirt, type Libvirt } from './support/libvirt.js';

let lv: Libvirt;
let viaLibvirt: Client;
let viaSocket: Client;

beforeAll(async () => {
  lv = await startLibvirt();
  viaLibvirt = await connectQmp({ libvirt: { domain: lv.domain, uri: lv.uri } });
  viaSocket = await connectQmp({ path: lv.extraQmp });
}, 60_000);

afterAll(async () => {
  await viaLibvirt?.close();
  await viaSocket?.close();
  await lv?.stop();
});

describe('QMP through libvirt', () => {
  it('greets with the domain QEMU version and runs typed commands', async () => {
    expect(viaLibvirt.greeting.version.qemu.major).toBe(7);
    const st = await viaLibvirt.execute('query-status');
    expect(st).toMatchObject({ status: 'running', running: true });
    expect(await viaLibvirt.cmd.queryName()).toEqual({ name: lv.domain });
  });

  it('stop and cont: STOP and RESUME arrive on both paths', async () => {
    const stops = [viaLibvirt, viaSocket].map((q) => q.waitForEvent('STOP', undefined, { timeout: 10_000 }));
    const resumes = [viaLibvirt, viaSocket].map((q) => q.waitForEvent('RESUME', undefined, { timeout: 10_000 }));
    await viaLibvirt.execute('stop');
    const [a, b] = await Promise.all(stops);
    expect(a.event).toBe('STOP');
    expect(b.event).toBe('STOP');
    expect(a.timestamp.seconds).toBeGreaterThan(1_700_000_000);
    expect((await viaSocket.execute('query-status')).status).toBe('paused');
    await viaSocket.execute('cont');
    await Promise.all(resumes);
    expect((await viaLibvirt.execute('query-status')).running).toBe(true);
  });

  it("QEMU's errors stay QmpError; HMP and 64-bit integers pass through", async () => {
    const e = await viaLibvirt.execute('blockdev-del', { 'node-name': 'nosuch' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpError);
    expect(e).toMatchObject({ errorClass: 'GenericError' });
    expect(await viaLibvirt.hmp('info status')).toMatch(/VM status: running/);
    await viaLibvirt.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big', size: 2n ** 62n });
    const nodes = await viaLibvirt.execute('query-named-block-nodes', { flat: true });
    expect(nodes.find((n) => n['node-name'] === 'big')!.image['virtual-size']).toBe(2n ** 62n);
    await viaLibvirt.execute('blockdev-del', { 'node-name': 'big' });
  });

  it('a guest-agent command with no agent connected is a typed LibvirtError, not a QmpError', async () => {
    const qga = await connectQga({ libvirt: { domain: lv.domain, uri: lv.uri, agentTimeout: 2 } });
    try {
      const e = await qga.execute('guest-ping').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LibvirtError);
      expect(e).toMatchObject({ code: 'agent-not-connected', command: 'guest-ping' });
      expect(e).not.toBeInstanceOf(QmpError);
    } finally {
      await qga.close();
    }
  });

  it('an unknown domain fails to connect, with the cause named', async () => {
    const e = await connectQmp({ libvirt: { domain: 'nosuch', uri: lv.uri } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectionError);
    expect((e as ConnectionError).message).toMatch(/failed to get domain 'nosuch'/);
    expect((e as Error & { cause: { kind: string } }).cause.kind).toBe('domain-not-found');
  });

  it('review: an event right after connecting is not lost', async () => {
    for (let i = 0; i < 3; i++) {
      const q = await connectQmp({ libvirt: { domain: lv.domain, uri: lv.uri } });
      try {
        const stop = q.waitForEvent('STOP', undefined, { timeout: 5000 });
        await q.execute('stop');
        await stop;
        await q.execute('cont');
      } finally {
        await q.close();
      }
    }
  });

  it('review: request text arrives as sent (DEL, ÿ, U+FFFD), and a reply holding "echo --err" is a reply', async () => {
    for (const value of ['ab\u007fcd', 'xÿy', 'r\uFFFDs', 'see: echo --err x']) {
      await viaLibvirt.execute('object-add', { 'qom-type': 'authz-simple', id: 'a1', identity: value });
      expect(await viaSocket.execute('qom-get', { path: '/objects/a1', property: 'identity' })).toBe(value);
      expect(await viaLibvirt.execute('qom-get', { path: '/objects/a1', property: 'identity' })).toBe(value);
      await viaLibvirt.execute('object-del', { id: 'a1' });
    }
  });

  it("review: no peer can forge a LibvirtError: a 'libvirt:' class from QEMU is a QmpError", () => {
    const e = replyError({ error: { class: 'libvirt:domain-not-running', desc: 'spoofed' } }, 'x', undefined);
    expect(e).toBeInstanceOf(QmpError);
    expect(libvirtErrorClass()).toMatch(/^libvirt-[0-9a-f-]{36}:$/);
  });

  it('a domain that stops running: calls fail with domain-not-running', async () => {
    const q = await connectQmp({ libvirt: { domain: lv.domain, uri: lv.uri } });
    try {
      lv.virsh('destroy', lv.domain);
      const e = await q.execute('query-status').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(LibvirtError);
      expect(e).toMatchObject({ code: 'domain-not-running' });
    } finally {
      await q.close();
      lv.virsh('start', lv.domain);
    }
  });
});

describe('the command line through libvirt', () => {
  it('qapi-ts qmp libvirt:DOMAIN@URI and qapi-ts qga: the same commands, libvirt errors exit 1', () => {
    const target = `libvirt:${lv.domain}@${lv.uri}`;
    const bin = path.join(ROOT, 'dist/cli/bin.js');
    const q = spawnSync(process.execPath, [bin, 'qmp', target, 'query-name', '--compact'], { encoding: 'utf8' });
    expect(q.stderr).toBe('');
    expect(q.stdout).toBe(`{"name":"${lv.domain}"}\n`);
    const a = spawnSync(process.execPath, [bin, 'qga', target, 'guest-ping'], { encoding: 'utf8' });
    expect(a.status).toBe(1);
    expect(a.stderr).toMatch(/guest agent is not connected/);
  });
});

describe('the bridge, piece by piece', () => {
  it("reads virsh event lines with QEMU's timestamps, data kept as text, the domain matched exactly", () => {
    expect(parseEventLine("event STOP at 1796049285.756375 for domain 'qt1': <null>", 'qt1')).toEqual({
      event: 'STOP',
      data: undefined,
      timestamp: { seconds: 1796049285, microseconds: 756375 },
    });
    expect(
      parseEventLine(`event BLOCK_JOB_COMPLETED at 1.5 for domain 'qt1': {"len":9007199254740993,"x":"a': b"}`, 'qt1')
        ?.data,
    ).toBe('{"len":9007199254740993,"x":"a\': b"}');
    expect(parseEventLine("event STOP at 1.000001 for domain 'other': <null>", 'qt1')).toBeUndefined();
    expect(parseEventLine('garbage', 'qt1')).toBeUndefined();
  });

  it('removes a request id without reading its numbers', () => {
    expect(takeMember('{"execute":"x","arguments":{"id":1,"n":18446744073709551615},"id":5}', 'id')).toEqual({
      value: '5',
      rest: '{"execute":"x","arguments":{"id":1,"n":18446744073709551615}}',
    });
    expect(takeMember('{"id":"a,b}","execute":"x"}', 'id')).toEqual({ value: '"a,b}"', rest: '{"execute":"x"}' });
    expect(takeMember('{"execute":"x"}', 'id')).toEqual({ value: undefined, rest: '{"execute":"x"}' });
  });

  it("tells libvirt's failures apart", () => {
    expect(classifyVirshError("failed to get domain 'x'")).toBe('domain-not-found');
    expect(classifyVirshError('Requested operation is not valid: domain is not running')).toBe('domain-not-running');
    expect(classifyVirshError('Guest agent is not responding: QEMU guest agent is not connected')).toBe(
      'agent-not-connected',
    );
    expect(classifyVirshError('authentication failed: access denied')).toBe('permission-denied');
  });
});
