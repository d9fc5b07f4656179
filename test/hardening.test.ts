/**
 * What a hostile or buggy peer, or an unlucky caller, must not be able to do
 * to the client: crash the process, route a reply to the wrong call, pin
 * memory, leak a secret, or turn a mistake into a hang or a synchronous
 * throw. Each block is one defect of issue 7, over the scripted fake peer.
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageDecoder } from '../runtime/wire/framing.js';
import { QEMU_JSON_LIMITS } from '../runtime/wire/limits.js';
import {
  ConnectionError,
  ProtocolError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
} from '../runtime/errors.js';
import type { TapEntry } from '../runtime/qmp/client.js';
import type { StallInfo } from '../runtime/core/requests.js';
import {
  caught,
  event,
  FakeQmp,
  holding,
  line,
  open,
  problems,
  replyText,
  settle,
  setup,
  typed,
  until,
} from './support/fake-qmp.js';

vi.setConfig({ testTimeout: 10_000 });

/** Uncaught exceptions and unhandled rejections during a test: there must be none. */
let escaped: unknown[] = [];
const onEscape = (e: unknown): void => void escaped.push(e);
beforeEach(() => {
  escaped = [];
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

const nested = (depth: number, inner = '0'): string => '['.repeat(depth) + inner + ']'.repeat(depth);

describe('1. deeply nested JSON from the peer', () => {
  it('never throws out of the data path: unknown shape, error desc, unknown id, 100,000 levels deep', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = qmp.execute('query-name');
    await until(() => h.held.length === 1);
    const deep = nested(100_000);
    server.send(`{"x":${deep}}\r\n`);
    server.send(`{"error":{"class":"GenericError","desc":${deep}},"id":${String(h.held[0].id)}}\r\n`);
    server.send(`{"return":${deep},"id":9999}\r\n`);
    server.send(`{"event":"X","data":${deep},"timestamp":{"seconds":1,"microseconds":0}}\r\n`);
    server.reply(h.held[0], { name: 'still fine' });
    expect(await call).toEqual({ name: 'still fine' });
    expect(problems(qmp).map((p) => p.code)).toEqual(['too-deep', 'too-deep', 'too-deep', 'too-deep']);
    expect(escaped).toEqual([]);
    expect(qmp.isOpen).toBe(true);
  });

  it('reads deep messages within the limit, the careful 64-bit parser included', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = qmp.executeRaw('x-deep');
    await until(() => h.held.length === 1);
    // An error whose desc is no string, nested 4,000 deep around a number beyond 2^53.
    server.send(
      `{"error":{"class":"GenericError","desc":${nested(4000, '18446744073709551615')}},"id":${String(h.held[0].id)}}\r\n`,
    );
    const err = await caught(call);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).desc).toMatch(/"desc":\[\[\[/);
    expect(escaped).toEqual([]);
  });

  it('fails the handshake cleanly on a deep message before the greeting', async () => {
    const server = new FakeQmp({ greet: false });
    server.send(`{"x":${nested(100_000)}}\r\n`);
    const err = await caught(open(server));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('protocol');
    expect(escaped).toEqual([]);
  });
});

describe('2. replies without an id', () => {
  it('never gives an id-less return to a call', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = qmp.execute('query-name');
    await until(() => h.held.length === 1);
    server.send({ return: { name: 'forged' } });
    server.reply(h.held[0], { name: 'real' });
    expect(await call).toEqual({ name: 'real' });
    expect(problems(qmp).map((p) => p.code)).toEqual(['unmatched-reply']);
    expect(qmp.stats.unmatchedReplies).toBe(1);
  });

  it('gives a flood of id-less errors to one call only: the calls after it get their own replies', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const first = qmp.execute('query-name');
    const second = qmp.execute('query-status');
    const third = qmp.execute('query-uuid');
    await until(() => h.held.length === 3);
    // QEMU answers one unreadable request with many id-less errors (1,032 for a value nested 1,100 deep).
    const flood = Array.from({ length: 1032 }, () =>
      line({ error: { class: 'GenericError', desc: 'JSON parse error, too deep' } }),
    ).join('');
    server.answered(h.held[0]);
    server.send(flood);
    server.reply(h.held[1], { status: 'running', singlestep: false, running: true });
    server.reply(h.held[2], { UUID: '00000000-0000-0000-0000-000000000000' });
    const err = await caught(first);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).desc).toMatch(/could not read the request/);
    expect(await second).toMatchObject({ status: 'running' });
    expect(await third).toMatchObject({ UUID: expect.any(String) });
    expect(qmp.stats.unmatchedReplies).toBe(1031);
  });

  it('blames an oversized reply on a call only when its id proves it; an oversized event fails nothing', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxMessageBytes: 1000 });
    const call = qmp.execute('query-name');
    await until(() => h.held.length === 1);
    server.send(event('X_HUGE', { blob: 'x'.repeat(5000) }));
    server.send({ return: { name: 'y'.repeat(5000) } }); // no id: nobody's
    await until(() => problems(qmp).length === 2);
    expect(problems(qmp).map((p) => p.code)).toEqual(['oversized', 'oversized']);
    let settled = false;
    void call.then(
      () => (settled = true),
      () => (settled = true),
    );
    await settle();
    expect(settled).toBe(false);
    // Its own oversized reply, id last as QEMU writes it: that one fails the call.
    server.answered(h.held[0]);
    server.send(`{"return": {"name": "${'z'.repeat(5000)}"}, "id": ${String(h.held[0].id)}}\r\n`);
    const err = await caught(call);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('oversized');
    const next = qmp.execute('query-name');
    await until(() => h.held.length === 2);
    server.reply(h.held[1], { name: 'ok' });
    expect(await next).toEqual({ name: 'ok' });
  });
});

