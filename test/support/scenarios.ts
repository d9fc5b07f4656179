/**
 * The SDK's end-to-end QMP scenarios (from qmp-e2e, core-e2e and the fake's
 * own tests), written once as functions of a peer so that
 * test/scenarios.test.ts can run each against a real QEMU 7.2 and against
 * createFakeQemu and require the same outcome. Each returns plain values
 * (errors as their class, code and QEMU's words; ids and timestamps left
 * out), to be compared with toEqual.
 *
 * A scenario runs on 'both' when the fake claims to model what it does. The
 * machine itself (block nodes, HMP, jobs) is not modelled by the fake: where
 * a scenario needs it, the fake is scripted as a user's test would script it
 * (scriptFakeMachine below, named in the scenario's `scripted`), and what is
 * compared is then the protocol and the SDK, not the scripted values.
 * 'real-only' scenarios show what the fake does not model (said in `why`);
 * 'fake-only' ones what a real QEMU cannot be made to do here. Every
 * scenario closes what it opens and leaves the peer as it found it (running,
 * no extra nodes), so one peer serves them all.
 *
 * One-sided QMP scenarios:
 * - real-only: one client per monitor (a second one's greeting-timeout):
 *   the fake takes any number of clients per monitor; hot-plug on -M pc:
 *   the fake has no devices.
 * - fake-only: none. A real QEMU can be made slow (`qemu-io n0 "sleep N"`
 *   holds its main loop) and killed, so the timeout, oob and peer-death
 *   scenarios run on both.
 */
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'vitest';
import {
  connect,
  connectQmp,
  runJob,
  type Client,
  type ClientOptions,
  type QmpCommands,
  type QmpEvents,
  type TapEntry,
  type Target,
} from '../../generated/qemu-7.2/index.js';
import { FakeError, type FakeQemu } from '../../runtime/testing/index.js';
import type { JsonObject } from '../../runtime/wire/framing.js';
import { parseJson } from '../../runtime/wire/json.js';

// ------------------------------------------------------------------ the peer

/** What differs between a real QEMU and the fake: how a scenario reaches them. */
export interface QmpPeer {
  /** A new connection to the main monitor (real: `-qmp unix:...`), for connectQmp. */
  target(): Promise<Target>;
  /** A new connection to a second monitor of the same VM (real: a second `-mon`; the fake takes any number). */
  secondTarget(): Promise<Target>;
  /** A VM of its own, which the scenario may kill (real: another QEMU, SIGKILLed; the fake: another fake, closed). */
  disposable(): Promise<DisposablePeer>;
  /** A directory the VM can create files in (the fake creates none). */
  readonly dir: string;
}

export interface DisposablePeer {
  target(): Promise<Target>;
  /** The VM dies: its connections close under the client. */
  kill(): Promise<void>;
}

/**
 * What the real QEMU is started with for the scenarios: a null-co node
 * 'n0' (the target of `qemu-io n0 "sleep N"`, which holds the main loop)
 * and a second monitor. `{dir}` as support/qemu.ts replaces it.
 */
export const REAL_QEMU_ARGS = [
  '-blockdev',
  'null-co,node-name=n0',
  '-chardev',
  'socket,id=mon1,path={dir}/mon1.sock,server=on,wait=off',
  '-mon',
  'chardev=mon1,mode=control',
];
export const REAL_QEMU_SECOND_MONITOR = '{dir}/mon1.sock';

export interface Scenario<P> {
  name: string;
  runs: 'both' | 'real-only' | 'fake-only';
  /** For a one-sided scenario: why the other side cannot run it. */
  why?: string;
  /** The commands the fake answers from its peer's script (not from its own model) in this scenario. */
  scripted?: readonly string[];
  /** The machine type the real QEMU needs (default 'none'). */
  machine?: 'none' | 'pc';
  run(peer: P): Promise<unknown>;
  /** What the outcome must be (on every side it runs on); asymmetric matchers allowed. */
  expected?: unknown;
}

// ------------------------------------------------------------------ outcomes

