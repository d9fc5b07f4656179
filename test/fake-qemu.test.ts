/**
 * The fake QEMU (runtime/testing/): the SDK run against it, and the same
 * scenarios run against a real QEMU 7.2 to show that where the fake models
 * QEMU it answers the same, to the byte.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as qemu100 from '../generated/qemu-10.0/index.js';
import * as qemu102 from '../generated/qemu-10.2/index.js';
import * as qemu111 from '../generated/qemu-11.1/index.js';
import * as qemu72 from '../generated/qemu-7.2/index.js';
import * as qsd102 from '../generated/qsd-10.2/index.js';
import {
  ConnectionError,
  connectQmp,
  type Client,
  type QmpCommands,
  type QmpEvents,
  type Target,
  type TapEntry,
} from '../generated/qemu-7.2/index.js';
import { createFakeQemu, FakeError, ReplayMismatchError, type FakeQemu } from '../runtime/testing/index.js';
import { qemuJson, qemuNumber } from '../runtime/testing/qemu-json.js';
import { inSchemaOrder } from '../runtime/testing/schema-walk.js';
import type { JsonValue } from '../runtime/wire/json.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';
import { cleanupAfterEach, errorOf } from './support/cleanup.js';
import { nullCoNode, RawQmp } from './support/scenarios.js';

type Fake = FakeQemu<QmpCommands, QmpEvents>;

/** Everything a test made, closed after it whatever happened. */
const cleanup = cleanupAfterEach();

