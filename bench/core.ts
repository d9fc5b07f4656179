/**
 * The client's own costs, without QEMU in the way: (a) memory per idle
 * connection, against raw `net` sockets that did the same handshake, and
 * (b) events decoded per second from a flood of event lines, against a raw
 * line reader fed the same chunks.
 *
 * This file is also the child process for (a): `core.js server SOCK` is the
 * fake QMP server and `core.js memory ours|raw SOCK N` opens the connections
 * and prints what they cost. Each side is measured in a fresh `node
 * --expose-gc` of its own, so neither the server's sockets nor the other
 * side's leftovers (nor anything an earlier bench left in this process) are
 * counted.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectQmp } from '../generated/qemu-10.2/index.js';
import { median, report } from './report.js';

const SELF = fileURLToPath(import.meta.url);

const CONNECTIONS = 1000;
/** Connections opened and closed before the first reading, so one-time costs (compiled code, lazy modules) are not charged per connection. */
const WARMUP_CONNECTIONS = 20;
/** Opened at once: below the server's listen backlog, so no connect is refused. */
const CONNECT_BATCH = 50;
const MEMORY_ROUNDS = 5;

const EVENTS = 200_000;
const CHUNK = 64 * 1024;
const EVENT_ROUNDS = 5;

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

// -- the fake QEMU ------------------------------------------------------------

/**
 * The server's half of QMP, as far as these benches need it. Requests are not
 * newline-terminated: a client may write objects back to back and a read may
 * hold several or part of one, so they are split where a top-level object
 * closes (braces inside strings do not count).
 */
class RequestReader {
  private buf = '';

  /** The replies owed for `text`, ready to write. */
  feed(text: string): string {
    this.buf += text;
    let replies = '';
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        replies += reply(JSON.parse(this.buf.slice(start, i + 1)) as Record<string, unknown>);
        start = i + 1;
      }
    }
    this.buf = this.buf.slice(start);
    return replies;
  }
}

function reply(request: Record<string, unknown>): string {
  const id = 'id' in request ? `, "id": ${JSON.stringify(request.id)}` : '';
  if (request.execute === 'qmp_capabilities') return `{"return": {}${id}}\r\n`;
  return `{"error": {"class": "CommandNotFound", "desc": "The command ${String(request.execute)} has not been found"}${id}}\r\n`;
}

/** Child role: serve QMP handshakes on `sock` until the parent closes our stdin. */
async function serve(sock: string): Promise<void> {
  const server = createServer((s) => {
    const requests = new RequestReader();
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      const out = requests.feed(d);
      if (out) s.write(out);
    });
    // A client process that exits resets its sockets; that is the normal end here.
    s.on('error', () => s.destroy());
    s.write(GREETING);
  });
  server.listen({ path: sock, backlog: 511 });
  await once(server, 'listening');
  // The parent reads this line before it starts clients; an orphaned server goes away with the parent.
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

/**
 * The client's end of an in-memory connection, with a fake QEMU behind it:
 * it greets and answers the handshake at once; `flood()` then serves
 * `chunks` as fast as the reader takes them (each chunk handed over when the
 * stream asks for more), as from a socket whose kernel buffer never runs dry.
 * The greeting is not part of the flood, so the clock runs on events alone.
 */
class FakeQemu extends Duplex {
  private readonly requests = new RequestReader();
  private next = -1;

  constructor(private readonly chunks: readonly Buffer[]) {
    super();
    this.push(GREETING);
  }

  flood(): void {
    this.next = 0;
    // The stream asked for data before there was any and waits for a push before asking again.
    this._read();
  }

  override _read(): void {
    if (this.next < 0) return;
    if (this.next < this.chunks.length) this.push(this.chunks[this.next++]);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const out = this.requests.feed(chunk.toString('utf8'));
    if (out) this.push(out);
    done();
  }
}

// -- memory per idle connection ---------------------------------------------

interface MemorySample {
  /** Bytes, for all the connections together. */
  rss: number;
  heapUsed: number;
}

/** What the qapi-ts client holds while idle after connecting. */
async function openOurs(sock: string): Promise<() => Promise<void>> {
  // As users connect: typed for a release, its schema and methods loaded.
  const client = await connectQmp({ path: sock }, { timeout: 0 });
  return () => client.close();
}

/** The least a correct client holds: the socket, a line buffer, and a listener that would still see events. */
function openRaw(sock: string): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const s: Socket = netConnect(sock);
    let buf = '';
    let lines = 0;
    s.setEncoding('utf8');
    s.on('error', reject);
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { event?: string };
        buf = buf.slice(nl + 1);
        if (msg.event) continue;
        if (++lines === 1) s.write('{"execute":"qmp_capabilities","id":1}');
        else if (lines === 2) resolve(() => new Promise<void>((done) => s.destroy().once('close', () => done())));
      }
    });
  });
}

