/**
 * Throwaway QEMU processes for end-to-end tests: each in a private short temp
 * dir (unix socket paths are limited to 108 bytes), always killed and reaped,
 * even when a test fails or the test process exits early.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface QemuProcess {
  readonly dir: string;
  /** The main QMP monitor's socket. */
  readonly qmpPath: string;
  readonly child: ChildProcess;
  /** Output QEMU printed, for failure messages. */
  readonly output: () => string;
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

export interface QemuOptions {
  /** Machine type; default 'none' (no guest, enough for most of QMP). */
  machine?: string;
  /** Extra command-line arguments; `{dir}` is replaced with the temp dir. */
  args?: string[];
  /** Binary; default qemu-system-x86_64. */
  binary?: string;
  /** Start without the default `-qmp unix:{dir}/qmp.sock` monitor. */
  noDefaultMonitor?: boolean;
  /** Socket files to wait for besides the main one. */
  waitFor?: string[];
  /**
   * A Debian root holding another QEMU (scripts/qemu-root.sh): the binary runs
   * chrooted there, its temp dir inside the root, the sockets reached from here.
   */
  root?: string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Whether a process listens on the unix socket bound at `socketPath` (as
 * that process named it: the path inside its root when chrooted). Read from
 * /proc/net/unix, without connecting: the socket file appears at bind(), a
 * moment before listen(), and a connection in between is refused.
 */
export function listening(socketPath: string): boolean {
  // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 is __SO_ACCEPTCON, a listening socket.
  return readFileSync('/proc/net/unix', 'latin1')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields.length >= 8 && fields[3] === '00010000' && fields.slice(7).join(' ') === socketPath;
    });
}

export function tempDir(prefix = 'qt'): string {
  return mkdtempSync(path.join('/tmp', `${prefix}-`));
}

export async function startQemu(opts: QemuOptions = {}): Promise<QemuProcess> {
  const dir = opts.root ? mkdtempSync(path.join(opts.root, 'tmp', 'qt-')) : tempDir();
  // The dir as QEMU sees it: inside the root when chrooted.
  const qemuDir = opts.root ? `/${path.relative(opts.root, dir)}` : dir;
  const qmpPath = path.join(dir, 'qmp.sock');
  const args = [
    '-machine',
    opts.machine ?? 'none',
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'none',
    ...(opts.noDefaultMonitor ? [] : ['-qmp', `unix:${path.join(qemuDir, 'qmp.sock')},server=on,wait=off`]),
    ...(opts.args ?? []).map((a) => a.replaceAll('{dir}', qemuDir)),
  ];
  const binary = opts.binary ?? 'qemu-system-x86_64';
  const child = opts.root
    ? spawn('chroot', [opts.root, binary, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? -1);
    });
    child.on('error', (e) => {
      live.delete(child);
      output += String(e);
      resolve(-1);
    });
  });
  const proc: QemuProcess = {
    dir,
    qmpPath,
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const r = await exited;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  const wanted = [
    ...(opts.noDefaultMonitor ? [] : [qmpPath]),
    ...(opts.waitFor ?? []).map((p) => p.replaceAll('{dir}', dir)),
  ];
  // As QEMU names them (inside the root when chrooted), to see that it listens on them.
  const named = (p: string): string => (opts.root ? `/${path.relative(opts.root, p)}` : p);
  const deadline = Date.now() + 15_000;
  while (!wanted.every((p) => existsSync(p) && listening(named(p)))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await proc.kill();
      throw new Error(`QEMU did not start (${args.join(' ')}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return proc;
}