describe('3. limits on what is sent', () => {
  it("refuses locally what QEMU's parser refuses, naming the limit, and sends nothing", async () => {
    const { server, qmp } = await setup({}, { maxRequestBytes: QEMU_JSON_LIMITS.maxBytes });
    const sentBefore = server.calls.length;
    const cases: [unknown, string][] = [
      [Array.from({ length: 1_100_000 }, () => 1), 'too-many-tokens'],
      [JSON.parse(nested(QEMU_JSON_LIMITS.maxDepth - 1)), 'too-deep'], // +2 for the envelope: 1025
      ['x'.repeat(QEMU_JSON_LIMITS.maxBytes + 1), 'too-large'],
      ['lone \ud800 surrogate', 'unsupported-string'],
      ['lone \udc00 low surrogate', 'unsupported-string'],
      ['noncharacter \ufdd0', 'unsupported-string'],
      ['noncharacter \uffff', 'unsupported-string'],
      ['noncharacter U+1FFFE \ud83f\udffe', 'unsupported-string'],
      ['noncharacter U+10FFFF \udbff\udfff', 'unsupported-string'],
    ];
    for (const [value, code] of cases) {
      const err = await caught(qmp.executeRaw('qom-set', { path: '/machine', property: 'x', value: value as never }));
      expect(err, code).toBeInstanceOf(QmpUsageError);
      expect((err as QmpUsageError).code).toBe(code);
      expect((err as Error).message).toMatch(/nothing was sent/);
    }
    // The typed API checks 'any'-typed members the same way.
    const typed = await caught(
      qmp.execute('qom-set', { path: '/machine', property: 'x', value: Array.from({ length: 1_100_000 }, () => 1) }),
    );
    expect((typed as QmpUsageError).code).toBe('too-many-tokens');
    await settle();
    expect(server.calls.length).toBe(sentBefore);
  });

  it('sends what is just within the limits, and the strings QEMU accepts', async () => {
    const { server, qmp } = await setup();
    await qmp.executeRaw('qom-set', {
      path: '/machine',
      property: 'x',
      value: JSON.parse(nested(QEMU_JSON_LIMITS.maxDepth - 2)) as never,
    });
    await qmp.executeRaw('qom-set', {
      path: '/machine',
      property: 'x',
      value: 'emoji \ud83d\ude00, NUL \u0000, U+FDCF \ufdcf, U+10FFFD \udbff\udffd',
    });
    expect(server.calls).toHaveLength(2);
  });

  it('refuses requests over 1 MiB by default (QEMU reads about 175 KB/s), and more when allowed', async () => {
    const { qmp } = await setup();
    const big = { path: '/machine', property: 'x', value: 'y'.repeat(1024 * 1024) };
    const err = await caught(qmp.executeRaw('qom-set', big));
    expect((err as QmpUsageError).code).toBe('too-large');
    expect((err as Error).message).toMatch(/1048576-byte limit \(maxRequestBytes\)/);
    const { qmp: roomy } = await setup({}, { maxRequestBytes: 4 * 1024 * 1024 });
    expect(await roomy.executeRaw('qom-set', big)).toEqual({});
  });

  it('honours a lower maxRequestBytes', async () => {
    const { qmp } = await setup({}, { maxRequestBytes: 1000 });
    const err = await caught(qmp.executeRaw('qom-set', { path: '/machine', property: 'x', value: 'y'.repeat(2000) }));
    expect((err as QmpUsageError).code).toBe('too-large');
    expect((err as Error).message).toMatch(/1000-byte limit \(maxRequestBytes\)/);
  });
});

describe('4. memory a peer can pin', () => {
  it('holds a bounded number of events before the handshake completes, and counts the rest', async () => {
    const server = new FakeQmp({
      onCapabilities: (req, s) => {
        s.send(Array.from({ length: 5000 }, () => line(event('STOP'))).join(''));
        s.reply(req);
      },
    });
    const qmp = await open(server);
    let seen = 0;
    qmp.on('STOP', () => seen++);
    await until(() => seen === 1024);
    await settle();
    expect(seen).toBe(1024);
    expect(qmp.stats.droppedEarlyEvents).toBe(5000 - 1024);
  });

  it('keeps a message arriving in tiny reads in one buffer, not one Buffer per read', () => {
    const messages: unknown[] = [];
    const d = new MessageDecoder({ message: (m) => messages.push(m), error: (e) => expect.fail(e.message) });
    const text = Buffer.from(`{"return": "${'a'.repeat(300_000)}"}\r\n`);
    const before = process.memoryUsage();
    // Like a socket, a fresh allocation per read.
    for (let i = 0; i < text.length - 2; i++) d.push(Buffer.from(text.subarray(i, i + 1)));
    expect(d.buffered).toBe(text.length - 2);
    const after = process.memoryUsage();
    // Retaining a Buffer per read costs hundreds of bytes each: 100+ MB here. One growing buffer: about 0.5 MB.
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 * 1024 * 1024);
    d.push(text.subarray(text.length - 2));
    expect(messages).toHaveLength(1);
  });

  it('finds 0xFF in linear time within a chunk', () => {
    const lines = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `{"n":${i}}\n`).join(''));
    const chunk = Buffer.concat([lines, Buffer.from([0xff]), Buffer.from('{"last":1}\n')]);
    let scanned = 0;
    const indexOf = chunk.indexOf.bind(chunk);
    // Count the bytes the decoder's searches for 0xFF cover.
    chunk.indexOf = ((value: number, start?: number) => {
      if (value === 0xff) scanned += chunk.length - (start ?? 0);
      return indexOf(value, start);
    }) as typeof chunk.indexOf;
    let count = 0;
    let syncs = 0;
    new MessageDecoder({ message: () => count++, error: (e) => expect.fail(e.message), sync: () => syncs++ }).push(
      chunk,
    );
    expect(count).toBe(20_001);
    expect(syncs).toBe(1);
    expect(scanned).toBeLessThanOrEqual(2 * chunk.length);
  });
});