async function settle(): Promise<void> {
  if (!globalThis.gc) throw new Error('core memory bench: run with --expose-gc');
  // Twice, with a turn between: native resources released by weak callbacks after the first collection are only freed by the second.
  for (let i = 0; i < 2; i++) {
    globalThis.gc();
    await nextTurn();
  }
}

async function openMany(
  open: (sock: string) => Promise<() => Promise<void>>,
  sock: string,
  n: number,
): Promise<(() => Promise<void>)[]> {
  const closers: (() => Promise<void>)[] = [];
  while (closers.length < n) {
    const batch = Math.min(CONNECT_BATCH, n - closers.length);
    closers.push(...(await Promise.all(Array.from({ length: batch }, () => open(sock)))));
  }
  return closers;
}

/** Child role: the memory `n` idle connections of one kind add; one JSON MemorySample on stdout. */
async function measureMemory(kind: string, sock: string, n: number): Promise<void> {
  const open = kind === 'ours' ? openOurs : kind === 'raw' ? openRaw : undefined;
  if (!open) throw new Error(`core memory bench: unknown client kind ${kind}`);
  await Promise.all((await openMany(open, sock, WARMUP_CONNECTIONS)).map((close) => close()));
  await settle();
  const before = process.memoryUsage();
  const closers = await openMany(open, sock, n);
  await settle();
  const after = process.memoryUsage();
  const sample: MemorySample = { rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed };
  process.stdout.write(JSON.stringify(sample) + '\n');
  await Promise.all(closers.map((close) => close()));
}

/** The soft and hard open-files limits a process we start gets (Infinity when unlimited). */
function fileLimits(): [number, number] {
  const out = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
  const [soft, hard] = out.map((l) => (l.trim() === 'unlimited' ? Infinity : Number(l)));
  return [soft, hard];
}

/**
 * Node with `args`, in a shell that first raises the soft open-files limit
 * to `files` when it is lower: each side holds one descriptor per connection.
 */
function nodeCommand(args: string[], files: number): [string, string[]] {
  const [soft, hard] = fileLimits();
  if (soft >= files) return [process.execPath, args];
  if (hard < files)
    throw new Error(`core memory bench: needs ${files} open files per process, the hard limit is ${hard} (ulimit -Hn)`);
  return ['/bin/sh', ['-c', 'ulimit -Sn "$1" && shift && exec "$@"', 'sh', String(files), process.execPath, ...args]];
}

