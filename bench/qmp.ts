/**
 * The QMP client against a real QEMU 7.2 (-machine none), versus other clients
 * in the same run against the same QEMU: a plain `net` socket with
 * JSON.parse, a python3 stdlib socket loop, and python's qemu.qmp (QEMU's own
 * asyncio QMP library, from 7.2's source tree in the cache). (a) sequential
 * query-status round trips per second, (b) pipelined throughput in batches of
 * 100, (c) the time from import to the first reply in a fresh process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '../generated/qemu-7.2/index.js';
import { startQemu } from '../test/support/qemu.js';
import { allowanceGoal, median, report } from './report.js';

const SEQUENTIAL = 2000;
const BATCH = 100;
const BATCHES = 20;
const DIST = fileURLToPath(new URL('..', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** QEMU 7.2's python/ folder, which holds qemu.qmp where scripts/fetch-qemu.sh kept it. */
const QEMU_PYTHON = path.join(process.env.QAPI_TS_CACHE ?? path.join(ROOT, '.cache/qemu'), '7.2/python');

/** The smallest correct QMP client: newline framing, JSON.parse, ids in order. */
class RawClient {
  private buf = '';
  private waiters: ((msg: unknown) => void)[] = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const msg = JSON.parse(line) as { event?: string };
        if (!msg.event) this.waiters.shift()?.(msg);
      }
    });
  }
  static async open(file: string): Promise<RawClient> {
    const sock = netConnect(file);
    const c = new RawClient(sock);
    await c.next(); // greeting
    await c.call('{"execute":"qmp_capabilities"}');
    return c;
  }
  next(): Promise<unknown> {
    return new Promise((r) => this.waiters.push(r));
  }
  call(text: string): Promise<unknown> {
    const p = this.next();
    this.sock.write(text);
    return p;
  }
  close(): void {
    this.sock.destroy();
  }
}

const PYTHON = `
import socket, sys, time, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rb')
def reply():
    while True:
        m = json.loads(f.readline())
        if 'event' not in m: return m
reply(); s.sendall(b'{"execute":"qmp_capabilities"}'); reply()
n = int(sys.argv[2]); batch = int(sys.argv[3]); batches = int(sys.argv[4])
t0 = time.perf_counter()
for i in range(n):
    s.sendall(b'{"execute":"query-status","id":%d}' % i); reply()
seq = n / (time.perf_counter() - t0)
t0 = time.perf_counter()
for b in range(batches):
    s.sendall(b''.join(b'{"execute":"query-status","id":%d}' % i for i in range(batch)))
    for i in range(batch): reply()
pipe = batch * batches / (time.perf_counter() - t0)
print(seq, pipe)
`;

/** The same measures through qemu.qmp's QMPClient (which, like ours, negotiates oob when offered). */
const QEMU_QMP = `
import asyncio, sys, time
from qemu.qmp import QMPClient
async def main():
    qmp = QMPClient('bench'); await qmp.connect(sys.argv[1])
    n = int(sys.argv[2]); batch = int(sys.argv[3]); batches = int(sys.argv[4])
    t0 = time.perf_counter()
    for i in range(n): await qmp.execute('query-status')
    seq = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for b in range(batches):
        await asyncio.gather(*(qmp.execute('query-status') for i in range(batch)))
    pipe = batch * batches / (time.perf_counter() - t0)
    await qmp.disconnect()
    print(seq, pipe)
asyncio.run(main())
`;

async function rate(calls: number, fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return calls / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function pipelined(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < BATCHES; b++) await Promise.all(Array.from({ length: BATCH }, fn));
  return (BATCH * BATCHES) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Fresh node process: ms from the start of the import to the first reply. */
function firstReplyMs(sock: string, raw: boolean): number {
  const ours = `
const t0 = performance.now();
const { connectQmp } = await import(${JSON.stringify(path.join(DIST, 'bundle/qemu-7.2.js'))});
const qmp = await connectQmp({ path: process.argv[1] });
await qmp.execute('query-status');
console.log(performance.now() - t0);
await qmp.close();`;
  const base = `
const t0 = performance.now();
const { connect } = await import('node:net');
const s = connect(process.argv[1]); s.setEncoding('utf8');
let buf = '', n = 0;
await new Promise((done) => s.on('data', (d) => { buf += d; let i;
  while ((i = buf.indexOf('\\n')) >= 0) { const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
    if (m.event) continue; n++;
    if (n === 1) s.write('{"execute":"qmp_capabilities"}');
    else if (n === 2) s.write('{"execute":"query-status","id":1}');
    else done(); } }));
console.log(performance.now() - t0); s.destroy();`;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', raw ? base : ours, sock], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    times.push(Number(r.stdout.trim()));
  }
  return median(times);
}

/** Extra monitors, one per client, so the clients can take turns on the same QEMU. */
const MONITORS = ['raw', 'py', 'qemuqmp'];
const ROUNDS = 5;

/** Runs `script` in a fresh python3 on `sock`: [sequential, pipelined] calls per second. */
function python(script: string, sock: string, calls: number, env?: NodeJS.ProcessEnv): [number, number] {
  const out = execFileSync(
    'python3',
    [...(env ? ['-S'] : []), '-c', script, sock, String(calls), String(BATCH), String(BATCHES)],
    {
      encoding: 'utf8',
      env,
    },
  );
  const [seq, pipe] = out.trim().split(' ').map(Number);
  return [seq, pipe];
}