/** An error as a scenario compares it: its kind and code, QEMU's words, the message without the peer's address. */
export function errorShape(e: unknown): JsonObject {
  if (!(e instanceof Error)) return { thrown: String(e) };
  const o = e as Error & { [k: string]: unknown };
  const out: JsonObject = { name: e.name };
  if (typeof o.code === 'string') out.code = o.code;
  if (e.name === 'QmpError') {
    out.class = o.errorClass as string;
    out.desc = o.desc as string;
    return out;
  }
  if (typeof o.sent === 'boolean') out.sent = o.sent;
  out.message = e.message.replace(/(unix:\/\S+?|stream): /g, '').replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME');
  return out;
}

/** A promise's outcome: `{ value }` or `{ error }` (see errorShape). */
export async function outcome(p: Promise<unknown>): Promise<{ value: unknown } | { error: JsonObject }> {
  try {
    return { value: await p };
  } catch (e) {
    return { error: errorShape(e) };
  }
}

/**
 * The conversation as the client's tap saw it, by name: '> command', '< return command',
 * '< error command', '< event NAME', '< greeting' (ids and timestamps left out).
 */
export function transcript(entries: readonly TapEntry[]): string[] {
  const commands = new Map<string, string>();
  return entries.map(({ direction, message: m }) => {
    if (direction === 'out') {
      const command = String(m.execute ?? m['exec-oob']);
      commands.set(String(m.id), command);
      return `> ${command}`;
    }
    if ('QMP' in m) return '< greeting';
    if ('event' in m) return `< event ${String(m.event)}`;
    return `< ${'error' in m ? 'error' : 'return'} ${commands.get(String(m.id)) ?? '?'}`;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client for the scenario's own use, closed whatever happens. */
async function using<T>(
  target: Target | Promise<Target>,
  options: ClientOptions | undefined,
  fn: (qmp: Client) => Promise<T>,
): Promise<T> {
  const qmp = await connectQmp(await target, options);
  try {
    return await fn(qmp);
  } finally {
    await qmp.close();
  }
}

/** Whether a line is an event (a reply may be no JSON at all: QEMU echoes an id of 1e400 as inf). */
function isEvent(line: string): boolean {
  try {
    const msg = parseJson(line);
    return typeof msg === 'object' && msg !== null && 'event' in msg;
  } catch {
    return false;
  }
}

/** A raw connection: what it is sent, and the CRLF-ended lines it answers. */
export class RawQmp {
  readonly lines: string[] = [];
  #text = '';

  private constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      this.#text += d.toString('latin1');
      for (let i = this.#text.indexOf('\r\n'); i >= 0; i = this.#text.indexOf('\r\n')) {
        this.lines.push(this.#text.slice(0, i));
        this.#text = this.#text.slice(i + 2);
      }
    });
    stream.on('error', () => undefined);
  }

  static async open(target: Target): Promise<RawQmp> {
    if ('stream' in target) return new RawQmp(target.stream);
    if (!('path' in target)) throw new TypeError('RawQmp: a unix socket or a stream');
    const socket = netConnect(target.path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawQmp(socket);
  }

  /** Line `n` (0: the greeting), once it has come. */
  async line(n: number): Promise<string> {
    const deadline = Date.now() + 5000;
    while (this.lines.length <= n) {
      if (Date.now() > deadline) throw new Error(`no line ${n}; got:\n${this.lines.join('\n')}`);
      await sleep(2);
    }
    return this.lines[n];
  }

  /** Writes `text`; resolves with the lines up to the next reply (events before it included). */
  async exchange(text: string): Promise<string[]> {
    const from = this.lines.length;
    this.stream.write(text);
    for (let n = from; ; n++) if (!isEvent(await this.line(n))) return this.lines.slice(from, n + 1);
  }

  close(): void {
    this.stream.destroy();
  }
}

// ------------------------------------------------------------------ the fake's script

/** The size QEMU gives a null-co node asked to be `size` bytes: rounded up to 512 (block.c). */
const sectorRound = (size: bigint): bigint => ((size + 511n) / 512n) * 512n;

/**
 * The machine the scenarios need, scripted on a fake as a user's test
 * would script it (the fake models the protocol, not the machine):
 * - human-monitor-command `qemu-io NODE "sleep MS"` holds the monitor MS
 *   milliseconds, as it holds QEMU's main loop; other HMP lines print nothing;
 * - null-co block nodes: blockdev-add (sizes rounded up to 512, as QEMU
 *   rounds them), blockdev-del, query-named-block-nodes; 'n0' exists;
 * - blockdev-create of a file: a 'create' job that sends QEMU 7.2's
 *   JOB_STATUS_CHANGE events, listed by query-jobs until job-dismiss.
 */
export function scriptFakeMachine(fake: FakeQemu<QmpCommands, QmpEvents>): void {
  fake.on('human-monitor-command', async (args, ctx) => {
    const sleeping = /^qemu-io (\S+) "sleep (\d+)"$/.exec(args['command-line']);
    if (sleeping)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Number(sleeping[2]));
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    return '';
  });

  const nodes = new Map<string, bigint>([['n0', 1n << 30n]]);
  fake.on('blockdev-add', (args) => {
    const {
      driver,
      'node-name': name,
      size,
    } = args as { driver: string; 'node-name'?: string; size?: number | bigint };
    if (driver !== 'null-co' || name === undefined)
      throw new FakeError('GenericError', 'scriptFakeMachine: only null-co nodes with a node-name');
    if (nodes.has(name)) throw new FakeError('GenericError', `Duplicate nodes with node-name='${name}'`);
    nodes.set(name, sectorRound(BigInt(size ?? 1n << 30n)));
    return {};
  });
  fake.on('blockdev-del', (args) => {
    if (!nodes.delete(args['node-name']))
      throw new FakeError('GenericError', `Failed to find node with node-name='${args['node-name']}'`);
    return {};
  });
  fake.on('query-named-block-nodes', () => [...nodes].map(([name, size]) => nullCoNode(name, size)));

  const jobs = new Map<string, JsonObject>();
  fake.on('blockdev-create', (args, ctx) => {
    const id = args['job-id'];
    const status = (s: QmpEvents['JOB_STATUS_CHANGE']['status']): void => {
      const job = jobs.get(id);
      if (job) job.status = s;
      ctx.emit('JOB_STATUS_CHANGE', { id, status: s });
    };
    jobs.set(id, { id, type: 'create', status: 'created', 'current-progress': 0, 'total-progress': 1 });
    // QEMU 7.2: created and running before the reply, the rest as the job's coroutine runs.
    status('created');
    status('running');
    ctx.afterReply(() => {
      jobs.get(id)!['current-progress'] = 1;
      for (const s of ['waiting', 'pending', 'concluded'] as const) status(s);
    });
    return {};
  });
  fake.on('query-jobs', () => [...jobs.values()] as never);
  fake.on('job-dismiss', (args, ctx) => {
    if (jobs.get(args.id)?.status !== 'concluded')
      throw new FakeError(
        'GenericError',
        `Job '${args.id}' in state '${String(jobs.get(args.id)?.status)}' cannot accept command verb 'dismiss'`,
      );
    jobs.delete(args.id);
    ctx.emit('JOB_STATUS_CHANGE', { id: args.id, status: 'null' });
    return {};
  });
}

/** query-named-block-nodes' entry for a null-co node, as QEMU 7.2 gives it. */
export function nullCoNode(name: string, size: bigint): QmpCommands['query-named-block-nodes']['returns'][number] {
  return {
    'node-name': name,
    file: 'null-co://',
    ro: false,
    drv: 'null-co',
    encrypted: false,
    detect_zeroes: 'off',
    bps: 0,
    bps_rd: 0,
    bps_wr: 0,
    iops: 0,
    iops_rd: 0,
    iops_wr: 0,
    bps_max: 0,
    bps_rd_max: 0,
    bps_wr_max: 0,
    iops_max: 0,
    iops_rd_max: 0,
    iops_wr_max: 0,
    iops_size: 0,
    write_threshold: 0,
    cache: { writeback: true, direct: false, 'no-flush': false },
    image: { filename: 'null-co://', format: 'null-co', 'virtual-size': size },
    backing_file_depth: 0,
  };
}

// ------------------------------------------------------------------ the scenarios

const qmpError = (cls: string, desc: string, code = 'command-failed'): JsonObject => ({
  error: { name: 'QmpError', code, class: cls, desc },
});

export const QMP_SCENARIOS: readonly Scenario<QmpPeer>[] = [
  {
    name: 'greeting: version, package and the oob capability, negotiated',
    runs: 'both',
    run: (peer) => using(peer.target(), undefined, async (qmp) => ({ greeting: qmp.greeting, enabled: qmp.enabled })),
    expected: {
      greeting: {
        version: { qemu: { major: 7, minor: 2, micro: expect.any(Number) }, package: expect.any(String) },
        capabilities: ['oob'],
      },
      enabled: ['oob'],
    },
  },
  {
    name: 'capabilities: without oob, exec-oob is the client’s refusal; qmp_capabilities again is QEMU’s',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), { oob: false }, async (qmp) => ({
        enabled: qmp.enabled,
        oob: await outcome(qmp.executeOob('migrate-pause')),
        again: await outcome(qmp.executeRaw('qmp_capabilities')),
      })),
    expected: {
      enabled: [],
      oob: { error: expect.objectContaining({ name: 'QmpUsageError', code: 'oob-unavailable' }) },
      again: qmpError(
        'CommandNotFound',
        'Capabilities negotiation is already complete, command ignored',
        'command-not-found',
      ),
    },
  },
  {
    name: 'negotiation on the wire: commands refused before it, a capability not offered, exec-oob without oob',
    runs: 'both',
    run: async (peer) => {
      const raw = await RawQmp.open(await peer.target());
      try {
        const lines = [await raw.line(0)];
        for (const request of [
          '{"execute":"query-status","id":1}',
          '{"execute":"qmp_capabilities","arguments":{"enable":["bogus"]},"id":2}',
          '{"execute":"qmp_capabilities","id":3}',
          '{"execute":"qmp_capabilities","id":4}',
          '{"exec-oob":"migrate-pause","id":5}',
          '{"execute":"query-status","id":6}',
        ])
          lines.push(...(await raw.exchange(request)));
        return lines;
      } finally {
        raw.close();
      }
    },
    expected: [
      expect.stringMatching(
        /^\{"QMP": \{"version": \{"qemu": \{"micro": \d+, "minor": 2, "major": 7\}, "package": ".*"\}, "capabilities": \["oob"\]\}\}$/,
      ),
      `{"id": 1, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`,
      `{"id": 2, "error": {"class": "GenericError", "desc": "Parameter 'null' does not accept value 'bogus'"}}`,
      '{"return": {}, "id": 3}',
      `{"id": 4, "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}`,
      `{"id": 5, "error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}}`,
      '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 6}',
    ],
  },
  {
    name: 'query-status, stop and cont: STOP and RESUME before their reply, none when nothing changes',
    runs: 'both',
    run: async (peer) => {
      const entries: TapEntry[] = [];
      return using(peer.target(), { tap: (e) => void entries.push(e) }, async (qmp) => {
        const events: unknown[] = [];
        qmp.onAny((e) => events.push({ event: e.event, data: e.data }));
        const statuses = [await qmp.execute('query-status')];
        await qmp.execute('stop');
        statuses.push(await qmp.execute('query-status'));
        await qmp.execute('stop');
        await qmp.execute('cont');
        statuses.push(await qmp.execute('query-status'));
        await qmp.execute('cont');
        return { statuses, events, transcript: transcript(entries) };
      });
    },
    expected: {
      statuses: [
        { status: 'running', singlestep: false, running: true },
        { status: 'paused', singlestep: false, running: false },
        { status: 'running', singlestep: false, running: true },
      ],
      events: [
        { event: 'STOP', data: undefined },
        { event: 'RESUME', data: undefined },
      ],
      transcript: [
        '< greeting',
        '> qmp_capabilities',
        '< return qmp_capabilities',
        '> query-status',
        '< return query-status',
        '> stop',
        '< event STOP',
        '< return stop',
        '> query-status',
        '< return query-status',
        '> stop',
        '< return stop',
        '> cont',
        '< event RESUME',
        '< return cont',
        '> query-status',
        '< return query-status',
        '> cont',
        '< return cont',
      ],
    },
  },
  {
    name: 'events reach every monitor: a stop on one is a STOP on the other',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, (a) =>
        using(peer.secondTarget(), undefined, async (b) => {
          const seen = { a: [] as string[], b: [] as string[] };
          a.onAny((e) => seen.a.push(e.event));
          b.onAny((e) => seen.b.push(e.event));
          const stopped = b.waitForEvent('STOP', undefined, { timeout: 5000 });
          await a.execute('stop');
          await stopped;
          const paused = (await b.execute('query-status')).status;
          const resumed = a.waitForEvent('RESUME', undefined, { timeout: 5000 });
          await b.execute('cont');
          await resumed;
          return { seen, paused };
        }),
      ),
    expected: { seen: { a: ['STOP', 'RESUME'], b: ['STOP', 'RESUME'] }, paused: 'paused' },
  },
  {
    name: 'an unknown command: QmpError CommandNotFound, with the command and the id the client gave it',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qmp) => {
        const e = await qmp.executeRaw('no-such-command').catch((x: unknown) => x);
        const { command, id } = e as { command: string; id: unknown };
        return { error: errorShape(e), command, id: typeof id, next: await qmp.execute('query-name') };
      }),
    expected: {
      ...qmpError('CommandNotFound', 'The command no-such-command has not been found', 'command-not-found'),
      command: 'no-such-command',
      id: 'number',
      next: {},
    },
  },
  {
    name: 'arguments: the client refuses them before sending; unchecked, QEMU refuses them in its own words',
    runs: 'both',
    run: async (peer) => {
      const checked = await using(peer.target(), undefined, async (qmp) =>
        // @ts-expect-error blockdev-del needs its node-name
        outcome(qmp.execute('blockdev-del', {})),
      );
      const unchecked = await using(peer.target(), { validate: false }, async (qmp) => {
        const out: unknown[] = [];
        // @ts-expect-error blockdev-del needs its node-name: the server stands in the way now
        out.push(await outcome(qmp.execute('blockdev-del')));
        for (const [command, args] of [
          ['blockdev-del', { 'node-name': 3 }],
          ['blockdev-del', { 'node-name': 'x', bogus: 1 }],
          ['blockdev-add', { driver: 'nope', 'node-name': 'a' }],
          ['blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: { driver: 'file' } }],
          ['blockdev-add', { driver: 'qcow2', 'node-name': 'a', file: 7 }],
          ['blockdev-add', { driver: 'null-co', 'node-name': 'a', size: 1.5 }],
          ['migrate-set-parameters', { 'compress-level': 300 }],
          ['block-set-write-threshold', { 'node-name': 'a', 'write-threshold': 'x' }],
          // Beyond 64 bits: a double to QEMU, for an unsigned and a signed integer.
          ['block-set-write-threshold', { 'node-name': 'a', 'write-threshold': 2n ** 64n }],
          ['blockdev-add', { driver: 'null-co', 'node-name': 'a', size: -(2n ** 63n) - 1n }],
          ['transaction', { actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'a' } }] }],
          ['query-status', { x: 1 }],
          ['device_add', {}],
        ] as const)
          out.push(await outcome(qmp.executeRaw(command, args as JsonObject)));
        return out;
      });
      return { checked, unchecked };
    },
    expected: {
      checked: { error: expect.objectContaining({ name: 'QmpValidationError', code: 'invalid-arguments' }) },
      unchecked: [
        qmpError('GenericError', "Parameter 'node-name' is missing"),
        qmpError('GenericError', "Invalid parameter type for 'node-name', expected: string"),
        qmpError('GenericError', "Parameter 'bogus' is unexpected"),
        qmpError('GenericError', "Parameter 'driver' does not accept value 'nope'"),
        qmpError('GenericError', "Parameter 'file.filename' is missing"),
        qmpError('GenericError', "Invalid parameter type for 'file', expected: BlockdevRef"),
        qmpError('GenericError', "Invalid parameter type for 'size', expected: integer"),
        qmpError('GenericError', "Parameter 'compress-level' expects uint8_t"),
        qmpError('GenericError', "Parameter 'write-threshold' expects uint64"),
        qmpError('GenericError', "Parameter 'write-threshold' expects uint64"),
        qmpError('GenericError', "Invalid parameter type for 'size', expected: integer"),
        qmpError('GenericError', "Parameter 'actions[0].data.name' is missing"),
        qmpError('GenericError', "Parameter 'x' is unexpected"),
        qmpError('GenericError', "Parameter 'driver' is missing"),
      ],
    },
  },
  {
    name: 'ids: any JSON value is echoed as QEMU read it',
    runs: 'both',
    run: async (peer) => {
      const raw = await RawQmp.open(await peer.target());
      try {
        await raw.line(0);
        await raw.exchange('{"execute":"qmp_capabilities"}');
        const lines: string[] = [];
        for (const id of [
          '"text"',
          '{"a":[1,null,true,"x"]}',
          '[]',
          'null',
          'false',
          '-1',
          '9007199254740993',
          '9223372036854775807',
          '-9223372036854775808',
          '18446744073709551615',
          '18446744073709551616',
          '-9223372036854775809',
          '1.5',
          '0.1',
          '1e3',
          '-0.0',
          '-0',
          '1e400',
          '"caf\u00e9 \\u00e9 \\ud83d\\ude00"',
        ])
          lines.push(...(await raw.exchange(`{"execute":"query-name","id":${id}}`)));
        return lines;
      } finally {
        raw.close();
      }
    },
    expected: [
      '"text"',
      '{"a": [1, null, true, "x"]}',
      '[]',
      'null',
      'false',
      '-1',
      '9007199254740993',
      '9223372036854775807',
      '-9223372036854775808',
      '18446744073709551615',
      // Beyond 64 bits QEMU's parser makes a double, and writes it as one.
      '1.8446744073709552e+19',
      '-9.2233720368547758e+18',
      '1.5',
      '0.10000000000000001',
      '1000',
      '-0',
      '0',
      // %.17g of infinity: no JSON, but what QEMU writes.
      'inf',
      '"caf\\u00E9 \\u00E9 \\uD83D\\uDE00"',
    ].map((id) => `{"return": {}, "id": ${id}}`),
  },
  {
    name: 'numbers in arguments as QEMU reads them: 2.0, 1e3 and 2^64 are doubles, no integers',
    runs: 'both',
    run: async (peer) => {
      const raw = await RawQmp.open(await peer.target());
      try {
        await raw.line(0);
        await raw.exchange('{"execute":"qmp_capabilities"}');
        const lines: string[] = [];
        for (const [command, args] of [
          ['blockdev-add', '{"driver":"null-co","node-name":"a","size":2.0}'],
          ['blockdev-add', '{"driver":"null-co","node-name":"a","size":1e3}'],
          ['blockdev-add', '{"driver":"null-co","node-name":"a","size":-0.0}'],
          ['blockdev-add', '{"driver":"null-co","node-name":"a","size":-9223372036854775809}'],
          ['block-set-write-threshold', '{"node-name":"a","write-threshold":2.0}'],
          ['block-set-write-threshold', '{"node-name":"a","write-threshold":18446744073709551616}'],
          ['migrate-set-parameters', '{"compress-level":2.0}'],
        ])
          lines.push(...(await raw.exchange(`{"execute":"${command}","arguments":${args}}`)));
        return lines;
      } finally {
        raw.close();
      }
    },
    expected: [
      ...Array.from({ length: 4 }, () => `Invalid parameter type for 'size', expected: integer`),
      `Parameter 'write-threshold' expects uint64`,
      `Parameter 'write-threshold' expects uint64`,
      `Parameter 'compress-level' expects uint64`,
    ].map((desc) => `{"error": {"class": "GenericError", "desc": "${desc}"}}`),
  },
  {
    name: 'pipelining: 200 calls at once, answered and settled in order',
    runs: 'both',
    run: (peer) =>
      using(peer.target(), undefined, async (qmp) => {
        const settled: number[] = [];
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            (i % 2 ? qmp.execute('query-status') : qmp.execute('query-name')).then((r) => {
              settled.push(i);
              return r;
            }),
          ),
        );
        const { inFlight, queued, lateReplies, unmatchedReplies, errors } = qmp.stats;
        return {
          inOrder: settled.every((n, i) => n === i),
          distinct: [...new Set(results.map((r) => JSON.stringify(r)))],
          stats: { inFlight, queued, lateReplies, unmatchedReplies, errors },
        };
      }),
    expected: {
      inOrder: true,
      distinct: ['{}', '{"status":"running","singlestep":false,"running":true}'],
      stats: { inFlight: 0, queued: 0, lateReplies: 0, unmatchedReplies: 0, errors: 0 },
    },
  },
  {
    name: 'a call that times out: QmpTimeoutError, its late reply dropped, the next call gets its own reply',
    runs: 'both',
    scripted: ['human-monitor-command'],
    run: (peer) =>
      using(peer.target(), undefined, async (qmp) => {
        const slow = await outcome(qmp.hmp('qemu-io n0 "sleep 300"', { timeout: 50 }));
        const next = await qmp.execute('query-status');
        return { slow, next, lateReplies: qmp.stats.lateReplies, unmatched: qmp.stats.unmatchedReplies };
      }),
    expected: {
      slow: {
        error: {
          name: 'QmpTimeoutError',
          code: 'timeout',
          sent: true,
          message: 'human-monitor-command: no reply within 50 ms',
        },
      },
      next: { status: 'running', singlestep: false, running: true },
      lateReplies: 1,
      unmatched: 0,
    },
  },
  {
    name: 'exec-oob: a command that does not allow it, refused by the client, and by QEMU when the client does not know',
    runs: 'both',
    run: async (peer) => {
      const typed = await using(peer.target(), undefined, (qmp) => outcome(qmp.executeOob('query-status')));
      // A client without the release's schema sends it, and QEMU answers.
      const bare = await connect(await peer.target(), {});
      try {
        return {
          typed,
          bare: await outcome(bare.executeOob('query-status')),
          after: await bare.executeRaw('query-name'),
        };
      } finally {
        await bare.close();
      }
    },
    expected: {
      typed: { error: expect.objectContaining({ name: 'QmpUsageError', code: 'oob-unavailable' }) },
      bare: qmpError('GenericError', 'The command query-status does not support OOB'),
      after: {},
    },
  },
  {
    name: 'exec-oob passes an in-band command that keeps the monitor busy; the in-band replies follow in order',
    runs: 'both',
    scripted: ['human-monitor-command'],
    run: async (peer) => {
      const entries: TapEntry[] = [];
      return using(peer.target(), { tap: (e) => void entries.push(e) }, async (qmp) => {
        const busy = qmp.hmp('qemu-io n0 "sleep 300"');
        const behind = qmp.execute('query-name');
        await sleep(50);
        const yank = await qmp.executeOob('query-yank');
        await Promise.all([busy, behind]);
        return { yank: Array.isArray(yank), transcript: transcript(entries).slice(3) };
      });
    },
    expected: {
      yank: true,
      transcript: [
        '> human-monitor-command',
        '> query-name',
        '> query-yank',
        '< return query-yank',
        '< return human-monitor-command',
        '< return query-name',
      ],
    },
  },
  {
    name: '64-bit values: a null-co node of 2^62+1 bytes reads back as exactly 2^62+512; errors of a failed command',
    runs: 'both',
    scripted: ['blockdev-add', 'blockdev-del', 'query-named-block-nodes'],
    run: (peer) =>
      using(peer.target(), undefined, async (qmp) => {
        await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big', size: 2n ** 62n + 1n });
        const again = await outcome(qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big' }));
        const big = (await qmp.execute('query-named-block-nodes')).find((n) => n['node-name'] === 'big');
        await qmp.execute('blockdev-del', { 'node-name': 'big' });
        const gone = await outcome(qmp.execute('blockdev-del', { 'node-name': 'big' }));
        return { size: big?.image['virtual-size'], drv: big?.drv, again, gone };
      }),
    expected: {
      size: 2n ** 62n + 512n,
      drv: 'null-co',
      again: qmpError('GenericError', "Duplicate nodes with node-name='big'"),
      gone: qmpError('GenericError', "Failed to find node with node-name='big'"),
    },
  },
  {
    name: 'a job run to its end with runJob: the statuses QEMU reports, the job dismissed',
    runs: 'both',
    scripted: ['blockdev-create', 'query-jobs', 'job-dismiss'],
    run: async (peer) => {
      const entries: TapEntry[] = [];
      return using(peer.target(), { tap: (e) => void entries.push(e) }, async (qmp) => {
        const result = await runJob(
          qmp,
          () =>
            qmp.execute('blockdev-create', {
              'job-id': 'create1',
              options: { driver: 'file', filename: `${peer.dir}/created.img`, size: 0 },
            }),
          { id: 'create1', autoDismiss: false, timeout: 5000 },
        );
        return {
          result,
          transcript: transcript(entries).slice(3),
          jobs: await qmp.execute('query-jobs'),
        };
      });
    },
    expected: {
      result: {
        id: 'create1',
        type: 'create',
        current: 1,
        total: 1,
        statuses: ['created', 'running', 'waiting', 'pending', 'concluded', 'null'],
        cancelled: false,
      },
      transcript: [
        '> query-jobs',
        '< return query-jobs',
        '> blockdev-create',
        '< event JOB_STATUS_CHANGE',
        '< event JOB_STATUS_CHANGE',
        '< return blockdev-create',
        '< event JOB_STATUS_CHANGE',
        '< event JOB_STATUS_CHANGE',
        '< event JOB_STATUS_CHANGE',
        '> query-jobs',
        '< return query-jobs',
        '> job-dismiss',
        '< event JOB_STATUS_CHANGE',
        '< return job-dismiss',
      ],
      jobs: [],
    },
  },
  {
    name: 'the peer dies mid-command: ConnectionError closed for the pending call, onClose, and every later call',
    runs: 'both',
    scripted: ['human-monitor-command'],
    run: async (peer) => {
      const vm = await peer.disposable();
      const qmp = await connectQmp(await vm.target());
      const reason = new Promise((resolve) => qmp.onClose(resolve));
      const pending = outcome(qmp.hmp('qemu-io n0 "sleep 5000"'));
      await sleep(50);
      await vm.kill();
      const result = {
        pending: await pending,
        reason: errorShape(await reason),
        later: await outcome(qmp.execute('query-status')),
        isOpen: qmp.isOpen,
      };
      await qmp.closed;
      return result;
    },
    expected: {
      pending: { error: { name: 'ConnectionError', code: 'closed', message: 'the peer closed the connection' } },
      reason: { name: 'ConnectionError', code: 'closed', message: 'the peer closed the connection' },
      later: { error: { name: 'ConnectionError', code: 'closed', message: 'the peer closed the connection' } },
      isOpen: false,
    },
  },
  {
    name: 'one client per monitor: a second one gets no greeting until the first leaves (greeting-timeout)',
    runs: 'real-only',
    why: 'the fake takes any number of clients on a monitor, each negotiating on its own (fake-qemu.ts: not modelled)',
    run: (peer) =>
      using(peer.target(), undefined, async () => ({
        second: await outcome(connectQmp(await peer.target(), { connectTimeout: 300 })),
      })),
    expected: { second: { error: expect.objectContaining({ name: 'ConnectionError', code: 'greeting-timeout' }) } },
  },
  {
    name: 'hot-plug: a null-co node as a virtio-blk-pci disk, seen by query-block and query-pci',
    runs: 'real-only',
    machine: 'pc',
    why: 'the fake does not model devices (device_add takes anything; query-block and query-pci answer [] unless scripted)',
    run: (peer) =>
      using(peer.target(), undefined, async (qmp) => {
        await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'd1' });
        await qmp.cmd.deviceAdd({ driver: 'virtio-blk-pci', drive: 'd1', id: 'vd1' });
        const disk = (await qmp.execute('query-block')).find((b) => b.qdev?.includes('vd1'));
        const pci = (await qmp.execute('query-pci')).flatMap((bus) => bus.devices).some((d) => d.qdev_id === 'vd1');
        return { node: disk?.inserted?.['node-name'], format: disk?.inserted?.image.format, pci };
      }),
    expected: { node: 'd1', format: 'null-co', pci: true },
  },
];
