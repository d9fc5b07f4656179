/**
 * `qapi-ts shell`: its completion and help on the real 7.2 descriptor and
 * docs (no QEMU); runShell in-process on a scripted QMP peer (events held
 * while starting, spoiled transactions, exit codes, the ! escape); then the
 * built CLI (dist/cli/bin.js) against a real QEMU 7.2: lines on stdin (no
 * terminal), and through a real pseudo-terminal with tmux (typing, Tab, the
 * screen read back). Each QEMU has a second QMP monitor for the test's own
 * checks: QEMU takes one client per monitor.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError, type Io } from '../cli/command.js';
import type { AnyQmp } from '../cli/connect.js';
import {
  commandHelp,
  historyIgnores,
  isSecretLine,
  runShell,
  scanWords,
  shellCompleter,
  splitWords,
} from '../cli/shell.js';
import { connectQmp, schema as schema72, type Client } from '../generated/qemu-7.2/index.js';
import type { JsonValue } from '../runtime/wire/json.js';
import { event, FakeQmp, open, type Request } from './support/fake-qmp.js';
import { startQemu, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';

const BIN = path.join(ROOT, 'dist/cli/bin.js');

const withQmp2 = { args: ['-qmp', 'unix:{dir}/qmp2.sock,server=on,wait=off'], waitFor: ['{dir}/qmp2.sock'] };

describe('shell completion and help (the 7.2 descriptor and docs)', () => {
  const complete = shellCompleter(schema72);
  const inTransaction = shellCompleter(schema72, () => true);

  it('splits words like a shell: quotes group, backslashes escape', () => {
    expect(splitWords(`blockdev-add file.filename='/a b.qcow2' x="say \\"hi\\"" y=a\\ b`)).toEqual([
      'blockdev-add',
      'file.filename=/a b.qcow2',
      'x=say "hi"',
      'y=a b',
    ]);
    expect(() => splitWords(`a b='c`)).toThrow(UsageError);
    expect(scanWords('query-status ').endsInWord).toBe(false);
    expect(scanWords(`a "b c`)).toMatchObject({ open: true, endsInWord: true });
  });

  it('completes command names and shell words', () => {
    expect(complete('query-st')).toEqual([['query-stats ', 'query-stats-schemas ', 'query-status '], 'query-st']);
    expect(complete('transacti')).toEqual([['transaction ', 'transaction( '], 'transacti']);
    expect(complete('he')[0]).toEqual(['help ']);
    expect(complete('help query-sta')).toEqual([
      ['query-stats ', 'query-stats-schemas ', 'query-status '],
      'query-sta',
    ]);
    expect(complete('help query-status ')).toEqual([[], '']);
  });

  it('completes enum values after key=', () => {
    expect(complete('blockdev-add driver=qc')).toEqual([['qcow ', 'qcow2 '], 'qc']);
    expect(complete('blockdev-add driver=file aio=')[0]).toEqual(['threads ', 'native ', 'io_uring ']);
    expect(complete('blockdev-add driver=file read-only=o')).toEqual([['on ', 'off '], 'o']);
    // Nested, and an alternate's enum (Qcow2OverlapChecks: an object or a template name).
    expect(complete('blockdev-add driver=qcow2 file.driver=fi')).toEqual([['file '], 'fi']);
    expect(complete('blockdev-add driver=qcow2 overlap-check=c')[0]).toEqual(['constant ', 'cached ']);
    expect(complete('blockdev-add driver=qcow2 node-name=')).toEqual([[], '']);
  });

  it('completes argument names, nested paths and the branches of tags on the line', () => {
    const names = (line: string): string[] => complete(line)[0];
    expect(names('blockdev-add ')).toContain('driver=');
    expect(names('blockdev-add ')).not.toContain('filename=');
    expect(names('blockdev-add driver=file ')).toEqual(expect.arrayContaining(['filename=', 'aio=', 'cache.']));
    expect(names('blockdev-add driver=file ')).not.toContain('driver=');
    expect(complete('blockdev-add driver=qcow2 fi')).toEqual([['file.'], 'fi']);
    expect(names('blockdev-add driver=qcow2 file.')).toEqual(
      expect.arrayContaining(['file.driver=', 'file.node-name=']),
    );
    expect(names('blockdev-add driver=qcow2 file.')).not.toContain('file.filename=');
    expect(complete('blockdev-add driver=qcow2 file.driver=file file.fi')).toEqual([['file.filename='], 'file.fi']);
    expect(complete('blockdev-add driver=qcow2 file.driver=file file.cache.d')).toEqual([
      ['file.cache.direct='],
      'file.cache.d',
    ]);
    // Quoted words would need requoting; unknown commands have nothing to offer.
    expect(complete(`blockdev-add driver=file filename='/a b`)[0]).toEqual([]);
    expect(complete('no-such-command x')[0]).toEqual([]);
  });

  it('in transaction mode, completes action types and their data', () => {
    expect(inTransaction('block-dirty-bitmap-a')).toEqual([['block-dirty-bitmap-add '], 'block-dirty-bitmap-a']);
    expect(inTransaction('')[0]).toEqual(expect.arrayContaining([') ', 'abort ', 'blockdev-snapshot-sync ']));
    expect(inTransaction('block-dirty-bitmap-add ')[0]).toEqual([
      'disabled=',
      'granularity=',
      'name=',
      'node=',
      'persistent=',
    ]);
  });

  it('!COMMAND completes QMP names only (commands, or in a transaction actions), and their arguments', () => {
    expect(complete('!qui')).toEqual([['!quit '], '!qui']);
    expect(complete('!he')[0]).toEqual([]);
    expect(complete('!block-dirty-bitmap-add ')[0]).toEqual(expect.arrayContaining(['node=', 'name=']));
    expect(inTransaction('!ab')).toEqual([['!abort '], '!ab']);
    expect(inTransaction('!')[0]).not.toContain('!) ');
  });

  it('isSecretLine: password anywhere, object-add of a secret or with data, in any form', () => {
    for (const secret of [
      'object-add qom-type=secret id=s0 data=hunter2',
      'object_add qom-type=secret id=s0 file=/run/pw',
      'object-add qom-type=tls-creds-x509 id=t0 dir=/etc/pki passwordid=s0',
      'object-add qom-type=x id=y props.data=z',
      '!object-add qom-type=secret id=s0 data=x',
      '{"execute": "object-add", "arguments": {"qom-type": "secret", "id": "s0", "data": "x"}}',
      'hmp object_add secret,id=s0,data=hunter2',
      '{"execute": "human-monitor-command", "arguments": {"command-line": "object_add secret,id=s,data=x"}}',
      'set_password protocol=vnc password=hunter2',
      'change-vnc-password password=hunter2',
      'hmp change vnc password hunter2',
      'hmp set_password vnc hunter2',
      'hmp block_passwd drive0 hunter2',
      'block-dirty-bitmap-add node=n0 name=x password=y',
    ])
      expect(isSecretLine(secret), secret).toBe(true);
    for (const plain of [
      'query-status',
      'object-add qom-type=memory-backend-ram id=mem0 size=1048576',
      'object-add qom-type=iothread id=data0',
      'blockdev-add driver=luks node-name=l0 file=f0 key-secret=s0',
      'hmp info status',
      'hmp object_add iothread,id=io0',
      'query-objects',
    ])
      expect(isSecretLine(plain), plain).toBe(false);
    // bash's ignorespace: a line that starts with a space is not kept either.
    expect(historyIgnores(' query-status')).toBe(true);
    expect(historyIgnores('query-status')).toBe(false);
    expect(historyIgnores('object-add qom-type=secret id=s0 data=x')).toBe(true);
  });

  it('help COMMAND: the docs as text, deprecation first, arguments with their types', () => {
    const status = commandHelp(schema72, '7.2', 'query-status');
    expect(status).toMatch(/^query-status\n\nQuery the run status of all VCPUs\n/);
    expect(status).toContain('Arguments: none');
    expect(status).toContain('Since: 0.14');
    expect(status).not.toMatch(/^\s*\*|\/\*\*|```/m);

    const backup = commandHelp(schema72, '7.2', 'drive-backup');
    expect(backup).toMatch(
      /^drive-backup {2}\(deprecated\)\n\nDEPRECATED: This command is deprecated\. Use `blockdev-backup` instead\./,
    );
    // Member docs of the named argument type, its base's included.
    expect(backup).toMatch(/ {2}sync: top\|full\|none\|incremental\|bitmap\n {6}what parts of the disk image/);
    expect(backup).toContain('  target: str\n');

    const eject = commandHelp(schema72, '7.2', 'eject');
    expect(eject).toMatch(/device: str {2}\(optional, DEPRECATED\)\n {6}DEPRECATED: Member `device` is deprecated/);

    const qcow2 = commandHelp(schema72, '7.2', 'blockdev-add', ['driver=qcow2']);
    expect(qcow2).toMatch(/lazy-refcounts: bool {2}\(optional\)\n {6}whether to enable the lazy refcounts/);
    expect(commandHelp(schema72, '7.2', 'blockdev-add')).toContain("more members depend on 'driver'");
    expect(() => commandHelp(schema72, '7.2', 'query-statu')).toThrow(/^unknown command 'query-statu' \(did you mean/);
  });
});

/** A scripted QMP peer for runShell: the 7.2 descriptor as its live schema; `answer` (else an empty return) for the rest. */
function peer(answer?: (req: Request, server: FakeQmp) => boolean | void): FakeQmp {
  return new FakeQmp({
    onRequest: (req, server) => {
      if (req.command === 'query-qmp-schema') server.reply(req, schema72 as unknown as JsonValue);
      else if (!answer?.(req, server)) server.reply(req);
    },
  });
}