/** A private temp dir, removed after the test. */
function scratch(): string {
  const dir = tempDir();
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function fakeQemu(options: Partial<Parameters<typeof createFakeQemu>[0]> = {}): Fake {
  const fake = createFakeQemu<QmpCommands, QmpEvents>({ release: qemu72, ...options });
  cleanup(() => fake.close());
  return fake;
}

async function connectTo(fake: Fake, options?: Parameters<typeof connectQmp>[1]): Promise<Client> {
  const qmp = await connectQmp({ stream: fake.connectStream() }, options);
  cleanup(() => qmp.close());
  return qmp;
}

/** A raw connection (the scenarios' RawQmp), closed after the test. */
async function rawPeer(target: Target): Promise<RawQmp> {
  const r = await RawQmp.open(target);
  cleanup(() => r.close());
  return r;
}

describe('fake QEMU: the protocol', () => {
  it('greets, negotiates and answers query-status through connectQmp (in process)', async () => {
    const fake = fakeQemu();
    const qmp = await connectTo(fake);
    expect(qmp.greeting).toEqual({
      version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' },
      capabilities: ['oob'],
    });
    expect(qmp.enabled).toEqual(['oob']);
    expect(await qmp.execute('query-status')).toEqual({ status: 'running', singlestep: false, running: true });
    expect(await qmp.cmd.queryVersion()).toEqual({ qemu: { major: 7, minor: 2, micro: 0 }, package: '' });
    // The bytes QEMU 7.2 writes: its member order, its spacing, CRLF.
    expect(fake.log.filter((e) => e.direction === 'out').map((e) => e.text)).toEqual([
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n',
      '{"return": {}, "id": 1}\r\n',
      '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 2}\r\n',
      '{"return": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "id": 3}\r\n',
    ]);
    expect(fake.log[1]).toMatchObject({
      direction: 'in',
      connection: 1,
      text: '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}',
      message: { execute: 'qmp_capabilities', arguments: { enable: ['oob'] }, id: 1 },
    });
    expect(fake.log.every((e) => typeof e.time === 'number')).toBe(true);
  });

  it('listens on a unix socket; close() ends the clients and removes the socket', async () => {
    const dir = scratch();
    const fake = fakeQemu({ version: '7.2.5', package: 'test build' });
    const where = await fake.listen({ path: path.join(dir, 'qmp.sock') });
    const a = await connectQmp({ path: where });
    const b = await connectQmp({ path: where });
    expect(a.greeting.version).toEqual({ qemu: { major: 7, minor: 2, micro: 5 }, package: 'test build' });
    expect((await b.execute('query-version')).package).toBe('test build');
    expect(fake.connections).toBe(2);
    const reasons = [a, b].map((c) => new Promise((resolve) => c.onClose(resolve)));
    await fake.close();
    expect(await Promise.all(reasons)).toEqual([expect.any(ConnectionError), expect.any(ConnectionError)]);
    expect(existsSync(where)).toBe(false);
    expect(fake.connections).toBe(0);
  });

  it('answers as QEMU does before and after negotiation, ids echoed', async () => {
    const fake = fakeQemu();
    const raw = await rawPeer({ stream: fake.connectStream() });
    await raw.line(0);
    expect(await raw.exchange('{"execute":"query-status","id":{"any":["json"]}}')).toEqual([
      `{"id": {"any": ["json"]}, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`,
    ]);
    expect(await raw.exchange('{"exec-oob":"migrate-pause","id":2}')).toEqual([
      `{"id": 2, "error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`,
    ]);
    expect(await raw.exchange('{"execute":"qmp_capabilities","arguments":{"enable":["bogus"]},"id":3}')).toEqual([
      `{"id": 3, "error": {"class": "GenericError", "desc": "Parameter 'null' does not accept value 'bogus'"}}`,
    ]);
    // No newline needed between requests, as QEMU's parser needs none.
    raw.stream.write('{"execute":"qmp_capabilities","id":"neg"}{"execute":"qmp_capabilities"}');
    expect([await raw.line(4), await raw.line(5)]).toEqual([
      '{"return": {}, "id": "neg"}',
      `{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}`,
    ]);
    // Negotiated without oob: exec-oob is still just an unknown member.
    expect(await raw.exchange('{"exec-oob":"migrate-pause","id":6}')).toEqual([
      `{"id": 6, "error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`,
    ]);
    expect(await raw.exchange('[1]')).toEqual([
      '{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}',
    ]);
    expect((await raw.exchange('{"execute": bad}'))[0]).toMatch(
      /^\{"error": \{"class": "GenericError", "desc": "JSON parse error, /,
    );
  });

  it('refuses a capability it did not offer', async () => {
    const fake = fakeQemu({ capabilities: [] });
    const raw = await rawPeer({ stream: fake.connectStream() });
    expect(await raw.line(0)).toContain('"capabilities": []');
    expect(await raw.exchange('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}')).toEqual([
      '{"id": 1, "error": {"class": "GenericError", "desc": "Capability oob not available"}}',
    ]);
    // And the client, seeing no 'oob' offered, asks for none.
    const qmp = await connectTo(fake);
    expect(qmp.enabled).toEqual([]);
  });
});

describe('fake QEMU: any release', () => {
  it.each([
    ['qemu-10.0', qemu100],
    ['qemu-10.2', qemu102],
    ['qemu-11.1', qemu111],
    ['qsd-10.2', qsd102],
  ] as const)('%s: its version and its schema', async (label, release) => {
    const fake = createFakeQemu({ release });
    cleanup(() => fake.close());
    const qmp = await release.connectQmp({ stream: fake.connectStream() });
    cleanup(() => qmp.close());
    const [major, minor, micro] = release.qemuVersion.split('.').map(Number);
    expect(qmp.greeting.version.qemu).toEqual({ major, minor, micro });
    expect(await qmp.executeRaw('query-version')).toEqual({ qemu: { major, minor, micro }, package: '' });
    // Each release's own return types: QEMU 10 dropped StatusInfo's singlestep.
    if (label.startsWith('qemu'))
      expect(await qmp.executeRaw('query-status')).toEqual({ status: 'running', running: true });
    expect(await errorOf(qmp.executeRaw('blockdev-del'))).toMatchObject({ desc: "Parameter 'node-name' is missing" });
  });
});

describe('fake QEMU: commands', () => {
  it('an unknown command is a QmpError command-not-found with QEMU 7.2 desc', async () => {
    const qmp = await connectTo(fakeQemu());
    expect(await errorOf(qmp.executeRaw('no-such-command'))).toEqual({
      class: 'CommandNotFound',
      desc: 'The command no-such-command has not been found',
      code: 'command-not-found',
    });
  });

  it('reads a long string of escapes as QEMU does, without overflowing its own stack', async () => {
    const fake = fakeQemu();
    const qmp = await connectTo(fake, { validate: false, maxRequestBytes: 64 * 2 ** 20 });
    // 8 MB of text, 4 M escapes: one regex over the string overflowed V8's backtracking stack.
    expect(await errorOf(qmp.executeRaw('query-status', { x: '\n'.repeat(4_000_000) }))).toEqual({
      class: 'GenericError',
      desc: "Parameter 'x' is unexpected",
      code: 'command-failed',
    });
    expect(fake.problems).toEqual([]);
  });

  it('refuses bad arguments as QEMU words it, when the client does not check them', async () => {
    const fake = fakeQemu();
    const qmp = await connectTo(fake, { validate: false });
    const bad = async (command: string, args?: { [k: string]: JsonValue }): Promise<string> => {
      const e = await errorOf(qmp.executeRaw(command, args));
      expect(e.class).toBe('GenericError');
      return e.desc;
    };
    // @ts-expect-error blockdev-del needs its node-name: only the fake stands in the way now
    expect(await errorOf(qmp.execute('blockdev-del'))).toEqual({
      class: 'GenericError',
      desc: "Parameter 'node-name' is missing",
      code: 'command-failed',
    });
    expect(await bad('blockdev-del', { 'node-name': 3 })).toBe(
      "Invalid parameter type for 'node-name', expected: string",
    );
    expect(await bad('blockdev-del', { 'node-name': 'x', bogus: 1 })).toBe("Parameter 'bogus' is unexpected");
    expect(await bad('blockdev-add', { driver: 'nope', 'node-name': 'a' })).toBe(
      "Parameter 'driver' does not accept value 'nope'",
    );
    expect(await bad('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: { driver: 'file' } })).toBe(
      "Parameter 'file.filename' is missing",
    );
    expect(await bad('blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: 7 })).toBe(
      "Invalid parameter type for 'file', expected: BlockdevRef",
    );
    expect(await bad('migrate-set-parameters', { 'compress-level': 300 })).toBe(
      "Parameter 'compress-level' expects uint8_t",
    );
    expect(await bad('block-set-write-threshold', { 'node-name': 'a', 'write-threshold': 'x' })).toBe(
      "Parameter 'write-threshold' expects uint64",
    );
    expect(await bad('transaction', { actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'a' } }] })).toBe(
      "Parameter 'actions[0].data.name' is missing",
    );
    expect(fake.calls).toEqual([]);
  });

  it('scripted replies: values, promises, FakeError, defaults, and replies the schema refuses', async () => {
    const fake = fakeQemu();
    const nodes: string[] = [];
    fake.on('blockdev-add', (args) => {
      if (nodes.includes(args['node-name']!))
        throw new FakeError('GenericError', `Duplicate nodes with node-name='${args['node-name']}'`);
      nodes.push(args['node-name']!);
    });
    fake.on('query-named-block-nodes', async () => {
      await new Promise((r) => setImmediate(r));
      return nodes.map((name) => ({ 'node-name': name }) as never);
    });
    fake.on('query-name', () => ({ name: 'vm1' }));
    const qmp = await connectTo(fake);
    expect(await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n1' })).toEqual({});
    expect(await errorOf(qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n1' }))).toEqual({
      class: 'GenericError',
      desc: "Duplicate nodes with node-name='n1'",
      code: 'command-failed',
    });
    expect(await qmp.execute('query-name')).toEqual({ name: 'vm1' });
    // Not scripted: the least valid value of the return type.
    expect(await qmp.execute('query-block')).toEqual([]);
    expect(await qmp.execute('query-kvm')).toEqual({ enabled: false, present: false });
    expect(fake.problems).toEqual([]);
    // A reply QEMU could not send is the test's mistake: the client sees it, and so does fake.problems.
    const e = await errorOf(qmp.execute('query-named-block-nodes'));
    expect(e.desc).toMatch(/the reply scripted for query-named-block-nodes does not match .*missing required member/);
    expect(fake.problems).toHaveLength(1);
    fake.on('query-status', () => {
      throw new RangeError('oops');
    });
    expect((await errorOf(qmp.execute('query-status'))).desc).toBe(
      'fake-qemu: the handler for query-status threw: oops',
    );
    fake.off('query-status');
    expect((await qmp.execute('query-status')).status).toBe('running');
    expect(fake.calls.map((c) => [c.command, c.args])).toContainEqual([
      'blockdev-add',
      { driver: 'null-co', 'node-name': 'n1' },
    ]);
    expect(() => fake.on('no-such' as 'stop', () => {})).toThrow(/no such command/);
  });

  it('checkOutput: false sends what no QEMU would; the version comes from the release or is asked for', async () => {
    const fake = fakeQemu({ checkOutput: false });
    fake.on('query-status', () => ({ status: 'weird' }) as never);
    const qmp = await connectTo(fake);
    expect(await qmp.execute('query-status')).toEqual({ status: 'weird' });
    expect(() => createFakeQemu({ release: { schema: qemu72.schema, table: qemu72.table } })).toThrow(
      /does not say its QEMU version/,
    );
    expect(createFakeQemu({ release: { schema: qemu72.schema, release: '7.2' } }).version).toEqual({
      major: 7,
      minor: 2,
      micro: 0,
    });
  });

  it("unscripted: 'error' refuses to make up replies", async () => {
    const qmp = await connectTo(fakeQemu({ unscripted: 'error' }));
    expect((await errorOf(qmp.execute('query-block'))).desc).toMatch(/no reply scripted for query-block/);
    expect(await qmp.execute('query-status')).toMatchObject({ running: true });
    expect(await qmp.execute('stop')).toEqual({});
  });
});

describe('fake QEMU: events and oob', () => {
  it('emits events with QEMU timestamps, checked against the schema, only after negotiation', async () => {
    const fake = fakeQemu();
    const raw = await rawPeer({ stream: fake.connectStream() });
    await raw.line(0);
    expect(fake.emit('RESUME')).toBe(0); // QEMU sends no event to a monitor still negotiating
    const qmp = await connectTo(fake);
    const wait = qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.id === 'j1', { timeout: 5000 });
    const before = Date.now();
    expect(fake.emit('JOB_STATUS_CHANGE', { id: 'j1', status: 'running' })).toBe(1);
    const event = await wait;
    expect(event.data).toEqual({ id: 'j1', status: 'running' });
    const ms = event.timestamp.seconds * 1000 + event.timestamp.microseconds / 1000;
    expect(ms).toBeGreaterThanOrEqual(before - 1);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1);
    expect(fake.log.at(-1)!.text).toMatch(
      /^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "JOB_STATUS_CHANGE", "data": \{"status": "running", "id": "j1"\}\}\r\n$/,
    );
    expect(() => fake.emit('JOB_STATUS_CHANGE', { id: 'j1' } as never)).toThrow(/missing required member 'status'/);
    expect(() => fake.emit('JOB_STATUS_CHANGE', { id: 'j1', status: 'sleeping' })).toThrow(/not one of the allowed/);
    expect(() => fake.emit('NO_SUCH_EVENT' as 'STOP')).toThrow(/no such event/);
  });

  it('stop and cont change query-status and send STOP and RESUME before their reply', async () => {
    const fake = fakeQemu();
    const qmp = await connectTo(fake);
    const seen: string[] = [];
    qmp.onAny((e) => seen.push(e.event));
    await qmp.execute('stop');
    expect(await qmp.execute('query-status')).toEqual({ status: 'paused', singlestep: false, running: false });
    await qmp.execute('stop');
    await qmp.execute('cont');
    await qmp.execute('cont');
    expect(seen).toEqual(['STOP', 'RESUME']);
    expect(fake.runState).toBe('running');
  });

  it('handlers emit through ctx, before the reply or after it', async () => {
    const fake = fakeQemu();
    fake.on('blockdev-create', (args, ctx) => {
      ctx.emit('JOB_STATUS_CHANGE', { id: args['job-id'], status: 'created' });
      ctx.afterReply(() => ctx.emit('JOB_STATUS_CHANGE', { id: args['job-id'], status: 'concluded' }));
    });
    const qmp = await connectTo(fake);
    const statuses: string[] = [];
    qmp.on('JOB_STATUS_CHANGE', (e) => statuses.push(e.data.status));
    const concluded = qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.status === 'concluded', { timeout: 5000 });
    await qmp.execute('blockdev-create', {
      'job-id': 'j1',
      options: { driver: 'file', filename: '/tmp/x.img', size: 0 },
    });
    await concluded;
    expect(statuses).toEqual(['created', 'concluded']);
    const out = fake.log.filter((e) => e.direction === 'out').map((e) => e.message as { [k: string]: JsonValue });
    expect(out.slice(-3).map((m) => ('event' in m ? (m.data as { status: string }).status : 'return'))).toEqual([
      'created',
      'return',
      'concluded',
    ]);
  });

  it('exec-oob passes an in-band command that is still running', async () => {
    const fake = fakeQemu();
    let release!: () => void;
    fake.on('query-name', (_args, ctx) => {
      expect(ctx.oob).toBe(false);
      return new Promise((resolve) => (release = () => resolve({ name: 'slow' })));
    });
    fake.on('migrate-pause', (_args, ctx) => {
      expect(ctx.oob).toBe(true);
    });
    const qmp = await connectTo(fake);
    const order: string[] = [];
    const slow = qmp.execute('query-name').then((r) => order.push(`in-band ${r.name}`));
    const behind = qmp.execute('query-status').then(() => order.push('in-band query-status'));
    await qmp.executeOob('migrate-pause').then(() => order.push('oob'));
    expect(order).toEqual(['oob']);
    release();
    await Promise.all([slow, behind]);
    expect(order).toEqual(['oob', 'in-band slow', 'in-band query-status']);
    // A command that does not allow oob, as QEMU refuses it (the client would refuse it first).
    const raw = await rawPeer({ stream: fake.connectStream() });
    await raw.line(0);
    await raw.exchange('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}');
    expect(await raw.exchange('{"exec-oob":"query-status","id":1}')).toEqual([
      '{"id": 1, "error": {"class": "GenericError", "desc": "The command query-status does not support OOB"}}',
    ]);
  });
});

