/**
 * The command line against real peers: `qmp`, `events` and `backup` against
 * QEMU 7.2 (-machine none, two QMP monitors: one for the CLI, one for the
 * test), `qga` against Debian's qemu-ga. The built CLI (dist/cli/bin.js)
 * runs as a user runs it: a child process, its exit code and output checked.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as qemu111 from '../generated/qemu-11.1/index.js';
import { createFakeQemu } from '../runtime/testing/index.js';
import { connectQmp as connect72, type Client as Client72 } from '../generated/qemu-7.2/index.js';
import { startAgent, type AgentProcess } from './support/agent.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';

const BIN = path.join(ROOT, 'dist/cli/bin.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI in the background (for events), resolving when it exits. */
function cliAsync(args: string[]): { done: Promise<Run>; ready: Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => child.on('exit', (status) => resolve({ status, stdout, stderr })));
  // Connected once QEMU's second monitor... the CLI prints nothing before events; give it its handshake's time.
  const ready = new Promise<void>((r) => setTimeout(r, 700));
  return { done, ready };
}

describe('qapi-ts qmp, events and backup against QEMU 7.2', () => {
  let qemu: QemuProcess;
  let other: Client72;
  let sock: string;
  beforeAll(async () => {
    qemu = await startQemu({
      args: ['-qmp', 'unix:{dir}/qmp2.sock,server=on,wait=off'],
      waitFor: ['{dir}/qmp2.sock'],
    });
    sock = qemu.qmpPath;
    other = await connect72({ path: path.join(qemu.dir, 'qmp2.sock') });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(qemu.dir, 'd1.qcow2'), '64M']);
  });
  afterAll(async () => {
    await other?.close();
    await qemu?.kill();
  });

  it('prints a reply as pretty JSON, or on one line with --compact', () => {
    const r = cli(['qmp', sock, 'query-status']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'running', running: true });
    expect(r.stdout.split('\n').length).toBeGreaterThan(3);
    const c = cli(['qmp', sock, 'query-status', '--compact']);
    expect(c.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('converts key=value arguments by the schema: nested keys, booleans, integers, raw JSON, repeated keys', async () => {
    const d1 = path.join(qemu.dir, 'd1.qcow2');
    let r = cli([
      'qmp',
      sock,
      'blockdev-add',
      'driver=qcow2',
      'node-name=d1',
      'file.driver=file',
      `file.filename=${d1}`,
      'read-only=on',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    r = cli([
      'qmp',
      sock,
      'blockdev-add',
      'driver=raw',
      'node-name=n2',
      'file:={"driver": "null-co", "size": 1048576}',
    ]);
    expect(r.status).toBe(0);
    const nodes = (await other.execute('query-named-block-nodes', { flat: true })).map((n) => [n['node-name'], n.ro]);
    expect(nodes).toEqual(
      expect.arrayContaining([
        ['d1', true],
        ['n2', false],
      ]),
    );
    for (const name of ['x', 'y'])
      expect(cli(['qmp', sock, 'block-dirty-bitmap-add', 'node=n2', `name=${name}`]).status).toBe(0);
    expect(cli(['qmp', sock, 'block-dirty-bitmap-add', 'node=n2', 'name=m']).status).toBe(0);
    // A repeated key is a list.
    r = cli(['qmp', sock, 'block-dirty-bitmap-merge', 'node=n2', 'target=m', 'bitmaps=x', 'bitmaps=y']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('prints 64-bit integers exactly', () => {
    // 2^53 + 1: a JavaScript number would print 9007199254740992.
    expect(
      cli(['qmp', sock, 'block-set-write-threshold', 'node-name=n2', 'write-threshold=9007199254740993']).status,
    ).toBe(0);
    const r = cli(['qmp', sock, 'query-named-block-nodes', 'flat=true']);
    expect(r.stdout).toContain('"write_threshold": 9007199254740993');
    expect(cli(['qmp', sock, 'query-named-block-nodes', 'flat=true', '--compact']).stdout).toContain(
      '"write_threshold":9007199254740993',
    );
  });

  it('names a bad argument with the allowed values and a near miss, exit 2, nothing sent', () => {
    let r = cli(['qmp', sock, 'blockdev-add', 'driver=qcow3', 'node-name=x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("argument 'driver': 'qcow3' is not one of blkdebug,");
    expect(r.stderr).toContain("(did you mean 'qcow2'?)");
    r = cli(['qmp', sock, 'blockdev-add', 'driver=qcow2', 'node-name=x', 'file.filname=/x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown argument 'file.filname' (did you mean 'filename'?)");
    r = cli(['qmp', sock, 'query-stauts']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'query-stauts' (did you mean 'query-status'?)");
    r = cli(['qmp', sock, 'block-set-write-threshold', 'node-name=n2', 'write-threshold=lots']);
    expect(r.stderr).toContain("argument 'write-threshold': 'lots' is not an integer");
  });

  it("exits 1 with QEMU's error class and description", () => {
    const r = cli(['qmp', sock, 'blockdev-del', 'node-name=nosuch']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("qapi-ts qmp: GenericError: Failed to find node with node-name='nosuch'\n");
  });

  it('runs HMP with --hmp, and a request from stdin with -', () => {
    expect(cli(['qmp', sock, '--hmp', 'info status'])).toMatchObject({
      status: 0,
      stdout: expect.stringContaining('VM status: running'),
    });
    const bad = cli(['qmp', sock, '--hmp', 'info nosuch']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown command');
    const r = cli(['qmp', sock, '-'], '{"execute": "query-status"}');
    expect(JSON.parse(r.stdout)).toMatchObject({ running: true });
  });

  it('prints events as JSON lines, and --wait/--where waits for one (exit 0), or times out (exit 1)', async () => {
    const listing = cliAsync([
      'events',
      sock,
      '--name',
      'STOP',
      '--name',
      'RESUME',
      '--count',
      '2',
      '--timeout',
      '20000',
    ]);
    await listing.ready;
    await other.execute('stop');
    await other.execute('cont');
    const r = await listing.done;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; timestamp: object });
    expect(lines.map((l) => l.event)).toEqual(['STOP', 'RESUME']);
    expect(lines[0].timestamp).toHaveProperty('seconds');

    const wait = cliAsync([
      'events',
      sock,
      '--wait',
      'BLOCK_JOB_COMPLETED',
      '--where',
      'data.device=j1',
      '--timeout',
      '20000',
    ]);
    await wait.ready;
    await other.execute('blockdev-add', { driver: 'null-co', 'node-name': 'tgt', size: 1048576 });
    await other.execute('blockdev-backup', { 'job-id': 'j1', device: 'n2', target: 'tgt', sync: 'full' });
    const w = await wait.done;
    expect(w.status).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ event: 'BLOCK_JOB_COMPLETED', data: { device: 'j1' } });

    const late = cli(['events', sock, '--wait', 'STOP', '--timeout', '300']);
    expect(late.status).toBe(1);
    const typo = cli(['events', sock, '--wait', 'STPO']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("this QEMU has no event 'STPO' (did you mean 'STOP'?)");
  });

  it('backs up, with progress lines when not on a terminal, and restores the chain', () => {
    const dir = tempDir('cli-backup');
    try {
      const src = path.join(qemu.dir, 'src.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', src, '64M']);
      expect(
        cli(['qmp', sock, 'blockdev-add', 'driver=qcow2', 'node-name=src', 'file.driver=file', `file.filename=${src}`])
          .status,
      ).toBe(0);
      expect(cli(['qmp', sock, '--hmp', 'qemu-io src "write -P 0x11 0 8M"']).status).toBe(0);
      const full = path.join(dir, 'full.qcow2');
      let r = cli(['backup', sock, 'full', '--node', 'src', '--to', full, '--bitmap', 'b0']);
      expect(r.stderr).toMatch(/^full: 100% \(64 MiB of 64 MiB, concluded\)$/m);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`full backup of src into ${full}`);
      expect(cli(['qmp', sock, '--hmp', 'qemu-io src "write -P 0x22 16M 4M"']).status).toBe(0);
      const inc = path.join(dir, 'inc1.qcow2');
      r = cli([
        'backup',
        sock,
        'incremental',
        '--node',
        'src',
        '--bitmap',
        'b0',
        '--to',
        inc,
        '--from',
        full,
        '--speed',
        String(2 << 20),
      ]);
      expect(r.status).toBe(0);
      // Not a terminal: a line per step of progress, ending at 100%.
      const steps = [...r.stderr.matchAll(/^incremental: (\d+)% \(/gm)].map((m) => Number(m[1]));
      expect(steps.length).toBeGreaterThanOrEqual(2);
      expect(steps).toEqual([...steps].sort((a, b) => a - b));
      expect(r.stderr).toMatch(/^incremental: 100% \(4\.0 MiB of 4\.0 MiB, concluded\)$/m);
      r = cli(['backup', sock, 'bitmaps', '--node', 'src']);
      expect(JSON.parse(r.stdout)).toMatchObject([{ name: 'b0', count: 0, persistent: true }]);
      const restored = path.join(dir, 'restored.qcow2');
      expect(cli(['backup', 'restore', full, inc, '--to', restored]).status).toBe(0);
      expect(cli(['qmp', sock, '--hmp', 'qemu-io src "flush"']).status).toBe(0);
      expect(spawnSync('qemu-img', ['compare', '-U', src, restored]).status).toBe(0);
      // A file that exists is never overwritten.
      r = cli(['backup', sock, 'full', '--node', 'src', '--to', full]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('exists already');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('review: device properties pass through device_add; nothing after -- is lost; odd numbers and targets refused', () => {
    // Not an unknown argument: QEMU itself answers (no PCI bus on -machine none).
    const dev = cli(['qmp', sock, 'device_add', 'driver=virtio-net-pci', 'id=n0', 'mac=52:54:00:12:34:56']);
    expect(dev.status).toBe(1);
    expect(dev.stderr).toMatch(/qapi-ts qmp: GenericError: .*bus/i);
    expect(cli(['qmp', sock, 'query-status', '--', 'x=1']).status).toBe(2);
    expect(cli(['events', sock, '--timeout', '99999999999']).status).toBe(2);
    expect(cli(['events', sock, '--count', '0']).status).toBe(2);
    expect(cli(['qmp', sock, 'query-status', '--timeout', '']).status).toBe(2);
    const tcp = cli(['qmp', 'tcp:4444', 'query-status']);
    expect(tcp.status).toBe(2);
    expect(tcp.stderr).toContain('a TCP target is tcp:HOST:PORT');
    expect(cli(['qmp', 'tcp:127.0.0.1:99999', 'query-status']).stderr).toContain('beyond 65535');
    // HMP's \r\n are lines here.
    expect(cli(['qmp', sock, '--hmp', 'info status']).stdout).not.toContain('\r');
    const none = spawnSync(process.execPath, [BIN], { encoding: 'utf8' });
    expect(none.status).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('usage: qapi-ts');
  });

  it('review: backup and restore refuse what would lose data or break a chain, with usage errors, not bugs', () => {
    const dir = tempDir('cli-backup2');
    try {
      const precious = path.join(dir, 'precious.txt');
      writeFileSync(precious, 'precious data\n');
      const full = path.join(dir, 'full.qcow2');
      expect(cli(['backup', sock, 'full', '--node', 'src', '--to', full, '--bitmap', 'b2']).status).toBe(0);
      const r = cli(['backup', 'restore', full, '--to', precious]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('exists already');
      expect(readFileSync(precious, 'utf8')).toBe('precious data\n');
      const inc = cli([
        'backup',
        sock,
        'incremental',
        '--node',
        'src',
        '--bitmap',
        'b2',
        '--to',
        path.join(dir, 'i.qcow2'),
        '--from',
        path.join(dir, 'nonexist.qcow2'),
      ]);
      expect(inc.status).toBe(2);
      expect(inc.stderr).toContain('no such backup to continue the chain from');
      const nonode = cli(['backup', sock, 'full', '--node', 'nosuch', '--to', path.join(dir, 'x.qcow2')]);
      expect(nonode.status).toBe(2);
      expect(nonode.stderr).toContain("no block node named 'nosuch'");
      expect(cli(['backup', sock, 'bitmaps', '--node', 'nosuch']).status).toBe(2);
      const nodir = cli(['backup', sock, 'full', '--node', 'src', '--to', '/nonexistent/dir/f.qcow2']);
      expect(nodir.status).toBe(1);
      expect(nodir.stderr).toContain('ENOENT');
      expect(cli(['backup', sock, 'full', '--node', 'src']).stderr).toContain('qapi-ts backup: full needs --to');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes tcp:HOST:PORT', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const tcp = await startQemu({ args: ['-qmp', `tcp:127.0.0.1:${port},server=on,wait=off`], noDefaultMonitor: true });
    try {
      for (let i = 0; i < 100; i++) {
        const r = cli(['qmp', `tcp:127.0.0.1:${port}`, 'query-name']);
        if (r.status === 0) {
          expect(JSON.parse(r.stdout)).toEqual({});
          return;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error('no QMP on the TCP port');
    } finally {
      await tcp.kill();
    }
  });
});

describe('qapi-ts qmp against a QEMU newer than every release', () => {
  it("warns, and still checks arguments against the QEMU's own schema", async () => {
    // A fake QEMU that says it is 99.1 and answers with 11.1's schema.
    const dir = tempDir('cli-new');
    const sock = path.join(dir, 'qmp.sock');
    const fake = createFakeQemu({ release: qemu111, version: '99.1.0' });
    await fake.listen({ path: sock });
    try {
      const r = await cliAsync(['qmp', sock, 'query-status']).done;
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(
        /warning: QEMU 99\.1\.0 is newer than every release this qapi-ts knows \(the newest is 11\.1\)/,
      );
      expect(JSON.parse(r.stdout)).toMatchObject({ running: true });
    } finally {
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qapi-ts events: an event that comes while connecting', () => {
  it('is kept: STOP sent right after negotiation, before the schema is answered, is awaited and found', async () => {
    const dir = tempDir('cli-early');
    const sock = path.join(dir, 'qmp.sock');
    const server = createServer((c) => {
      c.write(
        JSON.stringify({
          QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] },
        }) + '\n',
      );
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        const parts = buf.split(/(?<=\})\s*(?=\{)/);
        buf = '';
        for (const part of parts) {
          let req: { execute: string; id?: unknown };
          try {
            req = JSON.parse(part) as { execute: string; id?: unknown };
          } catch {
            buf = part;
            continue;
          }
          if (req.execute === 'qmp_capabilities') {
            c.write(JSON.stringify({ return: {}, id: req.id }) + '\n');
            c.write(JSON.stringify({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } }) + '\n');
          } else if (req.execute === 'query-qmp-schema') {
            setTimeout(() => c.write(JSON.stringify({ return: qemu111.schema, id: req.id }) + '\n'), 100);
          } else c.write(JSON.stringify({ return: {}, id: req.id }) + '\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const r = await cliAsync(['events', sock, '--wait', 'STOP', '--timeout', '3000']).done;
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } });
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('qapi-ts qga against qemu-ga', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    await agent?.kill();
  });

  it('runs a command and prints its reply', () => {
    expect(cli(['qga', agent.path, 'guest-ping'])).toMatchObject({ status: 0, stdout: '{}\n' });
    const r = cli(['qga', agent.path, 'guest-info', '--compact']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('version');
  });

  it('exec streams the output and passes the exit code through', () => {
    const r = cli(['qga', agent.path, 'exec', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ status: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(cli(['qga', agent.path, 'exec', '--input', 'hello', '--', '/bin/cat'])).toMatchObject({
      status: 0,
      stdout: 'hello',
    });
  });

  it('review: exec output stays binary; a refused guest-shutdown exits 1, not 0', () => {
    const r = spawnSync(process.execPath, [
      BIN,
      'qga',
      agent.path,
      'exec',
      '--',
      '/bin/sh',
      '-c',
      'printf "\\377\\376\\000\\001"',
    ]);
    expect(r.status).toBe(0);
    expect([...r.stdout]).toEqual([0xff, 0xfe, 0x00, 0x01]);
    const shutdown = cli(['qga', agent.path, 'guest-shutdown']);
    expect(shutdown.status).toBe(1);
    expect(shutdown.stderr).toMatch(/CommandNotFound: .*disabled/);
  });

  it('names a bad command, and says when the agent refuses one', () => {
    const typo = cli(['qga', agent.path, 'guest-pnig']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("(did you mean 'guest-ping'?)");
    const blocked = cli(['qga', agent.path, 'guest-set-time']);
    expect(blocked.status).toBe(1);
    expect(blocked.stderr).toMatch(/qapi-ts qga: CommandNotFound: .*disabled/);
  });
});
