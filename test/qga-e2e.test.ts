/**
 * The guest-agent client against a real qemu-ga (Debian's 7.2, run on this
 * host as nobody, every host-changing RPC blocked: support/agent.ts). Where
 * a test needs what only a VM has (a channel that exists before the agent
 * starts, bytes injected into the channel, a guest that powers off), a
 * small unix-socket proxy stands in for the virtio-serial channel, and the
 * agent behind it is still the real one.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectQga, type Client } from '../generated/qga-7.2/index.js';
import { connectQmp } from '../generated/qemu-7.2/index.js';
import { ConnectionError, ProtocolError, QmpError, QmpTimeoutError, type TapEntry } from '../runtime/index.js';
import { HOST_CHANGING_RPCS, startAgent, type AgentProcess } from './support/agent.js';
import { startQemu, tempDir } from './support/qemu.js';

/** A stand-in for the virtio-serial channel: a socket the client connects to, wired to the agent when attached. */
interface Channel {
  path: string;
  /** Wires the next (or current) client connection to the agent's socket. */
  attach(agentPath: string): void;
  /** Bytes to the agent, as if a client had written them. */
  toAgent(bytes: string | Buffer): void;
  /** Bytes to the client, as if the agent had written them. */
  toClient(bytes: string | Buffer): void;
  /** Requests from the client matching this are not passed on (a guest that went away). */
  swallow(pattern: RegExp, then: () => void): void;
  close(): void;
}

function channel(dir: string): Promise<Channel> {
  const file = path.join(dir, 'chan.sock');
  let client: net.Socket | undefined;
  let agent: net.Socket | undefined;
  let upstream: string | undefined;
  let swallowed: { pattern: RegExp; then: () => void } | undefined;
  const early: Buffer[] = [];
  const connectAgent = (): void => {
    if (!client || !upstream || agent) return;
    agent = net.connect(upstream);
    agent.on('data', (d) => client?.write(d));
    agent.on('error', () => undefined);
    for (const b of early.splice(0)) agent.write(b);
  };
  const server = net.createServer((socket) => {
    client = socket;
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      if (swallowed && swallowed.pattern.test(d.toString('latin1'))) {
        const then = swallowed.then;
        swallowed = undefined;
        then();
        return;
      }
      if (agent) agent.write(d);
      else early.push(d);
    });
    socket.on('close', () => agent?.destroy());
    connectAgent();
  });
  return new Promise((resolve) =>
    server.listen(file, () =>
      resolve({
        path: file,
        attach(agentPath) {
          upstream = agentPath;
          connectAgent();
        },
        toAgent: (b) => agent!.write(b),
        toClient: (b) => client!.write(b),
        swallow: (pattern, then) => (swallowed = { pattern, then }),
        close() {
          client?.destroy();
          agent?.destroy();
          server.close();
        },
      }),
    ),
  );
}

let ga: AgentProcess;
let qga: Client;
const taps: TapEntry[] = [];

beforeAll(async () => {
  ga = await startAgent();
  qga = await connectQga({ path: ga.path }, { tap: (e) => void taps.push(e) });
});

afterAll(async () => {
  await qga?.close();
  await ga?.kill();
});