describe('fake QEMU: recording and replay', () => {
  /** The same calls for the recording and the replay; `emit` sends the test's own event (nothing on replay). */
  async function scenario(qmp: Client, emit: () => void): Promise<unknown[]> {
    const out: unknown[] = [];
    out.push(await qmp.execute('query-status'));
    out.push(await errorOf(qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'taken' })));
    const job = qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.status === 'concluded', { timeout: 5000 });
    out.push(
      await qmp.execute('blockdev-create', { 'job-id': 'j1', options: { driver: 'file', filename: '/x', size: 0 } }),
    );
    emit();
    out.push((await job).data);
    out.push(await errorOf(qmp.executeRaw('no-such-command')));
    out.push(await Promise.all([qmp.execute('query-name'), qmp.execute('query-version')]));
    out.push(await qmp.execute('query-named-block-nodes'));
    return out;
  }

  function scripted(): Fake {
    const fake = fakeQemu();
    fake.on('blockdev-add', () => {
      throw new FakeError('GenericError', "Duplicate nodes with node-name='taken'");
    });
    fake.on('blockdev-create', (args, ctx) => {
      ctx.emit('JOB_STATUS_CHANGE', { id: args['job-id'], status: 'created' });
    });
    fake.on('query-named-block-nodes', () => [nullCoNode('big', 2n ** 62n + 512n)]);
    return fake;
  }

  async function record(): Promise<{ entries: TapEntry[]; results: unknown[]; sent: string[] }> {
    const fake = scripted();
    const entries: TapEntry[] = [];
    const qmp = await connectTo(fake, { tap: (e) => entries.push(e) });
    const results = await scenario(qmp, () => fake.emit('JOB_STATUS_CHANGE', { id: 'j1', status: 'concluded' }));
    await qmp.close();
    return { entries, results, sent: fake.log.filter((e) => e.direction === 'out').map((e) => e.text) };
  }

  it('replays a tapped session: the same results, byte for byte', async () => {
    const recorded = await record();
    expect(recorded.results[5]).toEqual([{}, { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }]);
    // Nothing scripted here: every answer comes from the recording.
    const fake = fakeQemu();
    const replay = fake.replay(recorded.entries);
    expect(replay.remaining).toBe(recorded.entries.length);
    const qmp = await connectTo(fake);
    const results = await scenario(qmp, () => {});
    await replay.done;
    expect(replay.remaining).toBe(0);
    expect(results).toEqual(recorded.results);
    expect((results[6] as { image: { 'virtual-size': bigint } }[])[0].image['virtual-size']).toBe(2n ** 62n + 512n);
    expect(fake.log.filter((e) => e.direction === 'out').map((e) => e.text)).toEqual(recorded.sent);
    expect(fake.problems).toEqual([]);
  });

  it('fails loudly on a request that differs from the recording', async () => {
    const { entries } = await record();
    const fake = fakeQemu();
    const replay = fake.replay(entries);
    const qmp = await connectTo(fake);
    const e = await errorOf(qmp.execute('query-version'));
    expect(e.class).toBe('ReplayMismatch');
    expect(e.desc).toMatch(
      /"execute":"query-version".*differs from the recording's entry 3, \{"execute":"query-status"/,
    );
    await expect(replay.done).rejects.toBeInstanceOf(ReplayMismatchError);
    expect(fake.problems).toEqual([expect.any(ReplayMismatchError)]);
    // What follows fails too: the session is off the recording.
    expect((await errorOf(qmp.execute('query-status'))).class).toBe('ReplayMismatch');
  });

  it('a session that ends early fails the replay', async () => {
    const { entries } = await record();
    const fake = fakeQemu();
    const replay = fake.replay(entries);
    const qmp = await connectTo(fake);
    await qmp.execute('query-status');
    await qmp.close();
    await expect(replay.done).rejects.toThrow(/closed with \d+ recorded entries not replayed/);
  });
});

