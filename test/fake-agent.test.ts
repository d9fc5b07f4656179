/**
 * The fake guest agent (runtime/testing/fake-agent.ts): the SDK's
 * connectQga run against it, and the same scenarios run against a real
 * qemu-ga 7.2 (support/agent.ts) to show that where the fake models
 * qemu-ga it answers the same, to the byte.
 */
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as qga72 from '../generated/qga-7.2/index.js';
import { ConnectionError, QmpError, connectQga, type Client, type QgaCommands } from '../generated/qga-7.2/index.js';
import { connectQmp, type QmpCommands, type QmpEvents } from '../generated/qemu-7.2/index.js';
import * as qemu72 from '../generated/qemu-7.2/index.js';
import {
  createFakeAgent,
  createFakeQemu,
  FakeError,
  type FakeAgent,
  type FakeAgentContext,
  type FakeExecResult,
  type FakeExecScript,
} from '../runtime/testing/index.js';
import { cleanupAfterEach, errorOf } from './support/cleanup.js';
import { HOST_CHANGING_RPCS, startAgent, type AgentProcess } from './support/agent.js';
import { tempDir } from './support/qemu.js';

type Fake = FakeAgent<QgaCommands>;

/** Everything a test made, closed after it whatever happened. */
const cleanup = cleanupAfterEach();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fakeAgent(options: Partial<Parameters<typeof createFakeAgent>[0]> = {}): Fake {
  const fake = createFakeAgent<QgaCommands>({ release: qga72, ...options });
  cleanup(() => fake.close());
  return fake;
}

async function connectTo(fake: Fake, options?: Parameters<typeof connectQga>[1]): Promise<Client> {
  const qga = await connectQga({ stream: fake.connectStream() }, options);
  cleanup(() => qga.close());
  return qga;
}

/** The bytes of `text`: each U+00FF as the byte 0xFF (a resync), the rest in UTF-8. */
function wire(text: string): Buffer {
  const parts: Buffer[] = [];
  text.split('\u00ff').forEach((part, i) => {
    if (i) parts.push(Buffer.from([0xff]));
    parts.push(Buffer.from(part, 'utf8'));
  });
  return Buffer.concat(parts);
}

/** A peer that writes raw bytes and reads the agent's '\n'-ended lines (as latin1: a 0xFF shows as 'ÿ'). */
class Raw {
  readonly lines: string[] = [];
  #text = '';
  #marks = 0;

  constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      this.#text += d.toString('latin1');
      for (let i = this.#text.indexOf('\n'); i >= 0; i = this.#text.indexOf('\n')) {
        this.lines.push(this.#text.slice(0, i));
        this.#text = this.#text.slice(i + 1);
      }
    });
    stream.on('error', () => undefined);
    cleanup(() => stream.destroy());
  }

  static async at(socketPath: string): Promise<Raw> {
    const socket = netConnect(socketPath);
    await once(socket, 'connect');
    return new Raw(socket);
  }

  /**
   * Writes `text` (see wire()) and after it a guest-ping with an id of its
   * own; resolves with the lines that came before that ping's reply: any
   * number of them (none for a command that does not reply, two for a
   * resync byte and a request).
   */
  async exchange(text: string): Promise<string[]> {
    const mark = `mark-${++this.#marks}`;
    const from = this.lines.length;
    this.stream.write(Buffer.concat([wire(text), Buffer.from(`{"execute":"guest-ping","id":"${mark}"}`)]));
    const reply = `{"return": {}, "id": "${mark}"}`;
    const deadline = Date.now() + 5000;
    for (;;) {
      const at = this.lines.indexOf(reply, from);
      if (at >= 0) return this.lines.slice(from, at);
      if (Date.now() > deadline) throw new Error(`no reply to ${mark}; got ${this.lines.slice(from).join('\n')}`);
      await sleep(2);
    }
  }
}

/** Plays the programs the tests run, as /bin/sh would run them. */
const shell: FakeExecScript = (file, args, input) => {
  if (file === '/bin/cat') return { stdout: input };
  switch (args[1]) {
    case 'printf out; printf err >&2; exit 3':
      return { exitCode: 3, stdout: 'out', stderr: 'err' };
    case 'printf hi':
      return { stdout: 'hi' };
    case 'kill -9 $$':
      return { signal: 9 };
    default:
      throw new FakeError('GenericError', `fake: no script for ${file} ${args.join(' ')}`);
  }
};