describe('5. secrets', () => {
  it('never shows a planted secret in taps, errors, stacks or util.inspect', async () => {
    const secrets = [
      'hunter2-vnc',
      'cookie-s3cr3t',
      'qom-data-s3cr3t',
      'hmp-data-s3cr3t',
      'object-data-s3cr3t',
      'qom-get-s3cr3t',
      'hmp-get-s3cr3t',
    ];
    const h = holding();
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { tap: (t) => taps.push(t) });
    const errors: unknown[] = [];
    const keep = (p: Promise<unknown>): Promise<void> =>
      p.then(
        () => undefined,
        (e: unknown) => void errors.push(e),
      );
    // Pending while the client is inspected.
    const pending = [
      keep(qmp.execute('set_password', { protocol: 'vnc', password: secrets[0] })),
      keep(
        qmp.executeRaw('blockdev-add', { driver: 'https', 'node-name': 'web', url: 'https://x/y', cookie: secrets[1] }),
      ),
      keep(qmp.execute('qom-set', { path: '/objects/sec0', property: 'data', value: secrets[2] })),
      keep(qmp.hmp(`qom-set /objects/sec0 data ${secrets[3]}`)),
      keep(qmp.execute('object-add', { 'qom-type': 'secret', id: 'sec1', data: secrets[4] })),
      keep(qmp.execute('qom-get', { path: '/objects/sec0', property: 'data' })),
      keep(qmp.hmp('qom-get /objects/sec0 data')),
      keep(qmp.execute('set_password', { protocol: 'vnc', password: secrets[0] }, { timeout: 1 })),
    ];
    await until(() => h.held.length === 8);
    const shown = [inspect(qmp, { depth: 10, showHidden: true }), String(qmp)];
    // Some fail, some answer with the secret itself, one times out, one is closed under.
    for (const req of h.held.slice(0, 5)) server.fail(req, 'GenericError', 'no');
    server.reply(h.held[5], secrets[5]);
    server.reply(h.held[6], `${secrets[6]}\r\n`);
    await Promise.all(pending.slice(0, 7));
    await qmp.close();
    await Promise.all(pending);
    expect(errors.length).toBeGreaterThanOrEqual(6);
    for (const e of errors)
      shown.push(
        inspect(e, { depth: 10, showHidden: true }),
        (e as Error).message,
        String((e as Error).stack),
        JSON.stringify(e),
      );
    for (const t of taps) shown.push(JSON.stringify(t));
    const all = shown.join('\n');
    for (const s of secrets) expect(all, s).not.toContain(s);
    // The wire still carries them.
    expect(server.requests.map((r) => r.raw).join('')).toContain(secrets[1]);
  });
});