describe('fake QEMU: cleanup and the JSON writer', () => {
  it('close() aborts waiting handlers and leaves no sockets, servers or timers', async () => {
    const count = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
      return out;
    };
    await new Promise((r) => setImmediate(r));
    const before = count();
    const fake = createFakeQemu<QmpCommands, QmpEvents>({ release: qemu72 });
    const dir = scratch();
    const where = await fake.listen({ path: path.join(dir, 'q.sock') });
    let aborted = false;
    fake.on('query-name', (_a, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => (aborted = true))));
    const a = await connectQmp({ path: where });
    const b = await connectQmp({ stream: fake.connectStream() });
    const pending = [a, b].map((c) => c.execute('query-name').catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 20));
    await fake.close();
    expect(await Promise.all(pending)).toEqual([expect.any(ConnectionError), expect.any(ConnectionError)]);
    await Promise.all([a.closed, b.closed]);
    expect(aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    // Sockets and servers exactly as before; timers no more (the test runner's own come and go).
    const after = count();
    for (const kind of ['PipeWrap', 'PipeServerWrap', 'TCPWrap', 'TCPServerWrap', 'Immediate'])
      expect([kind, after[kind] ?? 0]).toEqual([kind, before[kind] ?? 0]);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
  });

  it('writes JSON as QEMU does: QDict member order, ASCII escapes, %.17g', () => {
    // Both from QEMU 7.2: query-jobs (members inserted in schema order, two share a bucket) and an error quoting a name.
    const jobs = inSchemaOrder(qemu72.schema, '[JobInfo]', [
      { id: 'j1', type: 'create', status: 'concluded', 'current-progress': 1, 'total-progress': 1 },
    ]);
    expect(qemuJson(jobs)).toBe(
      '[{"current-progress": 1, "status": "concluded", "total-progress": 1, "type": "create", "id": "j1"}]',
    );
    expect(qemuJson("Invalid node-name: 'é\u007f\u0001x\"\\/😀'")).toBe(
      `"Invalid node-name: '\\u00E9\\u007F\\u0001x\\"\\\\/\\uD83D\\uDE00'"`,
    );
    // Python's '%.17g' % x.
    expect([0.1, 1.5, 268.4, 1e-5, 1.5e300, -2.5e-7, 123456789.123].map(qemuNumber)).toEqual([
      '0.10000000000000001',
      '1.5',
      '268.39999999999998',
      '1.0000000000000001e-05',
      '1.5000000000000001e+300',
      '-2.4999999999999999e-07',
      '123456789.123',
    ]);
    // QDict order, not the object's: 'o' hashes to an earlier bucket than 'a'.
    expect(qemuJson({ n: 2n ** 64n - 1n, a: [], o: {} })).toBe('{"n": 18446744073709551615, "o": {}, "a": []}');
  });
});