describe('fake agent: through connectQga', () => {
  it('connects (a resync byte, then guest-sync-delimited) and answers guest-ping and guest-info', async () => {
    const fake = fakeAgent();
    const qga = await connectTo(fake);
    expect(await qga.execute('guest-ping')).toEqual({});
    const info = await qga.cmd.guestInfo();
    expect(info.version).toBe('7.2.0');
    // Every command of the release, newest first as qemu-ga lists them.
    const commands = qga72.schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
    expect(info.supported_commands.map((c) => c.name)).toEqual([...commands].reverse());
    expect(info.supported_commands.every((c) => c.enabled)).toBe(true);
    expect(
      info.supported_commands
        .filter((c) => !c['success-response'])
        .map((c) => c.name)
        .sort(),
    ).toEqual(['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-hybrid', 'guest-suspend-ram']);
    // On the wire: the client's resync byte got qemu-ga's error, and the sync reply came after a 0xFF.
    const [resync, stray, sync, synced] = fake.log;
    expect(resync).toMatchObject({ direction: 'in', connection: 1, text: '\u00ff', message: undefined });
    expect(stray).toMatchObject({
      direction: 'out',
      text: `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`,
    });
    const id = /^\{"execute":"guest-sync-delimited","arguments":\{"id":(\d+)\}\}$/.exec(sync.text)?.[1];
    expect(id).toBeDefined();
    expect(synced).toMatchObject({
      direction: 'out',
      text: `\u00ff{"return": ${id}}\n`,
      message: { return: BigInt(id!) },
    });
    expect(qga.stats.syncs).toBe(1);
    expect(fake.calls.map((c) => c.command)).toEqual(['guest-sync-delimited', 'guest-ping', 'guest-info']);
    // Default replies for the rest: the host's clock, the least valid value of a type.
    const now = BigInt(Date.now()) * 1_000_000n;
    const time = (await qga.execute('guest-get-time')) as bigint;
    expect(time > now - 5_000_000_000n && time < now + 5_000_000_000n).toBe(true);
    expect(await qga.execute('guest-fsfreeze-status')).toBe('thawed');
    expect(await qga.execute('guest-get-host-name')).toEqual({ 'host-name': '' });
  });

  it("an unknown command is a QmpError command-not-found with qemu-ga's desc", async () => {
    const qga = await connectTo(fakeAgent());
    expect(await errorOf(qga.executeRaw('guest-no-such-command'))).toEqual({
      class: 'CommandNotFound',
      desc: 'The command guest-no-such-command has not been found',
      code: 'command-not-found',
    });
    expect(await qga.execute('guest-ping')).toEqual({});
  });

  it('a blocked command is command-disabled before its arguments are looked at; guest-info says so', async () => {
    const fake = fakeAgent({ blocked: ['guest-set-time', 'guest-file-open'] });
    const qga = await connectTo(fake, { validate: false });
    expect(await errorOf(qga.execute('guest-set-time', { time: 1 }))).toEqual({
      class: 'CommandNotFound',
      desc: 'Command guest-set-time has been disabled',
      code: 'command-disabled',
    });
    // @ts-expect-error path missing: the client does not check, and the agent refuses the command first
    expect((await errorOf(qga.execute('guest-file-open', {}))).desc).toBe('Command guest-file-open has been disabled');
    const info = await qga.cmd.guestInfo();
    expect(info.supported_commands.filter((c) => !c.enabled).map((c) => c.name)).toEqual([
      'guest-file-open',
      'guest-set-time',
    ]);
    expect(fake.blocked).toEqual(['guest-set-time', 'guest-file-open']);
    expect(fake.calls.map((c) => c.command)).toEqual(['guest-sync-delimited', 'guest-info']);
    expect(() => createFakeAgent({ release: qga72, blocked: ['guest-set-tim'] })).toThrow(
      /blocked: 'guest-set-tim': the release has no such command.*guest-set-time/,
    );
  });

  it('guest-shutdown: accepted, nothing is sent and the call resolves once written; refused, the client is told', async () => {
    const fake = fakeAgent();
    const qga = await connectTo(fake);
    const problems: Error[] = [];
    qga.onError((p) => void problems.push(p));
    // A command first: the client then knows the agent echoes ids. Before that, the SDK takes qemu-ga's
    // answer to its own resync byte after a no-reply command for that command's refusal (seen with qemu-ga too).
    expect(await qga.execute('guest-ping')).toEqual({});
    await expect(qga.execute('guest-shutdown', { mode: 'powerdown' })).resolves.toBeNull();
    expect(await qga.execute('guest-ping')).toEqual({});
    expect(fake.calls.filter((c) => c.command === 'guest-shutdown')).toEqual([
      { connection: 1, command: 'guest-shutdown', args: { mode: 'powerdown' }, id: expect.any(Number) },
    ]);
    // Nothing written for it.
    const shutdownId = fake.calls.find((c) => c.command === 'guest-shutdown')!.id;
    const replies = fake.log.filter((e) => e.direction === 'out').map((e) => e.message as { id?: unknown });
    expect(replies.filter((m) => m.id === shutdownId)).toEqual([]);
    expect(problems).toEqual([]);
    // Refused (a script's FakeError): the agent answers after all, and the SDK reports it.
    fake.on('guest-shutdown', () => {
      throw new FakeError('GenericError', 'failed to execute shutdown: permission denied');
    });
    await expect(qga.execute('guest-shutdown')).resolves.toBeNull();
    expect(await qga.execute('guest-ping')).toEqual({});
    expect(problems).toEqual([
      expect.objectContaining({
        code: 'command-failed',
        command: 'guest-shutdown',
        desc: 'failed to execute shutdown: permission denied',
      }),
    ]);
  });

  it('guest-shutdown first thing on a fresh connection: the echo of the resync byte is not taken for a refusal', async () => {
    const fake = fakeAgent();
    const qga = await connectTo(fake);
    const problems: Error[] = [];
    qga.onError((p) => void problems.push(p));
    await expect(qga.execute('guest-shutdown', { mode: 'powerdown' })).resolves.toBeNull();
    expect(await qga.execute('guest-ping')).toEqual({});
    expect(problems).toEqual([]);
  });

  it('shutdown({ qmp }) with a fake QEMU: resolves with SHUTDOWN, rejects when the agent refuses', async () => {
    const qemu = createFakeQemu<QmpCommands, QmpEvents>({ release: qemu72 });
    cleanup(() => qemu.close());
    const qmp = await connectQmp({ stream: qemu.connectStream() });
    cleanup(() => qmp.close());
    const fake = fakeAgent();
    // The guest goes down: QEMU says so, the agent says nothing.
    fake.on('guest-shutdown', () => void qemu.emit('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }));
    const qga = await connectTo(fake);
    // A command first, as in the test above.
    expect(await qga.execute('guest-ping')).toEqual({});
    expect(await qga.shutdown('powerdown', { qmp, timeout: 5000 })).toMatchObject({
      event: 'SHUTDOWN',
      data: { guest: true, reason: 'guest-shutdown' },
    });
    await qga.close();
    const blocked = fakeAgent({ blocked: ['guest-shutdown'] });
    const refusing = await connectTo(blocked);
    const refused = await refusing.shutdown('reboot', { qmp, timeout: 5000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QmpError);
    expect(refused).toMatchObject({ code: 'command-disabled', desc: 'Command guest-shutdown has been disabled' });
  });

  it('qga.exec() through the exec script: exit code, stdout, stderr, input, environment, a signal', async () => {
    const fake = fakeAgent();
    const seen: unknown[] = [];
    fake.exec((file, args, input, program) => {
      seen.push({ file, args, input: input.toString(), env: program.env, capture: program.capture });
      if (file === '/bin/kill-me') return { signal: 9, stdout: 'not captured after all' };
      return { exitCode: 3, stdout: 'out\n', stderr: Buffer.from([0, 0xff, 1]) };
    });
    const qga = await connectTo(fake);
    const r = await qga.exec('/bin/sh', ['-c', 'anything'], { input: 'in', env: { GREETING: 'hi' } });
    expect(r).toEqual({
      pid: 1000,
      exitCode: 3,
      signal: undefined,
      stdout: Buffer.from('out\n'),
      stderr: Buffer.from([0, 0xff, 1]),
      stdoutTruncated: false,
      stderrTruncated: false,
    });
    expect(seen).toEqual([
      { file: '/bin/sh', args: ['-c', 'anything'], input: 'in', env: ['GREETING=hi'], capture: 'separated' },
    ]);
    expect(await qga.exec('/bin/kill-me')).toMatchObject({ pid: 1001, exitCode: undefined, signal: 9 });
    // Output not asked for is not sent.
    expect((await qga.exec('/bin/true', [], { captureOutput: false })).stdout).toEqual(Buffer.alloc(0));
    // Its exit reported, the process is forgotten, as qemu-ga forgets it.
    expect(await errorOf(qga.execute('guest-exec-status', { pid: r.pid }))).toEqual({
      class: 'GenericError',
      desc: "Invalid parameter 'pid'",
      code: 'command-failed',
    });
    expect(fake.calls.filter((c) => c.command === 'guest-exec').map((c) => c.args['capture-output'])).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('a program still running until its script settles; one that cannot start fails guest-exec', async () => {
    const fake = fakeAgent();
    let finish!: (r: FakeExecResult) => void;
    fake.exec((file) => {
      if (file === '/nonexistent')
        throw new FakeError(
          'GenericError',
          "Guest agent command failed, error was 'Failed to execute child process \u201C/nonexistent\u201D (No such file or directory)'",
        );
      if (file === '/bin/true') return Promise.resolve({});
      return new Promise<FakeExecResult>((resolve) => (finish = resolve));
    });
    const qga = await connectTo(fake);
    const { pid } = await qga.execute('guest-exec', { path: '/bin/sleep', arg: ['10'], 'capture-output': true });
    expect(await qga.execute('guest-exec-status', { pid })).toEqual({ exited: false });
    finish({ stdout: 'done' });
    expect(await qga.execute('guest-exec-status', { pid })).toEqual({
      exited: true,
      exitcode: 0,
      'out-data': Buffer.from('done').toString('base64'),
      'out-truncated': false,
    });
    // A promise already settled is an exit at once.
    expect(await qga.exec('/bin/true')).toMatchObject({ exitCode: 0 });
    expect((await errorOf(qga.exec('/nonexistent'))).desc).toMatch(/Failed to execute child process .\/nonexistent/);
    // A script's own mistake: an error reply, and reported where the test looks.
    fake.exec(() => ({ exitCode: 'zero' }) as unknown as FakeExecResult);
    expect((await errorOf(qga.exec('/bin/x'))).desc).toMatch(/the exec script must give \{ exitCode\?: integer/);
    expect(fake.problems).toHaveLength(1);
    // No script: guest-exec is refused, saying how to script it.
    fake.exec(undefined);
    expect((await errorOf(qga.execute('guest-exec', { path: '/bin/true' }))).desc).toMatch(
      /guest-exec is not emulated: fake\.exec\(/,
    );
    // More than qemu-ga keeps: cut at 16 MiB, and flagged.
    fake.exec(() => ({ stdout: Buffer.alloc(16 * 1024 * 1024 + 1, 0x61), stderr: 'e' }));
    const big = await qga.exec('/bin/big');
    expect([big.stdout.length, big.stdoutTruncated, big.stderr.toString(), big.stderrTruncated]).toEqual([
      16 * 1024 * 1024,
      true,
      'e',
      false,
    ]);
  });

  it('refuses bad arguments as qemu-ga words them, when the client does not check them', async () => {
    const fake = fakeAgent();
    fake.exec(shell);
    const qga = await connectTo(fake, { validate: false });
    const desc = async (command: string, args?: { [k: string]: qga72.JsonValue }): Promise<string> => {
      const e = await errorOf(qga.executeRaw(command, args));
      expect(e.class).toBe('GenericError');
      return e.desc;
    };
    expect(await desc('guest-ping', { x: 1 })).toBe("Parameter 'x' is unexpected");
    expect(await desc('guest-exec', {})).toBe("Parameter 'path' is missing");
    expect(await desc('guest-exec', { path: 5 })).toBe("Invalid parameter type for 'path', expected: string");
    expect(await desc('guest-file-read', { handle: 'x' })).toBe(
      "Invalid parameter type for 'handle', expected: integer",
    );
    expect(await desc('guest-sync', {})).toBe("Parameter 'id' is missing");
    expect(await desc('guest-exec', { path: '/bin/cat', 'input-data': 'not base64!' })).toBe(
      'Base64 data contains invalid characters',
    );
    // @ts-expect-error a string for the handle: the client does not check, the agent does
    expect(await errorOf(qga.execute('guest-file-close', { handle: 'x' }))).toMatchObject({
      desc: "Invalid parameter type for 'handle', expected: integer",
    });
    // None reached the command but the one refused by guest-exec itself (its input-data), as in qemu-ga.
    expect(fake.calls.map((c) => c.command)).toEqual(['guest-sync-delimited', 'guest-exec']);
  });

  it('scripted replies: typed handlers with their context, FakeError, off(); a reply the schema refuses', async () => {
    const fake = fakeAgent();
    let ctx: FakeAgentContext | undefined;
    fake.on('guest-get-host-name', (_args, c) => {
      ctx = c;
      return { 'host-name': 'vm1' };
    });
    fake.on('guest-get-osinfo', () => {
      throw new FakeError('GenericError', 'no os-release');
    });
    fake.on('guest-get-timezone', () => ({ offset: 'UTC' }) as never);
    const qga = await connectTo(fake);
    expect(await qga.cmd.guestGetHostName()).toEqual({ 'host-name': 'vm1' });
    expect(ctx).toMatchObject({ command: 'guest-get-host-name', connection: 1, id: expect.any(Number) });
    expect(ctx!.signal.aborted).toBe(false);
    expect(await errorOf(qga.execute('guest-get-osinfo'))).toEqual({
      class: 'GenericError',
      desc: 'no os-release',
      code: 'command-failed',
    });
    expect((await errorOf(qga.execute('guest-get-timezone'))).desc).toMatch(
      /the reply scripted for guest-get-timezone does not match its return type GuestTimezone/,
    );
    expect(fake.problems).toHaveLength(1);
    fake.off('guest-get-host-name');
    expect(await qga.cmd.guestGetHostName()).toEqual({ 'host-name': '' });
    await qga.close();
    await sleep(10);
    expect(ctx!.signal.aborted).toBe(true);
    expect(() => fake.on('guest-pnig' as 'guest-ping', () => ({}))).toThrow(
      /on\('guest-pnig'\): the release has no such command.*guest-ping/,
    );
    // Nothing scripted, on request: an error that says so.
    const strict = fakeAgent({ unscripted: 'error' });
    const other = await connectTo(strict);
    expect((await errorOf(other.execute('guest-get-users'))).desc).toMatch(/no reply scripted for guest-get-users/);
    expect(await other.execute('guest-ping')).toEqual({});
    expect(() => createFakeAgent({ release: qemu72 })).toThrow(/not a guest agent's/);
  });

  it("a resync byte drops the request being read with qemu-ga's error; what follows is skipped to a structural character", async () => {
    const fake = fakeAgent();
    const raw = new Raw(fake.connectStream());
    expect(await raw.exchange('{"execute":"guest-ping","id":"a\u00ff')).toEqual([
      `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\"a\\uFFFD'"}}`,
    ]);
    expect(await raw.exchange('{"execute":"guest-ping","id":1\u00ff junk, {"execute":"guest-ping","id":2}')).toEqual([
      `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}`,
      // ', ' resyncs the lexer (a lone comma is a request qemu-ga cannot parse; its wording is not modelled).
      expect.stringMatching(/^\{"error": \{"class": "GenericError", "desc": "JSON parse error, /),
      '{"return": {}, "id": 2}',
    ]);
    expect(
      await raw.exchange('{"execute":"guest-sync-delimited","arguments":{"id":9007199254740993},"id":"s"}'),
    ).toEqual(['\u00ff{"return": 9007199254740993, "id": "s"}']);
    expect(fake.log.filter((e) => e.direction === 'in' && e.message === undefined).map((e) => e.text)).toEqual([
      '\u00ff',
      '\u00ff',
      ',',
    ]);
  });

  it('one client at a time: a second connectQga waits for the first to close', async () => {
    const fake = fakeAgent();
    const a = await connectTo(fake);
    let bReady = false;
    const b = connectQga({ stream: fake.connectStream() }).then((c) => {
      bReady = true;
      cleanup(() => c.close());
      return c;
    });
    expect(await a.execute('guest-ping')).toEqual({});
    await sleep(20);
    expect([fake.connections, bReady]).toEqual([2, false]);
    await a.close();
    expect(await (await b).execute('guest-ping')).toEqual({});
    expect(fake.calls.map((c) => `${c.connection} ${c.command}`)).toEqual([
      '1 guest-sync-delimited',
      '1 guest-ping',
      '2 guest-sync-delimited',
      '2 guest-ping',
    ]);
  });

  it('listens on a unix socket; close() ends the clients, removes the socket and leaves nothing behind', async () => {
    const count = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
      return out;
    };
    await new Promise((r) => setImmediate(r));
    const before = count();
    const dir = tempDir('fga');
    cleanup(() => rmSync(dir, { recursive: true, force: true }));
    const fake = createFakeAgent<QgaCommands>({ release: qga72 });
    const where = await fake.listen({ path: path.join(dir, 'ga.sock') });
    expect(fake.path).toBe(where);
    let aborted = 0;
    fake.on('guest-get-users', (_a, ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => aborted++)));
    fake.exec((_f, _a, _i, program) => new Promise(() => program.signal.addEventListener('abort', () => aborted++)));
    const qga = await connectQga({ path: where });
    await qga.execute('guest-exec', { path: '/bin/sleep' });
    const pending = qga.execute('guest-get-users').catch((e: unknown) => e);
    // The second client waits its turn, as with qemu-ga.
    const waiting = new Raw(netConnect(where));
    const waitingClosed = once(waiting.stream, 'close');
    await sleep(20);
    expect(fake.connections).toBe(2);
    await fake.close();
    expect(await pending).toBeInstanceOf(ConnectionError);
    await qga.closed;
    await waitingClosed;
    expect(aborted).toBe(2);
    expect(existsSync(where)).toBe(false);
    expect(fake.connections).toBe(0);
    expect(() => fake.connectStream()).toThrow(/after close/);
    await sleep(20);
    const after = count();
    for (const kind of ['PipeWrap', 'PipeServerWrap', 'TCPWrap', 'TCPServerWrap', 'Immediate'])
      expect([kind, after[kind] ?? 0]).toEqual([kind, before[kind] ?? 0]);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
  });
});

describe('fake agent and qemu-ga 7.2 answer alike', () => {
  let ga: AgentProcess;
  let fake: Fake;
  let fakePath: string;
  let fakeDir: string | undefined;

  beforeAll(async () => {
    ga = await startAgent();
    // The fake says the same version as this qemu-ga build, and blocks what it blocks: what
    // startAgent() blocks, and guest-get-devices, which qemu-ga leaves out on Linux.
    const probe = await connectQga({ path: ga.path });
    const { version } = await probe.cmd.guestInfo();
    await probe.close();
    fake = createFakeAgent<QgaCommands>({
      release: qga72,
      version,
      blocked: [...HOST_CHANGING_RPCS, 'guest-get-devices'],
    });
    fake.exec(shell);
    fakeDir = tempDir('fga');
    fakePath = await fake.listen({ path: path.join(fakeDir, 'fake.sock') });
  });
  afterAll(async () => {
    await fake?.close();
    if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
    await ga?.kill();
  });

  it('through the SDK: guest-ping, an unknown command, a blocked one, a bad argument, a program run', async () => {
    const run = async (target: { path: string }): Promise<unknown[]> => {
      const qga = await connectQga(target, { validate: false });
      try {
        const { pid, ...ran } = await qga.exec('/bin/sh', ['-c', 'printf out; printf err >&2; exit 3']);
        expect(pid).toBeGreaterThan(0);
        return [
          await qga.execute('guest-ping'),
          await errorOf(qga.executeRaw('guest-no-such-command')),
          await errorOf(qga.execute('guest-set-time', { time: 1 })),
          // @ts-expect-error a number for the path: the client's validation is off, the agent answers
          await errorOf(qga.execute('guest-exec', { path: 5 })),
          { ...ran, stdout: ran.stdout.toString(), stderr: ran.stderr.toString() },
        ];
      } finally {
        await qga.close();
      }
    };
    const real = await run({ path: ga.path });
    const faked = await run({ path: fakePath });
    expect(faked).toEqual(real);
    expect(real).toEqual([
      {},
      {
        class: 'CommandNotFound',
        desc: 'The command guest-no-such-command has not been found',
        code: 'command-not-found',
      },
      { class: 'CommandNotFound', desc: 'Command guest-set-time has been disabled', code: 'command-disabled' },
      { class: 'GenericError', desc: "Invalid parameter type for 'path', expected: string", code: 'command-failed' },
      {
        exitCode: 3,
        signal: undefined,
        stdout: 'out',
        stderr: 'err',
        stdoutTruncated: false,
        stderrTruncated: false,
      },
    ]);
  });

  it('on the wire: the same bytes for syncs, resync bytes, errors, guest-info and guest-exec-status', async () => {
    const requests = [
      '{"execute":"guest-ping"}',
      '{"execute":"guest-ping","id":{"any":["json"]}}',
      '{"execute":"guest-sync","arguments":{"id":123},"id":7}',
      '{"execute":"guest-sync","arguments":{"id":-5}}',
      '{"execute":"guest-sync-delimited","arguments":{"id":9007199254740993}}',
      '{"execute":"guest-sync-delimited","arguments":{"id":5},"id":"s"}',
      '\u00ff{"execute":"guest-sync-delimited","arguments":{"id":6}}',
      '\u00ff',
      '\u00ff\u00ff  skipped after a stray byte ',
      '{"execute":"guest-ping","id":12\u00ff',
      '{"execute":"guest-pi\u00ff',
      '{"execute":"guest-ping","id":"caf\u00e9 \\"q\\" \u00ff',
      '5\u00ff',
      '{"execute":"guest-no-such","id":8}',
      '{"execute":"guest-set-time","arguments":{"time":1},"id":9}',
      '{"execute":"guest-shutdown","arguments":{"mode":"bogus"},"id":10}',
      '{"execute":"guest-suspend-ram"}',
      '{"execute":"guest-get-devices","id":11}',
      '{"execute":"guest-ping","arguments":{"x":1},"id":12}',
      '{"execute":"guest-exec","arguments":{},"id":13}',
      '{"execute":"guest-exec","arguments":{"path":5},"id":14}',
      '{"execute":"guest-exec","arguments":{"path":"/bin/cat","input-data":"not base64!!"},"id":15}',
      '{"execute":"guest-exec-status","arguments":{"pid":99999999},"id":16}',
      '{"execute":"guest-exec-status","arguments":{"pid":"x"},"id":17}',
      '{"execute":"guest-sync","id":18}',
      '{"execute":"guest-file-read","arguments":{"handle":"x"},"id":19}',
      '{"execute":"guest-file-open","arguments":{"path":"/x","mode":3},"id":20}',
      '[1]',
      '"a string"',
      '{"id":21}',
      '{"execute":"guest-ping","foo":1,"id":22}',
      '{"exec-oob":"guest-ping","id":23}',
      '{"execute":"guest-ping","arguments":[],"id":24}',
      '{"execute":"guest-ping","id":25}{"execute":"guest-ping","id":26}',
      // Beyond 64 bits, or with a fraction: a double to qemu-ga (echoed as one; no integer argument).
      '{"execute":"guest-ping","id":18446744073709551616}',
      '{"execute":"guest-sync","arguments":{"id":2.0},"id":27}',
      '{"execute":"guest-info","id":"info"}',
    ];
    const programs = [
      { path: '/bin/sh', arg: ['-c', 'printf out; printf err >&2; exit 3'], 'capture-output': true },
      { path: '/bin/sh', arg: ['-c', 'printf hi'] },
      { path: '/bin/sh', arg: ['-c', 'kill -9 $$'], 'capture-output': true },
      { path: '/bin/cat', 'input-data': Buffer.from('caf\u00e9\n').toString('base64'), 'capture-output': true },
    ];
    const run = async (socketPath: string): Promise<string[]> => {
      const raw = await Raw.at(socketPath);
      const lines: string[] = [];
      for (const r of requests) lines.push(`> ${r}`, ...(await raw.exchange(r)));
      for (const args of programs) {
        const [started] = await raw.exchange(JSON.stringify({ execute: 'guest-exec', arguments: args, id: 'run' }));
        const pid = /"pid": (\d+)/.exec(started)?.[1];
        lines.push(`> ${JSON.stringify(args)}`, started.replace(/"pid": \d+/, '"pid": PID'));
        // Until it has exited (a real program takes a moment), then once more: it is forgotten.
        const status = `{"execute":"guest-exec-status","arguments":{"pid":${pid}},"id":"st"}`;
        let reply: string[];
        do reply = await raw.exchange(status);
        while (reply[0]?.includes('"exited": false'));
        lines.push(...reply, ...(await raw.exchange(status)));
      }
      raw.stream.destroy();
      return lines;
    };
    const real = await run(ga.path);
    const faked = await run(fakePath);
    expect(faked).toEqual(real);
    // What the transcript holds, on the real agent's word.
    const after = (request: string): string[] => real.slice(real.indexOf(`> ${request}`) + 1);
    expect(after('\u00ff\u00ff  skipped after a stray byte ').slice(0, 3)).toEqual([
      `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}`,
      `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}`,
      `> {"execute":"guest-ping","id":12\u00ff`,
    ]);
    expect(after('{"execute":"guest-ping","id":"caf\u00e9 \\"q\\" \u00ff')[0]).toBe(
      `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\"caf\\u00E9 \\\\\\"q\\\\\\" \\uFFFD'"}}`,
    );
    expect(after('{"execute":"guest-sync-delimited","arguments":{"id":5},"id":"s"}')[0]).toBe(
      '\u00ff{"return": 5, "id": "s"}',
    );
    expect(after('{"execute":"guest-suspend-ram"}')[0]).toBe(
      '{"error": {"class": "CommandNotFound", "desc": "Command guest-suspend-ram has been disabled"}}',
    );
    expect(real.filter((l) => l.startsWith('{"return": {"exitcode"') || l.startsWith('{"return": {"signal"'))).toEqual([
      '{"return": {"exitcode": 3, "err-data": "ZXJy", "out-data": "b3V0", "err-truncated": false, "out-truncated": false, "exited": true}, "id": "st"}',
      '{"return": {"exitcode": 0, "exited": true}, "id": "st"}',
      '{"return": {"signal": 9, "exited": true}, "id": "st"}',
      '{"return": {"exitcode": 0, "out-data": "Y2Fmw6kK", "out-truncated": false, "exited": true}, "id": "st"}',
    ]);
    expect(real.filter((l) => l.includes("Invalid parameter 'pid'"))).toHaveLength(5);
    expect(after('{"execute":"guest-info","id":"info"}')[0]).toMatch(
      /^\{"return": \{"version": "7\.2\.\d+", "supported_commands": \[\{"enabled": true, "name": "guest-get-cpustats", "success-response": true\}, /,
    );
  });

  it('one client at a time, one parser for all: the next client reads on from what the last one left', async () => {
    const run = async (socketPath: string): Promise<string[][]> => {
      const a = await Raw.at(socketPath);
      const b = await Raw.at(socketPath);
      // Not read while a is served.
      b.stream.write('{"execute":"guest-ping","id":"b1"}');
      const first = await a.exchange('');
      await sleep(50);
      const whileWaiting = [...b.lines];
      // a leaves half a request behind; b's bytes, read now, go on from it.
      a.stream.write('{"execute":"guest-ping","id":');
      await sleep(50);
      a.stream.destroy();
      await sleep(100);
      const afterwards = [...b.lines];
      const rest = await b.exchange('}');
      b.stream.destroy();
      await sleep(20);
      return [first, whileWaiting, afterwards, rest];
    };
    const real = await run(ga.path);
    const faked = await run(fakePath);
    expect(faked).toEqual(real);
    expect(real).toEqual([[], [], [], ['{"return": {}, "id": {"execute": "guest-ping", "id": "b1"}}']]);
  });
});