describe("6. the caller's mistakes", () => {
  it('a circular value or a throwing getter rejects, never throws', async () => {
    const { server, qmp } = await setup();
    const loop: Record<string, unknown> = { driver: 'qcow2' };
    loop.file = loop;
    let p: Promise<unknown> | undefined;
    expect(() => (p = qmp.execute('blockdev-add', loop as never))).not.toThrow();
    const e1 = await caught(p!);
    expect(e1).toBeInstanceOf(QmpValidationError);
    expect((e1 as Error).message).toMatch(/\$\.file: a circular reference/);
    expect(() => (p = qmp.executeRaw('blockdev-add', loop as never))).not.toThrow();
    expect(((await caught(p!)) as QmpUsageError).code).toBe('unserialisable');
    const getter = {
      get 'node-name'(): string {
        throw new Error('getter bug');
      },
    };
    expect(() => (p = qmp.execute('blockdev-del', getter))).not.toThrow();
    const e3 = await caught(p!);
    expect(e3).toBeInstanceOf(QmpUsageError);
    expect((e3 as Error).message).toMatch(/getter bug/);
    expect(() => (p = qmp.execute('blockdev-del', getter, { validate: false }))).not.toThrow();
    expect(await caught(p!)).toBeInstanceOf(QmpUsageError);
    await settle();
    expect(server.calls).toEqual([]);
  });

  it('timeout: Infinity or 2^31 ms waits (no 1 ms timer overflow), for calls and event waits', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const outcomes: string[] = [];
    const a = qmp.execute('query-name', { timeout: Infinity }).then(
      () => outcomes.push('a'),
      () => outcomes.push('a failed'),
    );
    const b = qmp.execute('query-name', { timeout: 2 ** 31 }).then(
      () => outcomes.push('b'),
      () => outcomes.push('b failed'),
    );
    const w = qmp.waitForEvent('STOP', undefined, { timeout: 2 ** 31 + 5 });
    void w.then(
      () => outcomes.push('w'),
      () => outcomes.push('w failed'),
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(outcomes).toEqual([]);
    server.reply(h.held[0], { name: 'a' });
    server.reply(h.held[1], { name: 'b' });
    server.send(event('STOP'));
    await Promise.all([a, b, w]);
    expect(outcomes.sort()).toEqual(['a', 'b', 'w']);
  });

  it('bad options are a QmpUsageError naming the option, at connect and per call', async () => {
    for (const options of [
      { maxInFlight: 0 },
      { maxInFlight: NaN },
      { timeout: -1 },
      { maxMessageBytes: 1.5 },
      { timeout: 'soon' as never },
    ]) {
      const err = await caught(open(new FakeQmp(), options));
      expect(err, JSON.stringify(options)).toBeInstanceOf(QmpUsageError);
      expect((err as QmpUsageError).code).toBe('bad-option');
      expect((err as Error).message).toContain(Object.keys(options)[0]);
    }
    const { qmp } = await setup();
    const err = await caught(qmp.execute('query-name', { timeout: NaN }));
    expect((err as QmpUsageError).code).toBe('bad-option');
    const w = await caught(qmp.waitForEvent('STOP', undefined, { timeout: -5 }));
    expect((w as QmpUsageError).code).toBe('bad-option');
  });

  it('a command name that is not a string is refused before anything is sent, with its own code', async () => {
    const { server, qmp } = await setup();
    const before = server.requests.length;
    for (const bad of [123, undefined, null, {}]) {
      const untyped = qmp as unknown as Record<'execute' | 'executeRaw', (command: unknown) => Promise<unknown>>;
      for (const call of [() => untyped.execute(bad), () => untyped.executeRaw(bad)]) {
        const err = await caught(call());
        expect(err, String(bad)).toBeInstanceOf(QmpUsageError);
        expect((err as QmpUsageError).code).toBe('bad-command');
        expect((err as Error).message).toMatch(
          /^the command name must be a string, not (number|undefined|null|object)$/,
        );
      }
    }
    expect(server.requests.length).toBe(before);
  });

  it('arguments to a command that takes none are refused, not read as call options', async () => {
    const { server, qmp } = await setup();
    const err = await caught(qmp.execute('query-status', { verbose: true } as never));
    expect(err).toBeInstanceOf(QmpUsageError);
    expect((err as QmpUsageError).code).toBe('unexpected-arguments');
    expect((err as Error).message).toMatch(/query-status takes no arguments.*'verbose'/);
    expect(((await caught(qmp.cmd.queryStatus({ verbose: true } as never))) as QmpUsageError).code).toBe(
      'unexpected-arguments',
    );
    expect(await qmp.execute('query-status', { timeout: 500 })).toEqual({});
    expect(server.calls).toHaveLength(1);
  });

  it('an unknown command gets a "did you mean"', async () => {
    const { qmp } = await setup();
    const err = await caught(qmp.execute('qury-status' as 'query-status'));
    expect(err).toBeInstanceOf(QmpValidationError);
    expect((err as Error).message).toMatch(/unknown command 'qury-status' \(did you mean 'query-status'\?\)/);
  });
});

describe('7. the documented event pattern', () => {
  it('a wait armed before a command that fails never raises an unhandled rejection', async () => {
    const { qmp } = await setup({ onRequest: (req, s) => s.fail(req, 'GenericError', 'Job not found') });
    // The README pattern: arm, run the command, await the event. The command fails, so the wait is never awaited.
    const run = async (): Promise<void> => {
      const done = qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.id === 'j1', { timeout: 20 });
      await qmp.execute('job-dismiss', { id: 'j1' });
      await done;
    };
    expect(await caught(run())).toBeInstanceOf(QmpError);
    await new Promise((r) => setTimeout(r, 60)); // past the wait's timeout
    expect(escaped).toEqual([]);
    // Awaited, the same wait still reports its timeout; cancel() disarms one.
    const w = qmp.waitForEvent('STOP', undefined, { timeout: 10 });
    expect(await caught(w)).toBeInstanceOf(QmpTimeoutError);
    const c = qmp.waitForEvent('STOP');
    c.cancel('not needed');
    expect(await caught(c)).toBeInstanceOf(QmpAbortError);
  });
});

describe('8. iterators and shared signals', () => {
  it('two concurrent next() calls on one events() iterator both settle, and both end on close', async () => {
    const { server, qmp } = await setup();
    const it1 = qmp.events('STOP');
    const [a, b] = [it1.next(), it1.next()];
    const first = event('STOP');
    const second = event('STOP');
    server.send(line(first) + line(second));
    expect((await a).value?.timestamp).toEqual(first.timestamp);
    expect((await b).value?.timestamp).toEqual(second.timestamp);
    const [c, d] = [it1.next(), it1.next()];
    await qmp.close();
    expect(await c).toEqual({ value: undefined, done: true });
    expect(await d).toEqual({ value: undefined, done: true });
  });

  it('one AbortSignal shared by many calls and waits raises no MaxListenersExceededWarning, and aborts them all', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const h = holding();
      const { qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: Infinity });
      const ac = new AbortController();
      const calls = Array.from({ length: 50 }, () => caught(qmp.execute('query-name', { signal: ac.signal })));
      const waits = Array.from({ length: 50 }, () =>
        caught(qmp.waitForEvent('STOP', undefined, { signal: ac.signal })),
      );
      await until(() => h.held.length === 50);
      ac.abort();
      for (const e of await Promise.all([...calls, ...waits])) expect(e).toBeInstanceOf(QmpAbortError);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('9. eight unanswered requests', () => {
  it('says so: a stall notification, a clear error for calls never sent, and executeOob gets through', async () => {
    const h = holding();
    const { server, qmp } = await setup(
      { onRequest: (req, s) => (req.oob ? s.reply(req, []) : h.onRequest(req)) },
      { stallAfter: 20 },
    );
    const stalls: StallInfo[] = [];
    qmp.onStall((s) => stalls.push(s));
    const stuck = Array.from({ length: 8 }, () => qmp.execute('stop'));
    await until(() => h.held.length === 8);
    const blocked = caught(qmp.execute('query-name', { timeout: 60 }));
    await until(() => stalls.length === 1, 'the stall notification');
    expect(stalls[0]).toMatchObject({ inFlight: 8, queued: 1, oldest: 'stop' });
    expect(qmp.stats).toMatchObject({ inFlight: 8, queued: 1 });
    expect(await qmp.executeOob('query-yank')).toEqual([]);
    const err = await blocked;
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).sent).toBe(false);
    expect((err as Error).message).toMatch(
      /query-name: not sent within 60 ms: 8 requests outstanding since \S+ \(the oldest: stop\); executeOob\(\)/,
    );
    for (const req of h.held) server.reply(req);
    await Promise.all(stuck);
    expect(qmp.stats).toMatchObject({ inFlight: 0, queued: 0 });
    expect(server.calls.filter((c) => c.command === 'query-name')).toEqual([]);
  });
});