/** runShell in-process on `server`, `lines` on its stdin (not a terminal). */
async function shellOn(server: FakeQmp, lines: string[]): Promise<{ code: number; out: string; err: string }> {
  const client = (await open(server)) as unknown as AnyQmp;
  let out = '';
  let err = '';
  const io: Io = {
    out: (t: string | Uint8Array) => void (out += typeof t === 'string' ? t : Buffer.from(t).toString()),
    err: (t: string | Uint8Array) => void (err += typeof t === 'string' ? t : Buffer.from(t).toString()),
    stdin: Readable.from([Buffer.from(lines.map((l) => l + '\n').join(''))]),
  };
  const code = await runShell(client, '7.2', io);
  return { code, out, err };
}

const sent = (server: FakeQmp, command: string): Request[] => server.calls.filter((r) => r.command === command);

describe('qapi-ts shell on a scripted QMP peer (in-process, stdin not a terminal)', () => {
  it('prints the events that came after connecting but before it was ready (while the schema was fetched)', async () => {
    const server = new FakeQmp({
      onRequest: (req, s) => {
        if (req.command !== 'query-qmp-schema') return s.reply(req);
        s.send(event('STOP'));
        s.send(event('BLOCK_JOB_READY', { device: 'j0' }));
        s.reply(req, schema72 as unknown as JsonValue);
      },
    });
    const r = await shellOn(server, ['query-status']);
    expect(r.out).toMatch(
      /^event: \{"event":"STOP",[^\n]*\nevent: \{"event":"BLOCK_JOB_READY","data":\{"device":"j0"\}/,
    );
    // Once each, before the first reply.
    expect(r.out.match(/"STOP"/g)).toHaveLength(1);
    expect(r.out.indexOf('BLOCK_JOB_READY')).toBeLessThan(r.out.indexOf('{}'));
    expect(r.code).toBe(0);
  });

  it('a failed action line spoils the transaction: ) sends nothing, says which line, and drops it; exit 1', async () => {
    const server = peer();
    const r = await shellOn(server, [
      'transaction(',
      'block-dirty-bitmap-add node=n0 name=a',
      'block-dirty-bitmap-add node=n0 name=b granularity=big',
      'block-dirty-bitmap-add node=n0 name=c',
      ')',
      // The transaction is over: this runs as a command.
      'query-status',
      "transaction( block-dirty-bitmap-add node=n0 name='d",
      ')',
      'transaction(',
      'no-such-action',
      ') trailing',
      'abort',
      'transaction(',
      'block-dirty-bitmap-add node=n0 name=e',
      ')',
    ]);
    expect(r.err).toContain("argument 'granularity'");
    expect(r.err).toContain('transaction not sent: line 3 failed (2 actions dropped)\n');
    expect(r.err).toContain('unterminated quote');
    expect(r.err).toContain('transaction not sent: line 7 failed (0 actions dropped)\n');
    expect(r.err).toContain("')' takes nothing after it");
    expect(r.out).toContain('transaction dropped (0 actions)');
    expect(sent(server, 'query-status')).toHaveLength(1);
    // Only the last, whole, transaction went out.
    expect(sent(server, 'transaction').map((t) => t.arguments)).toEqual([
      { actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'e' } }] },
    ]);
    expect(r.code).toBe(1);
  });

  it("a transaction( with no ')' at the end of input is not sent, says so and exits 1", async () => {
    const server = peer();
    const r = await shellOn(server, ['transaction(', 'block-dirty-bitmap-add node=n0 name=a']);
    expect(r.err).toBe("transaction not sent: no ')' (1 action dropped)\n");
    expect(sent(server, 'transaction')).toEqual([]);
    expect(r.code).toBe(1);
  });

  it('exits 0 when every line succeeded, 1 when any failed (a QMP error, a usage error), quit too', async () => {
    const ok = await shellOn(peer(), ['query-status', 'transaction(', 'block-dirty-bitmap-add node=n0 name=a', ')']);
    expect(ok).toMatchObject({ code: 0, err: '' });
    const failing = peer((req, s) => {
      if (req.command !== 'stop') return false;
      s.fail(req, 'GenericError', 'not now');
      return true;
    });
    const qmpError = await shellOn(failing, ['stop', 'query-status']);
    expect(qmpError.err).toBe('GenericError: not now\n');
    expect(qmpError.code).toBe(1);
    const usage = await shellOn(peer(), ['query-statu', 'query-status', 'quit', 'query-status']);
    expect(usage.err).toContain("unknown command 'query-statu'");
    expect(usage.code).toBe(1);
    expect((await shellOn(peer(), ['help no-such-command'])).code).toBe(1);
  });

  it("! runs QMP's own: !abort adds the abort action, !quit sends quit (QEMU then goes, as asked: exit 0)", async () => {
    const server = peer((req, s) => {
      if (req.command !== 'quit') return false;
      s.reply(req);
      s.send(event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }));
      s.end();
      return true;
    });
    const r = await shellOn(server, [
      'transaction(',
      '!abort',
      'block-dirty-bitmap-add node=n0 name=a',
      ')',
      // The builtins stay: abort drops, quit leaves.
      'transaction(',
      'abort',
      '! query-status',
      '!quit',
      'query-name',
    ]);
    expect(sent(server, 'transaction').map((t) => t.arguments)).toEqual([
      {
        actions: [
          { type: 'abort', data: {} },
          { type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'a' } },
        ],
      },
    ]);
    expect(r.out).toContain('transaction dropped (0 actions)');
    expect(sent(server, 'query-status')).toHaveLength(1);
    expect(sent(server, 'quit')).toHaveLength(1);
    expect(sent(server, 'query-name')).toEqual([]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);

    const builtin = peer();
    expect(await shellOn(builtin, ['quit', 'query-status'])).toMatchObject({ code: 0, err: '' });
    expect(builtin.calls.map((c) => c.command)).toEqual(['query-qmp-schema']);
    const bare = await shellOn(peer(), ['!']);
    expect(bare.err).toContain('!: give a QMP command');
    expect(bare.code).toBe(1);
  });

  it('prints HMP output with \\n line ends, not \\r\\n', async () => {
    const server = peer((req, s) => {
      if (req.command !== 'human-monitor-command') return false;
      s.reply(req, 'line one\r\nline two\r\n');
      return true;
    });
    const r = await shellOn(server, ['hmp info something']);
    expect(r.out).toBe('line one\nline two\n');
    expect(r.code).toBe(0);
  });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The shell as a child with `lines` on its stdin (not a terminal). */
