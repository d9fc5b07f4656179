/**
 * The SDK's end-to-end guest-agent scenarios (from qga-e2e and the fake's
 * own tests), written once as functions of a peer so that
 * test/scenarios.test.ts can run each against a real qemu-ga 7.2
 * (support/agent.ts: as nobody, every host-changing RPC blocked) and
 * against createFakeAgent, and require the same outcome. See scenarios.ts
 * for how scenarios are written and what 'both', 'real-only', 'fake-only'
 * and `scripted` mean. The fake stands for that agent: it blocks what the
 * real one blocks (HOST_CHANGING_RPCS, and guest-get-devices, which
 * qemu-ga leaves out on Linux), and plays the programs guest-exec runs
 * (scriptFakeGuest).
 *
 * One-sided guest-agent scenarios:
 * - fake-only: guest-shutdown accepted (nothing comes back): the real agent
 *   runs on this host, where guest-shutdown must stay blocked.
 * - real-only: files (guest-file-*) and guest-network-get-interfaces: the
 *   fake has no files or network of its own.
 */
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { expect } from 'vitest';
import {
  connectQga,
  type AgentOptions,
  type Client,
  type QgaCommands,
  type Target,
} from '../../generated/qga-7.2/index.js';
import { FakeError, type FakeAgent } from '../../runtime/testing/index.js';
import { HOST_CHANGING_RPCS } from './agent.js';
import { errorShape, outcome, type Scenario } from './scenarios.js';

/** What differs between a real qemu-ga and the fake: how a scenario reaches them. */
export interface AgentPeer {
  /** A new connection to the agent, for connectQga (the agent serves one at a time). */
  target(): Promise<Target>;
  /**
   * The agent stops answering: `command` (the next one the scenario sends)
   * and everything behind it wait until the function returned is called.
   * Real: SIGSTOP, then SIGCONT; the fake: a handler that waits, which
   * holds what comes behind it, as a busy agent does.
   */
  stall(command: keyof QgaCommands): () => void;
  /** A directory the agent can write files in. */
  readonly dir: string;
  /** An agent of its own that blocks nothing (only a fake: the real one must not power off this host). */
  unblocked?(): Promise<{ target(): Promise<Target>; close(): Promise<void> }>;
}

/** What the fake blocks to stand for the real agent of support/agent.ts. */
export const FAKE_AGENT_BLOCKED = [...HOST_CHANGING_RPCS, 'guest-get-devices'];