/**
 * The environment that runs qemu.qmp from the cache (with -S: no site-packages,
 * so no other `qemu` package can take its place); undefined, after saying so,
 * when the cache lacks it.
 */
function qemuQmpEnv(): NodeJS.ProcessEnv | undefined {
  if (existsSync(path.join(QEMU_PYTHON, 'qemu/qmp/qmp_client.py'))) return { ...process.env, PYTHONPATH: QEMU_PYTHON };
  console.log(
    `qmp: python's qemu.qmp is missing from ${QEMU_PYTHON}/qemu/qmp: run \`npm run fetch\` ` +
      '(a 7.2 cache fetched before scripts/fetch-qemu.sh kept python/qemu/qmp counts as complete: move it aside first); ' +
      'qmp-sequential-vs-qemu.qmp and qmp-pipelined-vs-qemu.qmp not measured',
  );
  return undefined;
}

export async function benchQmp(): Promise<void> {
  const qemu = await startQemu({
    args: MONITORS.flatMap((m) => [
      '-chardev',
      `socket,id=${m},path={dir}/${m}.sock,server=on,wait=off`,
      '-mon',
      `chardev=${m},mode=control`,
    ]),
    waitFor: MONITORS.map((m) => `{dir}/${m}.sock`),
  });
  try {
    const qemuQmp = qemuQmpEnv();
    const raw = await RawClient.open(path.join(qemu.dir, 'raw.sock'));
    let id = 0;
    const rawCall = () => raw.call(`{"execute":"query-status","id":${id++}}`);
    const qmp = await connectQmp({ path: qemu.qmpPath });
    const ourCall = () => qmp.execute('query-status');
    await rate(300, rawCall);
    await rate(300, ourCall);
    // Rounds in turn, so that drifts in QEMU's or the machine's speed hit every client alike.
    const seq = { ours: [] as number[], raw: [] as number[], py: [] as number[], qemuQmp: [] as number[] };
    const pipe = { ours: [] as number[], raw: [] as number[], py: [] as number[], qemuQmp: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      seq.ours.push(await rate(SEQUENTIAL / ROUNDS, ourCall));
      seq.raw.push(await rate(SEQUENTIAL / ROUNDS, rawCall));
      pipe.ours.push(await pipelined(ourCall));
      pipe.raw.push(await pipelined(rawCall));
      const [ps, pp] = python(PYTHON, path.join(qemu.dir, 'py.sock'), SEQUENTIAL / ROUNDS);
      seq.py.push(ps);
      pipe.py.push(pp);
      if (qemuQmp) {
        const [qs, qp] = python(QEMU_QMP, path.join(qemu.dir, 'qemuqmp.sock'), SEQUENTIAL / ROUNDS, qemuQmp);
        seq.qemuQmp.push(qs);
        pipe.qemuQmp.push(qp);
      }
    }
    raw.close();
    await qmp.close();

    const m = (xs: number[]) => median(xs);
    report({
      name: 'qmp-sequential-vs-raw-node',
      ours: m(seq.ours),
      baseline: m(seq.raw),
      unit: '/s',
      better: 'higher',
      goal: 0.9,
    });
    report({
      name: 'qmp-sequential-vs-python-raw-socket',
      ours: m(seq.ours),
      baseline: m(seq.py),
      unit: '/s',
      better: 'higher',
      goal: 0.9,
    });
    // qemu.qmp: a whole library (ids, oob, events, asyncio), so the same goal as for the raw clients:
    // within 10% of it (the run-to-run noise), or faster.
    if (qemuQmp)
      report({
        name: 'qmp-sequential-vs-qemu.qmp',
        ours: m(seq.ours),
        baseline: m(seq.qemuQmp),
        unit: '/s',
        better: 'higher',
        goal: 0.9,
      });
    report({
      name: 'qmp-pipelined-vs-raw-node',
      ours: m(pipe.ours),
      baseline: m(pipe.raw),
      unit: '/s',
      better: 'higher',
      goal: 0.9,
    });
    report({
      name: 'qmp-pipelined-vs-python-raw-socket',
      ours: m(pipe.ours),
      baseline: m(pipe.py),
      unit: '/s',
      better: 'higher',
      goal: 0.9,
    });
    if (qemuQmp)
      report({
        name: 'qmp-pipelined-vs-qemu.qmp',
        ours: m(pipe.ours),
        baseline: m(pipe.qemuQmp),
        unit: '/s',
        better: 'higher',
        goal: 0.9,
      });
    const oursFirst = firstReplyMs(qemu.qmpPath, false);
    const rawFirst = firstReplyMs(path.join(qemu.dir, 'raw.sock'), true);
    // The goal: import + connect + handshake + first reply at most 15 ms over a raw socket client.
    report({
      name: 'qmp-import-to-first-reply',
      ours: oursFirst,
      baseline: rawFirst,
      unit: 'ms',
      better: 'lower',
      goal: allowanceGoal(rawFirst, 15),
    });
  } finally {
    await qemu.kill();
  }
}