describe('observability', () => {
  it('onClose tells why the connection went, once, even when subscribed late', async () => {
    const { server, qmp } = await setup();
    const reasons: ConnectionError[] = [];
    qmp.onClose((r) => reasons.push(r));
    server.end();
    await qmp.closed;
    expect(reasons).toHaveLength(1);
    expect(reasons[0].code).toBe('closed');
    const late: ConnectionError[] = [];
    qmp.onClose((r) => late.push(r));
    await settle();
    expect(late).toEqual(reasons);
  });

  it('onError reports garbage with its code and an excerpt; stats count it', async () => {
    const { server, qmp } = await setup();
    server.send('this is not json\r\n');
    server.send('[1,2]\r\n');
    server.send({ neither: 'reply nor event' });
    await until(() => problems(qmp).length === 3);
    expect(problems(qmp).map((p) => p.code)).toEqual(['invalid-json', 'not-an-object', 'unknown-shape']);
    expect((problems(qmp)[0] as ProtocolError).excerpt).toBe('this is not json');
    expect(qmp.stats.errors).toBe(3);
  });
});

// Keep replyText referenced for readers of the fake: replies are built the same way everywhere.
void replyText;

describe('what is sent is what is checked, shown and redacted', () => {
  it('validation, the tap and QmpError.args see the arguments as written (toJSON applied), redacted', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup(
      { onRequest: (req, s) => s.fail(req, 'GenericError', 'no') },
      { tap: (t) => taps.push(t) },
    );
    // toJSON supplies the required 'node-name' and turns 'pw' into 'password'.
    const args = { toJSON: () => ({ 'node-name': 'n1', password: 'hunter2' }) };
    const err = await caught(qmp.executeRaw('blockdev-del', args as never));
    expect((err as QmpError).args).toEqual({ 'node-name': 'n1', password: '<redacted>' });
    expect(JSON.stringify(taps)).not.toContain('hunter2');
    expect(server.calls[0].raw).toContain('hunter2');
    const ok = await caught(qmp.execute('blockdev-del', { toJSON: () => ({ 'node-name': 'n2' }) } as never));
    expect(ok).toBeInstanceOf(QmpError); // validated as sent, so it was sent
  });

  it('a deep reply with a tap settles its call (redaction keeps its own stack)', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { tap: () => undefined });
    const call = qmp.executeRaw('x-deep');
    await until(() => h.held.length === 1);
    server.send(`{"return":${nested(4000)},"id":${String(h.held[0].id)}}\r\n`);
    expect(Array.isArray(await call)).toBe(true);
    expect(problems(qmp)).toEqual([]);
  });

  it('masks secrets in excerpts of what could not be used, and URL passwords everywhere', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup(
      { onRequest: (req, s) => s.fail(req, 'GenericError', 'no') },
      { tap: (t) => taps.push(t) },
    );
    server.send({ return: { password: 'unmatched-s3cr3t' }, id: 4242 });
    server.send({ weird: { secret: 'shape-s3cr3t' } });
    server.send('{"password": "garbage-s3cr3t", oops\r\n');
    await until(() => problems(qmp).length === 3);
    const err = await caught(
      qmp.executeRaw('blockdev-add', {
        driver: 'https',
        'node-name': 'w',
        url: 'https://alice:url-s3cr3t@example.com/disk',
      }),
    );
    const shown = [
      JSON.stringify(problems(qmp)),
      inspect(problems(qmp)),
      JSON.stringify(taps),
      JSON.stringify(err),
      inspect(err),
    ].join('\n');
    for (const s of ['unmatched-s3cr3t', 'shape-s3cr3t', 'garbage-s3cr3t', 'url-s3cr3t'])
      expect(shown, s).not.toContain(s);
    expect(shown).toContain('https://alice:<redacted>@example.com/disk');
  });

  it('JSON.stringify of an error works with 64-bit arguments (as strings)', async () => {
    const { qmp } = await setup({ onRequest: (req, s) => s.fail(req, 'GenericError', 'no') });
    const err = await caught(qmp.execute('block_resize', { 'node-name': 'n', size: 2n ** 62n }));
    expect(JSON.parse(JSON.stringify(err))).toMatchObject({
      name: 'QmpError',
      code: 'command-failed',
      args: { size: '4611686018427387904' },
    });
  });
});