describe('qemu-ga: commands', () => {
  it('pings and reads the agent info; every host-changing RPC is disabled in it', async () => {
    expect(await qga.execute('guest-ping')).toEqual({});
    const info = await qga.cmd.guestInfo();
    expect(info.version).toMatch(/^7\.2\./);
    const enabled = new Map(info.supported_commands.map((c) => [c.name, c.enabled]));
    for (const rpc of HOST_CHANGING_RPCS) expect(enabled.get(rpc), rpc).toBe(false);
    expect(enabled.get('guest-shutdown')).toBe(false);
    // The power commands are known to send no reply on success.
    expect(info.supported_commands.find((c) => c.name === 'guest-shutdown')!['success-response']).toBe(false);
  });

  it('lists the network interfaces, typed (the loopback with 127.0.0.1)', async () => {
    const ifaces = await qga.execute('guest-network-get-interfaces');
    const lo = ifaces.find((i) => i.name === 'lo');
    expect(lo).toBeDefined();
    expect(lo!['ip-addresses']?.some((a) => a['ip-address'] === '127.0.0.1' && a['ip-address-type'] === 'ipv4')).toBe(
      true,
    );
  });

  it('keeps 64-bit values exact: guest-get-time in nanoseconds is a bigint, and int64: number refuses it', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const t = await qga.execute('guest-get-time');
    const after = BigInt(Date.now()) * 1_000_000n;
    expect(typeof t).toBe('bigint');
    expect(t as bigint).toBeGreaterThanOrEqual(before - 1_000_000_000n);
    expect(t as bigint).toBeLessThanOrEqual(after + 1_000_000_000n);
    // Not a double's rounding: the last digits are the agent's (microseconds × 1000).
    expect((t as bigint) % 1000n).toBe(0n);
  });

  it('tells a disabled command, an unknown one and a failed one apart, with the agent class and desc', async () => {
    const disabled = await qga.execute('guest-set-time', { time: 1 }).catch((e: unknown) => e);
    expect(disabled).toBeInstanceOf(QmpError);
    expect(disabled).toMatchObject({ code: 'command-disabled', errorClass: 'CommandNotFound' });
    const unknown = await qga.executeRaw('guest-no-such-command').catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: 'command-not-found', errorClass: 'CommandNotFound' });
    const failed = await qga
      .execute('guest-file-open', { path: path.join(ga.dir, 'missing') })
      .catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'command-failed', errorClass: 'GenericError' });
    expect((failed as QmpError).desc).toMatch(/No such file or directory/);
    // Each was answered and the channel stays in step.
    expect(await qga.execute('guest-ping')).toEqual({});
  });
});

describe('qemu-ga: exec and files', () => {
  it('runs a program: exit code, stdout and stderr as bytes, stdin and environment', async () => {
    const r = await qga.exec('/bin/sh', ['-c', 'printf "out\\n"; printf "err\\n" >&2; exit 3']);
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeUndefined();
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.stdoutTruncated).toBe(false);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const cat = await qga.exec('/bin/cat', [], { input: bytes });
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout.equals(bytes)).toBe(true);
    const env = await qga.exec('/bin/sh', ['-c', 'printf %s "$GREETING"'], { env: { GREETING: 'hello agent' } });
    expect(env.stdout.toString()).toBe('hello agent');
    const whoami = await qga.exec('/usr/bin/id', ['-u']);
    // The agent under test is unprivileged.
    expect(whoami.stdout.toString().trim()).toBe('65534');
  });

  it('reports a program ended by a signal', async () => {
    const r = await qga.exec('/bin/sh', ['-c', 'kill -9 $$']);
    expect(r.exitCode).toBeUndefined();
    expect(r.signal).toBe(9);
  });

  it('a program that runs too long is a timeout that names its pid, and the client goes on', async () => {
    const e = await qga.exec('/bin/sleep', ['2'], { timeout: 300 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpTimeoutError);
    expect((e as Error).message).toMatch(/\/bin\/sleep \(pid \d+\) did not end within 300 ms; it is still running/);
    expect(await qga.execute('guest-ping')).toEqual({});
  });

  it('copies binary files both ways, in chunks, intact; the tap never shows their contents', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 8)) & 0xff;
    const file = path.join(ga.dir, 'round-trip.bin');
    taps.length = 0;
    await qga.writeFile(file, data, { chunkSize: 1024 * 1024 });
    expect(readFileSync(file).equals(data)).toBe(true);
    const back = await qga.readFile(file, { chunkSize: 1024 * 1024 });
    expect(back.equals(data)).toBe(true);
    const commands = taps.filter((t) => t.direction === 'out').map((t) => t.message.execute);
    expect(commands.filter((c) => c === 'guest-file-write')).toHaveLength(4);
    expect(commands.filter((c) => c === 'guest-file-read')).toHaveLength(4);
    expect(commands.filter((c) => c === 'guest-file-close')).toHaveLength(2);
    const shown = JSON.stringify(taps, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    expect(shown).not.toContain(data.subarray(0, 30).toString('base64'));
    expect(shown).toContain('<redacted>');
    await qga.writeFile(file, 'tail', { append: true });
    expect(readFileSync(file).subarray(-4).toString()).toBe('tail');
  });

  it('closes the handle when a read fails midway (maxBytes), and refuses the file', async () => {
    const file = path.join(ga.dir, 'big.bin');
    writeFileSync(file, Buffer.alloc(64 * 1024, 1));
    taps.length = 0;
    const e = await qga.readFile(file, { chunkSize: 16 * 1024, maxBytes: 20 * 1024 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'too-large' });
    const commands = taps.filter((t) => t.direction === 'out').map((t) => t.message.execute);
    expect(commands).toEqual(['guest-file-open', 'guest-file-read', 'guest-file-read', 'guest-file-close']);
  });
});