function shellRun(args: string[], lines: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, 'shell', ...args], {
    encoding: 'utf8',
    input: lines.map((l) => l + '\n').join(''),
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const bitmapsOf = async (qmp: Client, node: string): Promise<string[]> =>
  ((await qmp.execute('query-named-block-nodes')).find((n) => n['node-name'] === node)?.['dirty-bitmaps'] ?? []).map(
    (b) => b.name ?? '',
  );

describe('qapi-ts shell, stdin not a terminal, against QEMU 7.2', () => {
  let qemu: QemuProcess;
  let other: Client;
  beforeAll(async () => {
    qemu = await startQemu(withQmp2);
    other = await connectQmp({ path: path.join(qemu.dir, 'qmp2.sock') });
  });
  afterAll(async () => {
    await other?.close();
    await qemu?.kill();
  });

  it('runs lines, prints replies, events and errors, goes on after errors and exits 1 at EOF (lines failed)', async () => {
    const r = shellRun(
      [qemu.qmpPath],
      [
        'query-status',
        'query-stat',
        'blockdev-add driver=qcow3 node-name=x',
        `blockdev-add driver=file node-name=f0 filename='/no such/x.qcow2'`,
        'blockdev-add driver=null-co node-name=n0 size=1048576',
        'hmp info status',
        'hmp device_del nothing',
        '{"execute": "query-name"}',
        'help query-status',
        'transaction(',
        'block-dirty-bitmap-add node=n0 name=t1',
        'block-dirty-bitmap-add node=n0 name=t2 disabled=on',
        ')',
        // A failed action line: the transaction is not sent, not even in part.
        'transaction(',
        'block-dirty-bitmap-add node=n0 name=t4',
        'no-such-action x=1',
        ')',
        'transaction(',
        'block-dirty-bitmap-add node=n0 name=t3',
        'abort',
        'stop',
        'cont',
      ],
    );
    expect(r.stderr).toContain("unknown command 'query-stat' (did you mean 'query-stats'?)");
    expect(r.stderr).toMatch(
      /argument 'driver': 'qcow3' is not one of blkdebug, .*qcow, qcow2, .*\(did you mean 'qcow2'\?\)/,
    );
    // The quoted file name arrives whole.
    expect(r.stderr).toContain(`GenericError: Could not open '/no such/x.qcow2'`);
    expect(r.stderr).toContain("'no-such-action' is not a transaction action");
    expect(r.stderr).toContain('transaction not sent: line 16 failed (1 action dropped)');
    expect(r.stdout).toContain('"status": "running"');
    expect(r.stdout).toContain('VM status: running');
    expect(r.stdout).toContain("Error: Device 'nothing' not found\n");
    expect(r.stdout).toContain('Query the run status of all VCPUs');
    expect(r.stdout).toContain('transaction dropped (1 action)');
    // STOP comes before stop's reply; no prompt without a terminal.
    expect(r.stdout).toMatch(/event: \{"event":"STOP","timestamp":\{"seconds":\d+,"microseconds":\d+\}\}\n\{\}\n/);
    expect(r.stdout).toMatch(/^event: \{"event":"RESUME"/m);
    expect(r.stdout).not.toContain('(QEMU');
    expect(r.status).toBe(1);
    expect(await bitmapsOf(other, 'n0')).toEqual(expect.arrayContaining(['t1', 't2']));
    expect(await bitmapsOf(other, 'n0')).not.toContain('t3');
    expect(await bitmapsOf(other, 'n0')).not.toContain('t4');
  });

  it("exits 0 when every line succeeded; !abort adds QMP's abort action (the transaction fails as one: exit 1)", async () => {
    const good = shellRun(
      [qemu.qmpPath],
      [
        'query-status',
        'blockdev-add driver=null-co node-name=n9 size=1048576',
        'transaction(',
        'block-dirty-bitmap-add node=n9 name=g1',
        ')',
        'hmp info status',
      ],
    );
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    const aborted = shellRun(
      [qemu.qmpPath],
      ['transaction(', 'block-dirty-bitmap-add node=n9 name=g2', '!abort', ')', 'query-status'],
    );
    expect(aborted.stderr).toBe('GenericError: Transaction aborted using Abort action\n');
    expect(aborted.stdout).toContain('"status": "running"');
    expect(aborted.status).toBe(1);
    expect(await bitmapsOf(other, 'n9')).toEqual(['g1']);
  });

  it('usage errors exit 2, an unreachable QEMU 1', () => {
    expect(shellRun([], []).status).toBe(2);
    const gone = shellRun([path.join(qemu.dir, 'nothing.sock')], []);
    expect(gone.status).toBe(1);
  });

  it('!quit sends QMP quit: QEMU exits, and the shell ends with 0 (what was asked for, not "went away")', async () => {
    const q = await startQemu();
    try {
      const r = shellRun([q.qmpPath], ['query-status', '!quit', 'query-name']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/"status": "running"[\s\S]*\}\n\{\}\n/);
      expect(r.status).toBe(0);
      expect(await q.exited).toBe(0);
    } finally {
      await q.kill();
    }
  });

  it('says so and exits 1 when QEMU goes away', async () => {
    const q = await startQemu();
    try {
      const child = spawn(process.execPath, [BIN, 'shell', q.qmpPath], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.stdin.write('query-status\n');
      const deadline = Date.now() + 10_000;
      while (!out.includes('"running"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await q.kill();
      expect(await exited).toBe(1);
      expect(err).toMatch(/QEMU went away: /);
    } finally {
      await q.kill();
    }
  });
});

/** A tmux server of its own (its socket at `socket`), a pane of a fixed size, keys typed and the screen read back. */
class Tmux {
  private started = false;
  constructor(private readonly socket: string) {}
  /** The current session: a new one each start (killing the last would end the server, racing the next). */
  private session = 's0';

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  }

  /** Runs `command` in a fresh session; the pane stays after it exits, showing its exit code. */
  start(command: string[], env: Record<string, string>): void {
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const line = `env ${Object.entries(env)
      .map(([k, v]) => quote(`${k}=${v}`))
      .join(' ')} ${command.map(quote).join(' ')}; echo "EXIT=$?"; sleep 60`;
    this.session = `s${Number(this.session.slice(1)) + 1}`;
    this.tmux('new-session', '-d', '-s', this.session, '-x', '200', '-y', '50', line);
    this.started = true;
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.session, ...keys);
  }

  /** Literal text (no key names). */
  type(text: string): void {
    this.tmux('send-keys', '-t', this.session, '-l', text);
  }

  /** The pane with its scrollback, trailing blank lines dropped. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.session, '-S', '-').replace(/\n+$/, '\n');
  }

  /** Polls the screen until `test` holds; fails with the screen. */
  async until(test: (screen: string) => boolean, what: string, ms = 8000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = this.screen();
      if (test(s)) return s;
      if (Date.now() > deadline) throw new Error(`tmux: no ${what} on the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async untilText(text: string | RegExp, ms?: number): Promise<string> {
    return this.until((s) => (typeof text === 'string' ? s.includes(text) : text.test(s)), String(text), ms);
  }

  /** An empty screen and scrollback, the prompt redrawn (Ctrl-L), so each step reads only its own output. */
  async fresh(prompt: RegExp): Promise<void> {
    this.keys('C-l');
    // tmux scrolls a cleared screen into its history: clear that once the screen is.
    const visible = (): string => this.tmux('capture-pane', '-p', '-t', this.session).trim();
    await this.until(() => prompt.test(visible()) && visible().split('\n').length === 1, 'cleared screen');
    this.tmux('clear-history', '-t', this.session);
  }

  /** The cursor's column. */
  cursorX(): number {
    return Number(this.tmux('display-message', '-p', '-t', this.session, '#{cursor_x}').trim());
  }

  kill(): void {
    if (this.started) spawnSync('tmux', ['-S', this.socket, 'kill-server']);
    rmSync(this.socket, { force: true });
  }
}

/** The screen's last line holding the prompt. */
const promptLine = (screen: string): string => screen.trimEnd().split('\n').pop() ?? '';

describe('qapi-ts shell in a terminal (tmux) against QEMU 7.2', () => {
  let qemu: QemuProcess;
  let other: Client;
  let term: Tmux | undefined;
  beforeAll(async () => {
    qemu = await startQemu(withQmp2);
    other = await connectQmp({ path: path.join(qemu.dir, 'qmp2.sock') });
  });
  afterAll(async () => {
    term?.kill();
    await other?.close();
    await qemu?.kill();
  });

  it('completes, runs, documents, prints events above the line being typed, collects transactions, keeps history', async () => {
    const t = (term = new Tmux(path.join(qemu.dir, 'tmux.sock')));
    const history = path.join(qemu.dir, 'history');
    // capture-pane drops trailing spaces: the prompt's too.
    const prompt = /^\(QEMU 7\.2\.\d+\)/;
    t.start([process.execPath, BIN, 'shell', qemu.qmpPath], { QAPI_TS_HISTORY: history });
    await t.until((s) => prompt.test(s), 'prompt');

    // Command names: the common prefix, then the candidates, then the one.
    t.type('query-st');
    t.keys('Tab');
    await t.until((s) => /\) query-stat$/.test(promptLine(s)), 'query-stat');
    t.keys('Tab');
    await t.untilText(/query-stats +query-stats-schemas +query-status/);
    t.type('u');
    t.keys('Tab');
    // With a space after it (the pane shows no trailing spaces: the cursor tells).
    await t.until(
      (s) => /\) query-status$/.test(promptLine(s)) && t.cursorX() === promptLine(s).length + 1,
      'query-status',
    );
    t.keys('Enter');
    await t.untilText(/"status": "running",\n +"singlestep": false,\n +"running": true\n\}\n\(QEMU/);

    // Enum values: qc → qcow, then both listed.
    await t.fresh(prompt);
    t.type('blockdev-add driver=qc');
    t.keys('Tab');
    await t.until((s) => promptLine(s).endsWith('driver=qcow'), 'driver=qcow');
    t.keys('Tab');
    await t.untilText(/^qcow +qcow2 *$/m);
    t.keys('C-u');

    // Argument names: a nested path, then the branch of the tag typed inside it.
    await t.fresh(prompt);
    t.type('blockdev-add driver=qcow2 fi');
    t.keys('Tab');
    await t.until((s) => promptLine(s).endsWith(' file.'), 'file.');
    t.type('driver=file file.fil');
    t.keys('Tab');
    await t.until((s) => promptLine(s).endsWith('file.driver=file file.filename='), 'file.filename=');
    t.keys('C-u');

    await t.fresh(prompt);
    t.type('help query-status');
    t.keys('Enter');
    await t.untilText(/Query the run status of all VCPUs[\s\S]*Since: 0\.14\n\(QEMU/);

    await t.fresh(prompt);
    t.type('help drive-backup');
    t.keys('Enter');
    const deprecated = await t.untilText(/Since: 1\.6\n\(QEMU/);
    expect(deprecated).toMatch(
      /\) help drive-backup\ndrive-backup {2}\(deprecated\)\n\nDEPRECATED: This command is deprecated\. Use `blockdev-backup` instead\./,
    );

    // An event while the prompt waits: above the prompt, the half-typed line kept and still editable.
    await t.fresh(prompt);
    t.type('query-na');
    await t.until((s) => promptLine(s).endsWith('query-na'), 'typed text');
    await other.execute('stop');
    const above = await t.untilText(/^event: \{"event":"STOP","timestamp":\{[^\n]*\}\}\n\(QEMU 7\.2\.\d+\) query-na$/m);
    expect(above.split('\n').filter((l) => l.includes('query-na'))).toHaveLength(1);
    t.type('me');
    t.keys('Enter');
    await t.untilText(/\) query-name\n\{\}\n\(QEMU/);
    // And one that comes while a command runs (cont's RESUME comes before its reply).
    t.type('cont');
    t.keys('Enter');
    await t.untilText(/\) cont\nevent: \{"event":"RESUME"[^\n]*\n\{\}\n\(QEMU/);

    await t.fresh(prompt);
    t.type('hmp info status');
    t.keys('Enter');
    await t.untilText('VM status: running\n(QEMU');

    // Transaction mode: the prompt counts the actions, action types complete, ) sends them as one.
    await t.fresh(prompt);
    t.type('blockdev-add driver=null-co node-name=n0');
    t.keys('Enter');
    await t.untilText('node-name=n0\n{}\n(QEMU');
    t.type('transaction(');
    t.keys('Enter');
    await t.until((s) => promptLine(s) === '(transaction 0)', 'transaction prompt');
    t.type('block-dirty-bitmap-a');
    t.keys('Tab');
    await t.until((s) => promptLine(s) === '(transaction 0) block-dirty-bitmap-add', 'action type');
    t.type('node=n0 name=b1');
    t.keys('Enter');
    await t.until((s) => promptLine(s) === '(transaction 1)', 'one action');
    t.type('block-dirty-bitmap-add node=n0 name=b2');
    t.keys('Enter');
    await t.until((s) => promptLine(s) === '(transaction 2)', 'two actions');
    t.type(')');
    t.keys('Enter');
    await t.untilText(/\(transaction 2\) \)\n\{\}\n\(QEMU 7\.2\.\d+\)/);
    expect(await bitmapsOf(other, 'n0')).toEqual(expect.arrayContaining(['b1', 'b2']));

    // A usage error names the allowed values; the shell goes on.
    await t.fresh(prompt);
    t.type('blockdev-add driver=null-co node-name=n1 detect-zeroes=sometimes');
    t.keys('Enter');
    await t.untilText("argument 'detect-zeroes': 'sometimes' is not one of off, on, unmap");
    t.type('query-status');
    t.keys('Enter');
    await t.untilText(/"status": "running"[\s\S]*\n\(QEMU/);

    // Not kept in the history: a line that starts with a space, and one that may hold a secret.
    await t.fresh(prompt);
    t.type(' query-name');
    t.keys('Enter');
    await t.untilText(/\) {2}query-name\n\{\}\n\(QEMU/);
    t.type('object-add qom-type=secret id=sec0 data=hunter2');
    t.keys('Enter');
    await t.untilText(/data=hunter2\n\{\}\n\(QEMU/);
    // Not in this session's history either: Up recalls the line before them.
    t.keys('Up');
    await t.until((s) => /\) query-status$/.test(promptLine(s)), 'the line before');
    t.keys('C-u');

    t.type('quit');
    t.keys('Enter');
    await t.untilText('EXIT=0');
    const saved = readFileSync(history, 'utf8').split('\n');
    expect(saved).toEqual(expect.arrayContaining(['query-status', 'help drive-backup', 'transaction(', 'quit']));
    expect(saved.join('\n')).not.toMatch(/hunter2|^ /m);
    expect(saved.at(-2)).toBe('quit');

    // A second session reads it back (Up), and Ctrl-D leaves with 0.
    t.start([process.execPath, BIN, 'shell', qemu.qmpPath], { QAPI_TS_HISTORY: history });
    await t.until((s) => prompt.test(s), 'prompt');
    t.keys('Up');
    await t.until((s) => /\) quit$/.test(promptLine(s)), 'recalled line');
    t.keys('C-u');
    t.keys('C-d');
    await t.untilText('EXIT=0');

    // An unusable history file (a directory) is no reason to fail.
    const dir = path.join(qemu.dir, 'history.d');
    mkdirSync(dir);
    t.start([process.execPath, BIN, 'shell', qemu.qmpPath], { QAPI_TS_HISTORY: dir });
    await t.until((s) => prompt.test(s), 'prompt');
    t.type('exit');
    t.keys('Enter');
    await t.untilText('EXIT=0');
  });
});