/** The programs the scenarios run, played for the fake as /bin/sh would run them. */
export function scriptFakeGuest(fake: FakeAgent<QgaCommands>): void {
  fake.exec((file, args, input, program) => {
    const script = `${file} ${args.join(' ')}`;
    switch (script) {
      case '/bin/sh -c printf out; printf err >&2; exit 3':
        return { exitCode: 3, stdout: 'out', stderr: 'err' };
      case '/bin/sh -c printf %s "$GREETING"':
        return { stdout: (program.env.find((e) => e.startsWith('GREETING=')) ?? 'GREETING=').slice(9) };
      case '/bin/sh -c kill -9 $$':
        return { signal: 9 };
      case '/bin/cat ':
        return { stdout: input };
      case '/nonexistent ':
        throw new FakeError(
          'GenericError',
          "Guest agent command failed, error was 'Failed to execute child process \u201C/nonexistent\u201D (No such file or directory)'",
        );
      default:
        throw new FakeError('GenericError', `scriptFakeGuest: no program ${script}`);
    }
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function using<T>(
  target: Target | Promise<Target>,
  options: AgentOptions | undefined,
  fn: (qga: Client) => Promise<T>,
): Promise<T> {
  const qga = await connectQga(await target, options);
  try {
    return await fn(qga);
  } finally {
    await qga.close();
  }
}

async function rawStream(target: Target): Promise<Duplex> {
  if ('stream' in target) return target.stream;
  if (!('path' in target)) throw new TypeError('rawStream: a unix socket or a stream');
  const socket = netConnect(target.path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  return socket;
}

const agentError = (cls: string, desc: string, code = 'command-failed'): unknown => ({
  error: { name: 'QmpError', code, class: cls, desc },
});

export const AGENT_SCENARIOS: readonly Scenario<AgentPeer>[] = [
  {
    name: 'connect: a resync byte and guest-sync-delimited; the agent’s answer to the byte is dropped as stale',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const ping = await qga.execute('guest-ping');
        const { syncs, staleMessages, errors, unmatchedReplies, lateReplies } = qga.stats;
        return { ping, stats: { syncs, staleMessages, errors, unmatchedReplies, lateReplies } };
      }),
    expected: { ping: {}, stats: { syncs: 1, staleMessages: 1, errors: 0, unmatchedReplies: 0, lateReplies: 0 } },
  },
  {
    name: 'guest-sync and guest-sync-delimited echo their id, exact beyond 2^53; one beyond 64 bits is refused',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), { validate: false }, async (qga) => ({
        sync: await qga.executeRaw('guest-sync', { id: 2n ** 53n + 1n }),
        delimited: await qga.executeRaw('guest-sync-delimited', { id: 2n ** 63n - 1n }),
        beyond: await outcome(qga.executeRaw('guest-sync', { id: 2n ** 64n })),
        ready: await qga.waitUntilReady({ timeout: 2000 }).then(() => qga.stats.syncs),
      })),
    expected: {
      sync: 2n ** 53n + 1n,
      delimited: 2n ** 63n - 1n,
      beyond: agentError('GenericError', "Invalid parameter type for 'id', expected: integer"),
      ready: 2,
    },
  },
  {
    name: 'guest-info: the version, and every command with enabled and success-response, newest first',
    runs: 'both',
    run: (peer) => using(peer.target(), undefined, (qga) => qga.cmd.guestInfo()),
    expected: {
      version: expect.stringMatching(/^7\.2\./),
      supported_commands: expect.arrayContaining([
        { name: 'guest-shutdown', enabled: false, 'success-response': false },
        { name: 'guest-ping', enabled: true, 'success-response': true },
        { name: 'guest-get-devices', enabled: false, 'success-response': true },
      ]),
    },
  },
  {
    name: 'errors: an unknown command, one disabled by -b (before its arguments), a bad argument the client did not check',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), { validate: false }, async (qga) => [
        await outcome(qga.executeRaw('guest-no-such-command')),
        await outcome(qga.execute('guest-set-time', { time: 1 })),
        await outcome(qga.executeRaw('guest-fsfreeze-freeze-list', { mountpoints: 5 })),
        await outcome(qga.executeRaw('guest-exec', { path: 5 })),
        await outcome(qga.executeRaw('guest-exec', {})),
        await outcome(qga.executeRaw('guest-ping', { x: 1 })),
        await outcome(qga.execute('guest-ping')),
      ]),
    expected: [
      agentError('CommandNotFound', 'The command guest-no-such-command has not been found', 'command-not-found'),
      agentError('CommandNotFound', 'Command guest-set-time has been disabled', 'command-disabled'),
      agentError('CommandNotFound', 'Command guest-fsfreeze-freeze-list has been disabled', 'command-disabled'),
      agentError('GenericError', "Invalid parameter type for 'path', expected: string"),
      agentError('GenericError', "Parameter 'path' is missing"),
      agentError('GenericError', "Parameter 'x' is unexpected"),
      { value: {} },
    ],
  },
  {
    name: 'guest-exec: exit code and output, input, environment, a signal, a program that cannot start; a pid forgotten once reported',
    runs: 'both',
    scripted: ['the programs guest-exec runs'],
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const shown = async (p: Promise<{ pid: number; stdout: Buffer; stderr: Buffer }>): Promise<unknown> => {
          const { pid, stdout, stderr, ...rest } = await p;
          return { ...rest, pid: typeof pid, stdout: stdout.toString('latin1'), stderr: stderr.toString('latin1') };
        };
        const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const first = await qga.exec('/bin/sh', ['-c', 'printf out; printf err >&2; exit 3']);
        return {
          exited: await shown(Promise.resolve(first)),
          cat: (await qga.exec('/bin/cat', [], { input: bytes })).stdout.equals(bytes),
          env: await shown(qga.exec('/bin/sh', ['-c', 'printf %s "$GREETING"'], { env: { GREETING: 'hello agent' } })),
          killed: await shown(qga.exec('/bin/sh', ['-c', 'kill -9 $$'])),
          missing: await outcome(qga.exec('/nonexistent')),
          forgotten: await outcome(qga.execute('guest-exec-status', { pid: first.pid })),
        };
      }),
    expected: {
      exited: {
        pid: 'number',
        exitCode: 3,
        signal: undefined,
        stdout: 'out',
        stderr: 'err',
        stdoutTruncated: false,
        stderrTruncated: false,
      },
      cat: true,
      env: expect.objectContaining({ exitCode: 0, stdout: 'hello agent' }),
      killed: expect.objectContaining({ exitCode: undefined, signal: 9, stdout: '' }),
      missing: agentError(
        'GenericError',
        "Guest agent command failed, error was 'Failed to execute child process \u201C/nonexistent\u201D (No such file or directory)'",
      ),
      forgotten: agentError('GenericError', "Invalid parameter 'pid'"),
    },
  },
  {
    name: 'guest-get-time: nanoseconds as an exact bigint, from a clock of microseconds',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const before = BigInt(Date.now()) * 1_000_000n;
        const t = await qga.execute('guest-get-time');
        const after = BigInt(Date.now()) * 1_000_000n;
        return {
          type: typeof t,
          now: (t as bigint) >= before - 1_000_000_000n && (t as bigint) <= after + 1_000_000_000n,
          microseconds: (t as bigint) % 1000n === 0n,
        };
      }),
    expected: { type: 'bigint', now: true, microseconds: true },
  },
  {
    name: 'guest-shutdown refused (-b): the call resolves once written, the refusal reaches onError, the channel stays in step',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const problems: unknown[] = [];
        qga.onError((p) => void problems.push(errorShape(p)));
        const shutdown = await qga.execute('guest-shutdown', { mode: 'powerdown' });
        const ping = await qga.execute('guest-ping');
        return { shutdown, ping, problems };
      }),
    expected: {
      shutdown: null,
      ping: {},
      problems: [
        {
          name: 'QmpError',
          code: 'command-disabled',
          class: 'CommandNotFound',
          desc: 'Command guest-shutdown has been disabled',
        },
      ],
    },
  },
  {
    name: 'guest-shutdown accepted: the call resolves once written and nothing comes back',
    runs: 'fake-only',
    why: 'the real agent runs on this host, so guest-shutdown is blocked there (it would power the host off)',
    run: async (peer) => {
      const agent = await peer.unblocked!();
      try {
        return await using(agent.target(), undefined, async (qga) => {
          const problems: unknown[] = [];
          qga.onError((p) => void problems.push(errorShape(p)));
          await qga.execute('guest-ping');
          const shutdown = await qga.execute('guest-shutdown', { mode: 'powerdown' });
          return { shutdown, ping: await qga.execute('guest-ping'), problems, unmatched: qga.stats.unmatchedReplies };
        });
      } finally {
        await agent.close();
      }
    },
    expected: { shutdown: null, ping: {}, problems: [], unmatched: 0 },
  },
  {
    name: 'a stuck agent: the call times out, the next waits for the resync and says why, the late reply is dropped',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const resume = peer.stall('guest-ping');
        let resumed = false;
        try {
          const stuck = await outcome(qga.execute('guest-ping', { timeout: 200 }));
          const waiting = await outcome(qga.execute('guest-info', { timeout: 600 }));
          const late = qga.stats.lateReplies;
          const next = qga.execute('guest-get-time');
          resume();
          resumed = true;
          return {
            stuck,
            waiting,
            next: typeof (await next),
            lateReplies: qga.stats.lateReplies - late,
            ping: await qga.execute('guest-ping'),
          };
        } finally {
          if (!resumed) resume();
        }
      }),
    expected: {
      stuck: {
        error: { name: 'QmpTimeoutError', code: 'timeout', sent: true, message: 'guest-ping: no reply within 200 ms' },
      },
      waiting: {
        error: {
          name: 'QmpTimeoutError',
          code: 'timeout',
          sent: false,
          message: expect.stringMatching(/^guest-info: .*the guest agent is not answering/),
        },
      },
      next: 'bigint',
      lateReplies: 1,
      ping: {},
    },
  },
  {
    name: 'what an earlier client left half-written: the next client resyncs through it',
    runs: 'both',
    run: async (peer) => {
      const raw = await rawStream(await peer.target());
      raw.write('{"execute": "guest-file-open", "arguments": {"pa');
      await sleep(50);
      raw.destroy();
      await sleep(50);
      return using(peer.target(), undefined, async (qga) => {
        const info = await qga.cmd.guestInfo();
        const { syncs, staleMessages, errors } = qga.stats;
        return { version: info.version.slice(0, 4), stats: { syncs, staleMessages, errors } };
      });
    },
    expected: { version: '7.2.', stats: { syncs: 1, staleMessages: 1, errors: 0 } },
  },
  {
    name: 'one client at a time: a second client waits until the first has closed',
    runs: 'both',
    run: async (peer) => {
      const first = await connectQga(await peer.target());
      let ready = false;
      const second = connectQga(await peer.target()).then((c) => {
        ready = true;
        return c;
      });
      second.catch(() => undefined);
      const ping = await first.execute('guest-ping');
      await sleep(100);
      const whileFirst = ready;
      await first.close();
      const client = await second;
      try {
        return { ping, whileFirst, second: await client.execute('guest-ping'), syncs: client.stats.syncs };
      } finally {
        await client.close();
      }
    },
    expected: { ping: {}, whileFirst: false, second: {}, syncs: 1 },
  },
  {
    name: 'files: written and read back in chunks, intact; a file that is not there',
    runs: 'real-only',
    why: 'the fake has no files: guest-file-* answer only what a test scripts',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff));
        const file = path.join(peer.dir, 'scenario.bin');
        await qga.writeFile(file, data, { chunkSize: 32 * 1024 });
        const back = await qga.readFile(file, { chunkSize: 32 * 1024 });
        const missing = await outcome(qga.execute('guest-file-open', { path: path.join(peer.dir, 'missing') }));
        return { intact: back.equals(data), missing };
      }),
    expected: {
      intact: true,
      missing: {
        error: expect.objectContaining({
          class: 'GenericError',
          desc: expect.stringMatching(/No such file or directory/),
        }),
      },
    },
  },
  {
    name: 'guest-network-get-interfaces: the loopback with 127.0.0.1',
    runs: 'real-only',
    why: 'the fake has no network: it answers [] unless a test scripts the interfaces',
    run: (peer) =>
      using(peer.target(), undefined, async (qga) => {
        const lo = (await qga.execute('guest-network-get-interfaces')).find((i) => i.name === 'lo');
        return lo?.['ip-addresses']?.some((a) => a['ip-address'] === '127.0.0.1' && a['ip-address-type'] === 'ipv4');
      }),
    expected: true,
  },
];