async function startServer(sock: string, files: number): Promise<() => Promise<void>> {
  const [cmd, args] = nodeCommand([SELF, 'server', sock], files);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    }
  };
  try {
    const [line] = (await Promise.race([
      once(child.stdout, 'data'),
      once(child, 'exit').then(() => {
        throw new Error('core memory bench: the fake QMP server exited before listening');
      }),
    ])) as [Buffer];
    if (line.toString().trim() !== 'ready')
      throw new Error(`core memory bench: the fake QMP server said ${line.toString()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return stop;
}

async function memorySample(kind: 'ours' | 'raw', sock: string, files: number): Promise<MemorySample> {
  // The young generation pinned to its smallest size: V8 otherwise grows it (up to 16 MiB, kept after
  // collections) by how much garbage the connecting burst made, which would be counted here as memory
  // the idle connections hold.
  const [cmd, args] = nodeCommand(
    ['--expose-gc', '--max-semi-space-size=1', SELF, 'memory', kind, sock, String(CONNECTIONS)],
    files,
  );
  const { stdout } = await promisify(execFile)(cmd, args, { encoding: 'utf8' });
  return JSON.parse(stdout) as MemorySample;
}

async function benchIdleMemory(): Promise<void> {
  const files = CONNECTIONS + WARMUP_CONNECTIONS + 64;
  // A unix socket path must fit in 108 bytes: a short directory right under /tmp.
  const dir = mkdtempSync('/tmp/qapi-core-');
  const sock = path.join(dir, 'qmp.sock');
  try {
    const stop = await startServer(sock, files);
    try {
      const ours: MemorySample[] = [];
      const raw: MemorySample[] = [];
      // Rounds in turn, so that a drift in the machine's state hits both sides alike.
      for (let r = 0; r < MEMORY_ROUNDS; r++) {
        ours.push(await memorySample('ours', sock, files));
        raw.push(await memorySample('raw', sock, files));
      }
      const kib = (xs: MemorySample[], key: keyof MemorySample) => median(xs.map((s) => s[key])) / 1024 / CONNECTIONS;
      // The heap share is a diagnosis aid, not a figure: stderr keeps stdout to BENCH lines.
      console.error(
        `core-idle-connection-memory: heapUsed ours=${kib(ours, 'heapUsed').toFixed(2)}KiB baseline=${kib(raw, 'heapUsed').toFixed(2)}KiB`,
      );
      report({
        name: 'core-idle-connection-memory',
        ours: kib(ours, 'rss'),
        baseline: kib(raw, 'rss'),
        unit: 'KiB',
        better: 'lower',
        goal: 2,
      });
    } finally {
      await stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// -- events decoded per second ----------------------------------------------

const JOB_STATUSES = ['created', 'running', 'paused', 'running', 'ready', 'waiting', 'pending', 'concluded'];

/** Event lines as QEMU writes them during block jobs: mostly status changes, some completions with byte counts. */
function eventChunks(n: number): Buffer[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const timestamp = `{"seconds": ${1_700_000_000 + Math.floor(i / 50)}, "microseconds": ${(i * 7919) % 1_000_000}}`;
    const job = `job${i % 16}`;
    const [event, data] =
      i % 4 === 3
        ? [
            'BLOCK_JOB_COMPLETED',
            `{"device": "${job}", "len": ${1 << 30}, "offset": ${(i * 65536) % (1 << 30)}, "speed": 0, "type": "backup"}`,
          ]
        : ['JOB_STATUS_CHANGE', `{"status": "${JOB_STATUSES[i % JOB_STATUSES.length]}", "id": "${job}"}`];
    lines.push(`{"timestamp": ${timestamp}, "event": "${event}", "data": ${data}}\r\n`);
  }
  const all = Buffer.from(lines.join(''));
  // Fixed-size cuts fall in the middle of lines, as a socket's reads do.
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += CHUNK) chunks.push(all.subarray(at, at + CHUNK));
  return chunks;
}

/** Events per second delivered to an onAny listener, from the first chunk to the last event. */
async function oursEventRate(chunks: readonly Buffer[]): Promise<number> {
  const qemu = new FakeQemu(chunks);
  const client = await connectQmp({ stream: qemu }, { timeout: 0 });
  let seen = 0;
  let t0 = 0;
  // A client that drops or rejects events would leave the count short for good: fail instead of hanging.
  const done = new Promise<number>((resolve, reject) => {
    const limit = setTimeout(
      () => reject(new Error(`core events bench: ${seen} of ${EVENTS} events delivered after 60 s`)),
      60_000,
    );
    client.onAny(() => {
      if (++seen < EVENTS) return;
      clearTimeout(limit);
      resolve(performance.now() - t0);
    });
  });
  // Events are delivered from the turn after connect resolves; start the clock once that has passed.
  await nextTurn();
  t0 = performance.now();
  qemu.flood();
  const ms = await done;
  await client.close();
  return EVENTS / (ms / 1000);
}

/** The same, for the least a correct reader does: split lines, JSON.parse, pick out events. */
async function rawEventRate(chunks: readonly Buffer[]): Promise<number> {
  const qemu = new FakeQemu(chunks);
  let buf = '';
  let seen = 0;
  /** The greeting, then the reply to qmp_capabilities. */
  let others = 0;
  let t0 = 0;
  let onReady!: () => void;
  let onDone!: (ms: number) => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const done = new Promise<number>((r) => (onDone = r));
  qemu.setEncoding('utf8');
  qemu.on('data', (d: string) => {
    buf += d;
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf('\n', start)) >= 0) {
      const msg = JSON.parse(buf.slice(start, nl)) as { event?: string };
      start = nl + 1;
      if (msg.event !== undefined) {
        if (++seen === EVENTS) onDone(performance.now() - t0);
      } else if (++others === 1) qemu.write('{"execute":"qmp_capabilities","id":1}');
      else onReady();
    }
    buf = buf.slice(start);
  });
  await ready;
  await nextTurn();
  t0 = performance.now();
  qemu.flood();
  const ms = await done;
  qemu.destroy();
  return EVENTS / (ms / 1000);
}

async function benchEvents(): Promise<void> {
  const chunks = eventChunks(EVENTS);
  await oursEventRate(chunks);
  await rawEventRate(chunks);
  const ours: number[] = [];
  const raw: number[] = [];
  for (let r = 0; r < EVENT_ROUNDS; r++) {
    ours.push(await oursEventRate(chunks));
    raw.push(await rawEventRate(chunks));
  }
  // The aim is at least 1M events/s; a raw reader does about 1.2M/s on these machines.
  report({
    name: 'core-events-decoded',
    ours: median(ours),
    baseline: median(raw),
    unit: '/s',
    better: 'higher',
    goal: 0.8,
  });
}

export async function benchCore(): Promise<void> {
  await benchIdleMemory();
  await benchEvents();
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const [role, ...args] = process.argv.slice(2);
  if (role === 'server' && args.length === 1) await serve(args[0]);
  else if (role === 'memory' && args.length === 3) await measureMemory(args[0], args[1], Number(args[2]));
  else throw new Error('usage: core.js server SOCK | core.js memory ours|raw SOCK N');
}