describe('fake QEMU and QEMU 7.2 answer alike', () => {
  let qemu: QemuProcess;
  let fake: Fake;
  let fakePath: string;
  let fakeDir: string | undefined;

  beforeAll(async () => {
    qemu = await startQemu();
    // The fake says the same version and package as this QEMU build: then even the greetings match.
    const probe = await connectQmp({ path: qemu.qmpPath });
    const { qemu: v, package: pkg } = probe.greeting.version;
    await probe.close();
    fake = createFakeQemu<QmpCommands, QmpEvents>({
      release: qemu72,
      version: `${v.major}.${v.minor}.${v.micro}`,
      package: pkg,
    });
    fakeDir = tempDir();
    fakePath = await fake.listen({ path: path.join(fakeDir, 'fake.sock') });
  });
  afterAll(async () => {
    await fake?.close();
    if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
    await qemu?.kill();
  });

  it('through the SDK: query-status, an unknown command, blockdev-del without arguments', async () => {
    const run = async (target: { path: string }): Promise<unknown[]> => {
      const qmp = await connectQmp(target, { validate: false });
      try {
        return [
          qmp.greeting,
          await qmp.execute('query-status'),
          await errorOf(qmp.executeRaw('no-such-command')),
          // @ts-expect-error no arguments: the client's validation is off, the server answers
          await errorOf(qmp.execute('blockdev-del')),
        ];
      } finally {
        await qmp.close();
      }
    };
    const [real, faked] = [await run({ path: qemu.qmpPath }), await run({ path: fakePath })];
    expect(faked).toEqual(real);
    expect(real.slice(1)).toEqual([
      { status: 'running', singlestep: false, running: true },
      { class: 'CommandNotFound', desc: 'The command no-such-command has not been found', code: 'command-not-found' },
      { class: 'GenericError', desc: "Parameter 'node-name' is missing", code: 'command-failed' },
    ]);
  });

  it('on the wire: the same bytes for the greeting, negotiation, errors and stop/cont', async () => {
    const requests = [
      '{"execute":"query-status","id":1}',
      '{"exec-oob":"query-status","id":2}',
      '{"execute":"qmp_capabilities","arguments":{"enable":["bogus"]},"id":3}',
      '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"cap"}',
      '{"execute":"qmp_capabilities","id":4}',
      '{"execute":"query-status","id":5}',
      '{"execute":"query-version","id":6}',
      '{"execute":"no-such-command","id":7}',
      '{"execute":"blockdev-del","id":8}',
      '{"execute":"blockdev-del","arguments":{"node-name":3},"id":9}',
      '{"execute":"blockdev-del","arguments":{"node-name":"x","bogus":1},"id":10}',
      '{"exec-oob":"query-status","id":11}',
      '{"id":12}',
      '{"execute":"stop","exec-oob":"stop","id":13}',
      '{"execute":"stop","foo":1,"id":14}',
      '{"execute":1,"id":15}',
      '[1]',
      '{"execute":"query-status","arguments":[],"id":16}',
      '{"execute":"query-status","arguments":{"x":1},"id":17}',
      '{"execute":"blockdev-add","arguments":{"driver":"nope","node-name":"a"},"id":18}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a"},"id":19}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"file"}},"id":20}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"file","filename":"/x"},"cache":{"direct":"yes"}},"id":21}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":7},"id":22}',
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"a","size":1.5},"id":23}',
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"a","size":true},"id":24}',
      '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":null},"id":25}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"file","filename":"/x"},"detect-zeroes":"sometimes"},"id":26}',
      '{"execute":"block-set-write-threshold","arguments":{"node-name":"a","write-threshold":"x"},"id":27}',
      '{"execute":"migrate-set-parameters","arguments":{"compress-level":300},"id":28}',
      '{"execute":"migrate-set-parameters","arguments":{"compress-level":1.5},"id":29}',
      '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":"fast"},"id":30}',
      '{"execute":"transaction","arguments":{"actions":[{"type":"block-dirty-bitmap-add","data":{"node":"a"}}]},"id":31}',
      '{"execute":"transaction","arguments":{"actions":{}},"id":32}',
      // Nested: QEMU names some problems by the full path, others by the member alone.
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"qcow2","node-name":"b","file":5}},"id":40}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"file","filename":"/x","aio":"bogus"}},"id":41}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","file":{"driver":"file","filename":"/x","bogus":1}},"id":42}',
      '{"execute":"blockdev-add","arguments":{"driver":"qcow2","node-name":"a","backing":5,"file":"f"},"id":43}',
      '{"execute":"transaction","arguments":{"actions":[{"type":"block-dirty-bitmap-add","data":{"node":"a","name":"b","granularity":-1}}]},"id":44}',
      '{"execute":"transaction","arguments":{"actions":[{"type":"block-dirty-bitmap-add","data":{"node":"a","name":"b","granularity":"x"}}]},"id":45}',
      '{"execute":"transaction","arguments":{"actions":[5]},"id":46}',
      '{"execute":"transaction","arguments":{"actions":[{}]},"id":47}',
      '{"execute":"transaction","arguments":{"actions":[{"type":"nope"}]},"id":48}',
      '{"execute":"qmp_capabilities","arguments":{"enable":"oob"},"id":49}',
      '{"execute":"device_add","arguments":{},"id":50}',
      '{"execute":"stop","id":33}',
      '{"execute":"query-status","id":34}',
      '{"execute":"stop","id":35}',
      '{"execute":"cont","id":36}',
      '{"execute":"cont","id":37}',
      '{"execute":"query-status"}',
    ];
    const run = async (socketPath: string): Promise<string[]> => {
      const raw = await rawPeer({ path: socketPath });
      const lines = [await raw.line(0)];
      for (const r of requests) lines.push(...(await raw.exchange(r)));
      raw.stream.destroy();
      return lines.map((l) => l.replace(/"seconds": \d+, "microseconds": \d+/, '"seconds": S, "microseconds": U'));
    };
    const real = await run(qemu.qmpPath);
    const faked = await run(fakePath);
    expect(faked).toEqual(real);
    expect(real.filter((l) => l.includes('"event"')).map((l) => /"event": "(\w+)"/.exec(l)![1])).toEqual([
      'STOP',
      'RESUME',
    ]);
  });
});
