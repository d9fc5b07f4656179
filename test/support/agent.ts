/**
 * A real qemu-ga for end-to-end tests, run on this host as the guest it
 * normally serves: as the unprivileged user nobody, in a private temp dir,
 * listening on a unix socket, with every RPC that could change the host
 * blocked (-b). guest-exec and guest-file-* stay enabled (the tests run only
 * their own harmless programs and touch only files in the temp dir), as do
 * the read-only queries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { listening, tempDir } from './qemu.js';

/** Every guest-agent RPC that changes the machine it runs on (QEMU 7.2's qemu-ga). */
export const HOST_CHANGING_RPCS = [
  'guest-shutdown',
  'guest-suspend-disk',
  'guest-suspend-ram',
  'guest-suspend-hybrid',
  'guest-set-time',
  'guest-fsfreeze-freeze',
  'guest-fsfreeze-freeze-list',
  'guest-fsfreeze-thaw',
  'guest-fstrim',
  'guest-set-user-password',
  'guest-set-vcpus',
  'guest-set-memory-blocks',
  'guest-ssh-add-authorized-keys',
  'guest-ssh-remove-authorized-keys',
];

export interface AgentProcess {
  readonly dir: string;
  /** The agent's socket. */
  readonly path: string;
  readonly output: () => string;
  /** SIGSTOP: an agent that is stuck (the guest busy, or the agent blocked in a system call). */
  pause(): void;
  /** SIGCONT: it answers what it was sent meanwhile. */
  resume(): void;
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Starts qemu-ga; `dir` (default: a new temp dir, removed by kill) holds its socket, state and
 * files, and must be reachable by nobody.
 */
export async function startAgent(
  options: { dir?: string; socket?: string; root?: string } = {},
): Promise<AgentProcess> {
  const { root } = options;
  // Inside a Debian root (scripts/qemu-root.sh) when running that root's qemu-ga, chrooted.
  const dir = options.dir ?? (root ? mkdtempSync(path.join(root, 'tmp', 'qga-')) : tempDir('qga'));
  const inside = (p: string): string => (root ? `/${path.relative(root, p)}` : p);
  // nobody writes its state and the tests' files here.
  chmodSync(dir, 0o777);
  const state = path.join(dir, 'state');
  mkdirSync(state, { recursive: true });
  chmodSync(state, 0o777);
  const socket = path.join(dir, options.socket ?? 'ga.sock');
  const agentArgs = [
    'qemu-ga',
    '-m',
    'unix-listen',
    '-p',
    inside(socket),
    '-t',
    inside(state),
    '-f',
    inside(path.join(state, 'ga.pid')),
    '-b',
    HOST_CHANGING_RPCS.join(','),
  ];
  const [command, args] = root
    ? ['chroot', ['--userspec=65534:65534', root, ...agentArgs]]
    : ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...agentArgs]];
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => {
      live.delete(child);
      resolve();
    });
    child.on('error', (e) => {
      live.delete(child);
      output += String(e);
      resolve();
    });
  });
  const agent: AgentProcess = {
    dir,
    path: socket,
    output: () => output,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      // qemu-ga leaves its socket file behind.
      rmSync(socket, { force: true });
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 10_000;
  // The socket file appears when qemu-ga binds it, a moment before it listens: wait until it listens.
  while (!existsSync(socket) || !listening(inside(socket))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await agent.kill();
      throw new Error(`qemu-ga did not start (${command} ${args.join(' ')}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return agent;
}