describe('callbacks and the close', () => {
  it('an async tap or listener that rejects is reported, never an unhandled rejection', async () => {
    // What is tested: a tap and a listener that return a rejecting promise where the types ask for void.
    /* eslint-disable @typescript-eslint/no-misused-promises */
    const { server, qmp } = await setup({}, { tap: async () => Promise.reject(new Error('async tap')) });
    qmp.on('STOP', async () => Promise.reject(new Error('async listener')));
    /* eslint-enable @typescript-eslint/no-misused-promises */
    server.send(event('STOP'));
    await until(() => problems(qmp).some((p) => (p.cause as Error)?.message === 'async listener'));
    await settle();
    expect(problems(qmp).some((p) => (p.cause as Error)?.message === 'async tap')).toBe(true);
    expect(escaped).toEqual([]);
  });

  it('close() inside a listener stops reading: nothing after it is delivered or reported', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = caught(qmp.execute('query-name'));
    await until(() => h.held.length === 1);
    const seen: string[] = [];
    qmp.onAny((e) => {
      seen.push(e.event);
      if (e.event === 'CLOSE_NOW') void qmp.close();
    });
    server.send(line(event('CLOSE_NOW')) + line(replyText(h.held[0], { name: 'late' })) + line(event('AFTER_CLOSE')));
    expect(await call).toBeInstanceOf(ConnectionError);
    await settle();
    expect(seen).toEqual(['CLOSE_NOW']);
    expect(problems(qmp)).toEqual([]);
  });

  it('a 0xFF byte from a QMP peer is reported, and the next message is read', async () => {
    const { server, qmp } = await setup();
    const seen: string[] = [];
    qmp.onAny((e) => seen.push(e.event));
    server.sendChunks(
      Buffer.concat([Buffer.from('{"event": "HALF'), Buffer.from([0xff]), Buffer.from(line(event('WHOLE')))]),
      Infinity,
    );
    await until(() => seen.length === 1);
    expect(seen).toEqual(['WHOLE']);
    expect(problems(qmp).map((p) => p.code)).toEqual(['sync-byte']);
  });
});

describe('bounded buffers and counters', () => {
  it('an events() stream nobody reads keeps at most bufferSize events and bufferChars characters', async () => {
    const { server, qmp } = await setup();
    const big = 'BIG' as 'STOP';
    const few = qmp.events(big, { bufferChars: 1000 });
    const one = qmp.events(big, { bufferSize: 1 });
    let n = 0;
    qmp.on(big, () => n++);
    const sent = Array.from({ length: 20 }, (_, i) => event('BIG', { blob: 'x'.repeat(300), i }));
    for (const e of sent) server.send(e);
    await until(() => n === 20);
    // Each event counts its characters and newline.
    const kept = Math.floor(1000 / (line(sent[0]).length - 1));
    expect(few.dropped).toBe(20 - kept);
    expect(one.dropped).toBe(19);
    expect(((await few.next()).value?.data as { i: number }).i).toBe(20 - kept);
    expect(((await one.next()).value?.data as { i: number }).i).toBe(19);
  });

  it('counts out-of-band requests in stats.outstanding; a late qom-get reply is redacted in the tap', async () => {
    const h = holding();
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { tap: (t) => taps.push(t) });
    const oob = caught(qmp.executeOob('query-yank', { timeout: 5 }));
    const get = caught(qmp.execute('qom-get', { path: '/objects/s', property: 'data' }, { timeout: 5 }));
    await Promise.all([oob, get]);
    expect(qmp.stats).toMatchObject({ inFlight: 1, outstanding: 2 });
    server.reply(h.held[1], 'late-s3cr3t');
    server.reply(h.held[0], []);
    await until(() => qmp.stats.lateReplies === 2);
    expect(qmp.stats.outstanding).toBe(0);
    expect(JSON.stringify(taps)).not.toContain('late-s3cr3t');
  });

  it('reports a stall again when a new call is blocked after the last one timed out', async () => {
    const h = holding();
    const { qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: 1, stallAfter: 10 });
    const stalls: StallInfo[] = [];
    qmp.onStall((s) => stalls.push(s));
    void caught(qmp.execute('stop'));
    expect(await caught(qmp.execute('query-name', { timeout: 40 }))).toBeInstanceOf(QmpTimeoutError);
    expect(stalls).toHaveLength(1);
    expect(await caught(qmp.execute('query-name', { timeout: 40 }))).toBeInstanceOf(QmpTimeoutError);
    expect(stalls).toHaveLength(2);
  });
});

describe('the API refuses what it cannot use, with a code', () => {
  it('bad listeners, names, option objects and misspelt options', async () => {
    const { qmp } = await setup();
    const code = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        return (e as QmpUsageError).code;
      }
      return 'no throw';
    };
    expect(code(() => qmp.events(123 as never))).toBe('bad-option');
    expect(code(() => qmp.events('STOP', { bufferSize: 0 }))).toBe('bad-option');
    expect(code(() => qmp.on('STOP', 'nope' as never))).toBe('bad-option');
    expect(code(() => qmp.onError(undefined as never))).toBe('bad-option');
    const w = qmp.waitForEvent('STOP', undefined, null as never);
    w.cancel();
    expect(await caught(w)).toBeInstanceOf(QmpAbortError);
    expect(((await caught(qmp.waitForEvent('STOP', 'x' as never))) as QmpUsageError).code).toBe('bad-option');
    const typo = await caught(qmp.execute('blockdev-del', { 'node-name': 'x' }, { timout: 50 } as never));
    expect((typo as QmpUsageError).code).toBe('bad-option');
    expect((typo as Error).message).toMatch(/unknown option 'timout' \(did you mean 'timeout'\?\)/);
    const noArgs = await caught(qmp.execute('query-name', { timout: 50 } as never));
    expect((noArgs as Error).message).toMatch(/takes no arguments.*'timout' \(did you mean 'timeout'\?\)/);
    const badValidate = await caught(qmp.execute('blockdev-del', { 'node-name': 'x' }, { validate: 'no' } as never));
    expect((badValidate as QmpUsageError).code).toBe('bad-option');
    for (const options of [{ connectTimout: 5 }, { oob: 'no' }, 'fast']) {
      expect(((await caught(open(new FakeQmp(), options as never))) as QmpUsageError).code).toBe('bad-option');
    }
  });

  it('bad targets and dead streams fail fast with a code', async () => {
    const { connect } = await import('../runtime/qmp/client.js');
    for (const target of [{}, { host: 'localhost', port: -1 }, { path: '' }, { listen: {} }]) {
      const err = await caught(connect(target as never, {}, { connectTimeout: 60_000 }));
      expect((err as QmpUsageError).code, JSON.stringify(target)).toBe('bad-option');
    }
    const server = new FakeQmp({ greet: false });
    server.stream.destroy();
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, {}, { connectTimeout: 0 }));
    expect((err as ConnectionError).code).toBe('closed');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a forged greeting is refused, and inspecting the client never throws', async () => {
    const server = new FakeQmp({ greet: false });
    server.send({
      QMP: { version: { qemu: { major: { toString: 1 }, minor: 2, micro: 0 }, package: '' }, capabilities: [] },
    });
    const err = await caught(open(server));
    expect((err as ConnectionError).code).toBe('protocol');
    const { qmp } = await setup();
    expect(() => inspect(qmp)).not.toThrow();
  });
});