describe('qemu-ga: the wrong client', () => {
  it('connectQmp on an agent socket says what it is likely to be', async () => {
    const dir = tempDir('qgw');
    const agent = await startAgent({ dir });
    try {
      const e = await connectQmp({ path: agent.path }, { connectTimeout: 300 }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'greeting-timeout' });
      expect((e as Error).message).toMatch(/use connectQga/);
    } finally {
      await agent.kill();
    }
  });
});

describe('qemu-ga: resynchronising', () => {
  it('connects through what an earlier client left: half a request and garbage in the agent', async () => {
    const dir = tempDir('qgs');
    const agent = await startAgent({ dir });
    try {
      const raw = net.connect(agent.path);
      await new Promise((r) => raw.once('connect', r));
      raw.write('{"execute": "guest-file-open", "arguments": {"pa');
      raw.write(Buffer.from([0x00, 0x7b, 0x7b, 0x22]));
      await new Promise((r) => setTimeout(r, 100));
      raw.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const client = await connectQga({ path: agent.path });
      expect(await client.execute('guest-ping')).toEqual({});
      expect((await client.cmd.guestInfo()).version).toMatch(/^7\.2/);
      expect(client.stats.syncs).toBe(1);
      expect(client.stats.staleMessages).toBeGreaterThanOrEqual(1);
      expect(client.stats.errors).toBe(0);
      await client.close();
      // A program that reads integers as numbers is told, not given a rounded time.
      const asNumbers = await connectQga({ path: agent.path }, { int64: 'number' });
      const e = await asNumbers.execute('guest-get-time').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ProtocolError);
      expect(e).toMatchObject({ code: 'unsafe-integer' });
      await asNumbers.close();
    } finally {
      await agent.kill();
    }
  });

  it('after garbage from the channel or half a request into the agent, mid-session, resyncs and goes on', async () => {
    const dir = tempDir('qgm');
    const agent = await startAgent({ dir });
    const chan = await channel(dir);
    chan.attach(agent.path);
    try {
      const client = await connectQga({ path: chan.path });
      const problems: Error[] = [];
      client.onError((p) => problems.push(p));
      expect(await client.execute('guest-ping')).toEqual({});
      // Garbage toward the client: reported, the channel resynchronised.
      chan.toClient('{"return": oops}\n');
      await new Promise((r) => setTimeout(r, 50));
      expect(problems.map((p) => (p as ProtocolError).code)).toEqual(['invalid-json']);
      expect(await client.execute('guest-ping')).toEqual({});
      expect(client.stats.syncs).toBe(2);
      // Half a request toward the agent: the next command cannot be read by it; it fails clearly, and the one after works.
      chan.toAgent('{"execute": "guest-ping", "argu');
      await new Promise((r) => setTimeout(r, 50));
      const first = await client.execute('guest-info').catch((e: unknown) => e);
      expect(first).toBeInstanceOf(QmpError);
      expect((first as QmpError).message).toMatch(/the agent could not read the request/);
      expect((await client.cmd.guestInfo()).version).toMatch(/^7\.2/);
      expect(client.stats.syncs).toBe(3);
      await client.close();
    } finally {
      chan.close();
      await agent.kill();
    }
  });

  it('a command that times out (the agent is stuck) leaves the client usable once the agent answers again', async () => {
    ga.pause();
    let resumed = false;
    try {
      const stuck = await qga.execute('guest-ping', { timeout: 300 }).catch((e: unknown) => e);
      expect(stuck).toBeInstanceOf(QmpTimeoutError);
      expect(stuck).toMatchObject({ sent: true });
      // Meanwhile a command waits for the resync, and says why when it gives up.
      const waiting = await qga.execute('guest-info', { timeout: 800 }).catch((e: unknown) => e);
      expect(waiting).toMatchObject({ code: 'timeout', sent: false });
      expect((waiting as Error).message).toMatch(/the guest agent is not answering/);
      const late = qga.stats.lateReplies;
      const next = qga.execute('guest-get-time');
      ga.resume();
      resumed = true;
      // The stuck ping's reply comes first after all: dropped, never given to the next command.
      expect(typeof (await next)).toBe('bigint');
      expect(qga.stats.lateReplies).toBe(late + 1);
      expect(await qga.execute('guest-ping')).toEqual({});
    } finally {
      if (!resumed) ga.resume();
    }
  });

  it('waits for an agent that starts after the client (a booting guest), through the channel', async () => {
    const dir = tempDir('qgl');
    chmodSync(dir, 0o755);
    const chan = await channel(dir);
    const agentDir = path.join(dir, 'agent');
    mkdirSync(agentDir);
    let agent: AgentProcess | undefined;
    try {
      const started = Date.now();
      const connecting = connectQga({ path: chan.path }, { connectTimeout: 10_000 });
      connecting.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 700));
      agent = await startAgent({ dir: agentDir });
      chan.attach(agent.path);
      const client = await connecting;
      expect(Date.now() - started).toBeGreaterThanOrEqual(700);
      expect(await client.execute('guest-ping')).toEqual({});
      // The syncs written before the agent ran were answered late or not at all: none was taken for the current one.
      expect(client.stats.syncs).toBe(1);
      await client.waitUntilReady({ timeout: 2000 });
      expect(client.stats.syncs).toBe(2);
      await client.close();
    } finally {
      chan.close();
      await agent?.kill();
    }
  });

  it('says the agent is not answering when nothing answers on the channel', async () => {
    const dir = tempDir('qgn');
    const chan = await channel(dir);
    try {
      const e = await connectQga({ path: chan.path }, { connectTimeout: 600 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConnectionError);
      expect(e).toMatchObject({ code: 'agent-unresponsive' });
      expect((e as Error).message).toMatch(/did not answer within \d+ ms: is qemu-ga running in the guest/);
    } finally {
      chan.close();
    }
  });
});

