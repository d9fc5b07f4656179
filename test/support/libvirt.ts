/**
 * A throwaway libvirt for end-to-end tests: libvirtd in session mode as the
 * unprivileged user nobody (HOME and XDG_* in a private temp dir), one TCG
 * domain with no disks, a guest-agent channel and a second QMP monitor added
 * through <qemu:commandline>. stop() destroys and undefines the domain and
 * stops the daemon, whatever state they are in.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Libvirt {
  /** The connection URI, reachable from this process (root) too: the daemon's socket named in it. */
  readonly uri: string;
  readonly domain: string;
  /** The second QMP monitor's socket (<qemu:commandline>). */
  readonly extraQmp: string;
  readonly dir: string;
  /** virsh, as the daemon's user would run it (arguments as an array, no shell). */
  virsh(...args: string[]): string;
  stop(): Promise<void>;
}

const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];

export async function startLibvirt(domain = 'qt-e2e'): Promise<Libvirt> {
  const dir = mkdtempSync('/tmp/lv-');
  const run = path.join(dir, 'run');
  for (const d of [dir, run]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, 65534, 65534);
  }
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_RUNTIME_DIR: run,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    XDG_DATA_HOME: path.join(dir, 'data'),
  };
  const daemon: ChildProcess = spawn('setpriv', [...NOBODY, 'libvirtd', '--timeout', '600'], {
    env,
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const socket = path.join(run, 'libvirt/libvirt-sock');
  for (let i = 0; i < 300 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
  if (!existsSync(socket)) {
    daemon.kill('SIGKILL');
    throw new Error(`libvirtd did not start: ${log}`);
  }
  const uri = `qemu+unix:///session?socket=${socket}`;
  const virsh = (...args: string[]): string =>
    execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8', timeout: 30_000 });
  const extraQmp = path.join(dir, 'extra.qmp');
  const xml = path.join(dir, 'domain.xml');
  writeFileSync(
    xml,
    `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${domain}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-qmp'/>
    <qemu:arg value='unix:${extraQmp},server=on,wait=off'/>
  </qemu:commandline>
</domain>
`,
  );
  const stop = async (): Promise<void> => {
    for (const args of [
      ['destroy', domain],
      ['undefine', domain],
    ]) {
      try {
        virsh(...args);
      } catch {
        // Not running, not defined: already as wanted.
      }
    }
    daemon.kill('SIGTERM');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        daemon.kill('SIGKILL');
        r();
      }, 5000);
      daemon.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    virsh('define', xml);
    virsh('start', domain);
    for (let i = 0; i < 300 && !existsSync(extraQmp); i++) await new Promise((r) => setTimeout(r, 20));
  } catch (e) {
    await stop();
    throw e;
  }
  return { uri, domain, extraQmp, dir, virsh, stop };
}