describe('streams that answer from inside write()', () => {
  it('matches a reply delivered synchronously while the request is being written', async () => {
    const { connect } = await import('../runtime/qmp/client.js');
    const { Duplex } = await import('node:stream');
    // A peer that pushes its answer from inside _write(): Node then emits 'data' before write() returns.
    const peer = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        const req = JSON.parse(chunk.toString()) as { id: number; execute: string };
        this.push(`{"return": {"echo": "${req.execute}"}, "id": ${req.id}}\r\n`);
        done();
      },
    });
    peer.push(line({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] } }));
    const qmp = await connect({ stream: peer }, {}, { connectTimeout: 1000, timeout: 1000 });
    expect(await qmp.executeRaw('query-name')).toEqual({ echo: 'query-name' });
    await qmp.close();
  });
});

describe('second review: redaction, numbers, streams, the facade', () => {
  it('masks URL passwords in linear time, in QEMU error descriptions, and in every form seen', async () => {
    const { maskUrl } = await import('../runtime/redact.js');
    const started = Date.now();
    maskUrl('x@y://' + 'a.'.repeat(100_000));
    expect(Date.now() - started).toBeLessThan(1000); // quadratic took 17 s on 200 KB
    expect(maskUrl('https://alice:p@ss@host/d')).toBe('https://alice:<redacted>@host/d');
    expect(maskUrl('iscsi://alice%hunter2@host/iqn/0')).toBe('iscsi://alice%<redacted>@host/iqn/0');
    expect(maskUrl('rbd:pool/img:id=admin:key=AQB5:conf=/etc/ceph.conf')).toBe(
      'rbd:pool/img:id=admin:key=<redacted>:conf=/etc/ceph.conf',
    );
    expect(maskUrl('json:{"driver": "ssh", "password": "hunter2"}')).toBe(
      'json:{"driver": "ssh", "password": "<redacted>"}',
    );
    const { qmp } = await setup({
      onRequest: (req, s) =>
        s.fail(req, 'GenericError', "Could not open 'https://alice:hunter2@example.com/d': Permission denied"),
    });
    const err = await caught(qmp.executeRaw('blockdev-add', {}));
    expect((err as QmpError).desc).toBe("Could not open 'https://alice:<redacted>@example.com/d': Permission denied");
    expect(JSON.stringify(err)).not.toContain('hunter2');
  });

  it('redacts the value of secret-bearing {name, value} pairs (qom-list-get)', async () => {
    const taps: TapEntry[] = [];
    const { qmp } = await setup(
      {
        onRequest: (req, s) =>
          s.reply(req, [
            {
              properties: [
                { name: 'data', type: 'string', value: 'hunter2' },
                { name: 'format', value: 'raw' },
              ],
            },
          ]),
      },
      { tap: (t) => taps.push(t) },
    );
    await qmp.executeRaw('qom-list-get', { paths: ['/objects/sec0'] });
    expect(JSON.stringify(taps)).not.toContain('hunter2');
    expect(JSON.stringify(taps)).toContain('"raw"');
  });

  it('an async predicate is refused (a promise is always truthy), never an unhandled rejection', async () => {
    const { server, qmp } = await setup();
    const w = qmp.waitForEvent('STOP', (async () => Promise.reject(new Error('async predicate'))) as never);
    server.send(event('STOP'));
    const err = await caught(w);
    expect((err as QmpUsageError).code).toBe('bad-option');
    await settle();
    expect(escaped).toEqual([]);
  });

  it('numbers JSON would change are refused with their path: NaN, and integers beyond 2^53 given as numbers', async () => {
    const { server, qmp } = await setup();
    const big = await caught(qmp.execute('block_resize', { 'node-name': 'n', size: 2 ** 60 }));
    expect(big).toBeInstanceOf(QmpValidationError);
    expect((big as Error).message).toMatch(
      /\$\.size: 1152921504606847000 is beyond 2\^53 as a number and would be sent rounded: pass a bigint/,
    );
    const nan = await caught(qmp.execute('block_resize', { 'node-name': 'n', size: NaN }));
    expect((nan as Error).message).toMatch(/\$\.size: NaN is not a JSON number/);
    await settle();
    expect(server.calls).toEqual([]);
    await qmp.execute('block_resize', { 'node-name': 'n', size: 2n ** 60n });
    expect(server.calls[0].raw).toContain('"size":1152921504606846976');
  });

  it('writes bigints as integers even with a BigInt.prototype.toJSON polyfill installed', async () => {
    const proto = BigInt.prototype as { toJSON?: () => string };
    proto.toJSON = function (this: bigint) {
      return this.toString();
    };
    try {
      const { server, qmp } = await setup();
      await qmp.execute('block_resize', { 'node-name': 'n', size: 2n ** 62n });
      expect(server.calls[0].raw).toContain('"size":4611686018427387904');
    } finally {
      delete proto.toJSON;
    }
  });

  it('reads Uint8Array chunks as bytes, and keeps message order when a stream answers from inside write()', async () => {
    const { connect } = await import('../runtime/qmp/client.js');
    const { Duplex } = await import('node:stream');
    const enc = new TextEncoder();
    const peer: InstanceType<typeof Duplex> = new Duplex({
      objectMode: true,
      read() {},
      write(chunk: Buffer, _enc, done) {
        const req = JSON.parse(chunk.toString()) as { id: number; execute: string };
        // An event and the reply, pushed synchronously from inside write().
        peer.push(
          enc.encode(
            `{"event": "C", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}\r\n{"return": {}, "id": ${req.id}}\r\n`,
          ),
        );
        done();
      },
    });
    peer.push(
      enc.encode(line({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: [] } })),
    );
    const qmp = await connect({ stream: peer }, {}, { connectTimeout: 1000, timeout: 1000 });
    const order: string[] = [];
    const replied: Promise<unknown>[] = [];
    qmp.onAny((e) => {
      order.push(e.event);
      if (e.event === 'A') replied.push(qmp.executeRaw('x-poke'));
    });
    const ab = enc.encode(
      '{"event": "A", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}\r\n{"event": "B", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}\r\n',
    );
    // Held while connecting (with the C that answered qmp_capabilities), then delivered in order.
    peer.push(ab);
    await until(() => order.length === 4);
    expect(order).toEqual(['C', 'A', 'B', 'C']);
    // After connecting: the chunk is decoded to its end before what the listener's write brought.
    peer.push(ab);
    await until(() => order.length === 7);
    expect(order.slice(4)).toEqual(['A', 'B', 'C']);
    expect(await Promise.all(replied)).toEqual([{}, {}]);
    expect(problems(qmp)).toEqual([]);
    await qmp.close();
  });

  it('the cmd facade behaves as an object: toString, hasOwnProperty, keys, inspect', async () => {
    const { qmp } = await setup();
    const cmd = qmp.cmd as unknown as Record<string, unknown>;
    expect(String(cmd)).toBe('[object Object]');
    expect(Object.prototype.hasOwnProperty.call(cmd, 'queryStatus')).toBe(true);
    expect('queryStatus' in cmd).toBe(true);
    expect(Object.keys(cmd)).toContain('blockdevAdd');
    expect(inspect(cmd)).toMatch(/QmpMethods \{ \d+ methods \}/);
    expect(() => Object.freeze(cmd)).toThrow(TypeError);
    expect(Object.keys(cmd).length).toBeGreaterThan(200);
  });

  it('refuses a maxMessageBytes no JavaScript string could hold, and targets with unknown keys', async () => {
    expect(((await caught(open(new FakeQmp(), { maxMessageBytes: 2 ** 30 }))) as QmpUsageError).code).toBe(
      'bad-option',
    );
    const { connect } = await import('../runtime/qmp/client.js');
    const err = await caught(connect({ host: '127.0.0.1', port: 1, tls: true } as never, {}));
    expect((err as QmpUsageError).code).toBe('bad-option');
    expect((err as Error).message).toMatch(/unknown 'tls'/);
  });

  it('a rejection value whose inspect throws is still reported', async () => {
    const { server, qmp } = await setup();
    const evil = {
      [inspect.custom]: () => {
        throw new Error('no');
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-misused-promises, @typescript-eslint/prefer-promise-reject-errors -- what is tested
    qmp.on('STOP', async () => Promise.reject(evil));
    server.send(event('STOP'));
    await until(() => problems(qmp).length === 1);
    expect(problems(qmp)[0].message).toMatch(/cannot be shown/);
    expect(escaped).toEqual([]);
  });
});

describe('memory held for calls given up on', () => {
  it('a timed-out call QEMU has not answered holds neither its text nor its arguments', async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { connect } = await import('../runtime/qmp/client.js');
    const { Duplex } = await import('node:stream');
    // A peer that answers the handshake and swallows everything else (keeping nothing).
    const peer = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, done) {
        if (chunk.length < 200 && chunk.toString().includes('qmp_capabilities'))
          peer.push(`{"return": {}, "id": ${/"id":(\d+)/.exec(chunk.toString())![1]}}\r\n`);
        done();
      },
    });
    peer.push(
      line({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: ['oob'] } }),
    );
    const qmp = await connect(
      { stream: peer },
      { schema: typed.schema, table: typed.table },
      { maxRequestBytes: 4 << 20, maxInFlight: Infinity },
    );
    gc();
    const before = process.memoryUsage().heapUsed;
    const errors: unknown[] = [];
    for (let i = 0; i < 40; i++)
      errors.push(await caught(qmp.executeRaw('x-big', { blob: `${i}`.repeat(1 << 20) }, { timeout: 1 })));
    expect(qmp.stats.outstanding).toBe(40);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // 40 requests of 1 MiB: held as text and arguments that would be 80+ MiB.
    expect(grown).toBeLessThan(16 * 1024 * 1024);
    expect(errors.every((e) => e instanceof QmpTimeoutError)).toBe(true);
    await qmp.close();
  });
});