describe('qemu-ga: commands without a reply', () => {
  it('guest-shutdown resolves once written; the agent refusing it (blocked) reaches onError as a QmpError', async () => {
    const problems: Error[] = [];
    const sub = qga.onError((p) => problems.push(p));
    await expect(qga.execute('guest-shutdown', { mode: 'powerdown' })).resolves.toBeNull();
    expect(await qga.execute('guest-ping')).toEqual({});
    sub.dispose();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: 'command-disabled', command: 'guest-shutdown' });
  });

  it('shutdown({ qmp }) rejects when the agent refuses, and resolves with QEMU SHUTDOWN when the guest goes', async () => {
    const qemu = await startQemu();
    const dir = tempDir('qgp');
    const chan = await channel(dir);
    // qemu-ga serves one client at a time: the shared one steps aside.
    await qga.close();
    chan.attach(ga.path);
    try {
      const qmp = await connectQmp({ path: qemu.qmpPath });
      const client = await connectQga({ path: chan.path });
      // The real agent refuses it (-b): the helper rejects with its error rather than waiting for an event.
      const refused = await client.shutdown('powerdown', { qmp, timeout: 5000 }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'command-disabled' });
      // A guest that does shut down sends nothing back and QEMU reports it: here the channel keeps the
      // request from the (blocked) agent and QEMU is told to quit, which emits SHUTDOWN.
      chan.swallow(/guest-shutdown/, () => void qmp.execute('quit').catch(() => undefined));
      const event = await client.shutdown('powerdown', { qmp, timeout: 5000 });
      expect(event).toMatchObject({ event: 'SHUTDOWN' });
      await client.close();
      await qmp.close();
    } finally {
      chan.close();
      await qemu.kill();
      qga = await connectQga({ path: ga.path }, { tap: (e) => void taps.push(e) });
    }
  });
});
