/**
 * The QMP client over an in-memory Duplex, against a scripted fake QMP server:
 * handshake, framing of replies and events, id correlation, flow control,
 * timeouts and cancellation, disconnects, events, validation, 64-bit
 * integers, the tap and its redaction, and the `cmd` facade. Real-QEMU
 * behaviour is covered by qmp-e2e.test.ts; this file stays fast.
 */
import { describe, expect, it, vi } from 'vitest';
import { connect, type ClientOptions, type TapEntry } from '../runtime/qmp/client.js';
import {
  CallbackError,
  ConnectionError,
  ProtocolError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
} from '../runtime/errors.js';
import type { JsonObject } from '../runtime/wire/framing.js';
import type { JsonValue } from '../runtime/wire/json.js';
import {
  caught,
  event,
  FakeQmp,
  holding,
  opened,
  typed,
  type FakeOptions,
  line,
  open,
  problems,
  replyText,
  settle,
  setup,
  slowly,
  until,
} from './support/fake-qmp.js';

// Everything here takes milliseconds: a regression that hangs should fail fast.
vi.setConfig({ testTimeout: 3000 });

// -- handshake ------------------------------------------------------------

describe('handshake', () => {
  it('parses the greeting and negotiates oob when offered', async () => {
    const { server, qmp } = await setup();
    expect(qmp.greeting).toEqual({
      version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'v7.2.0' },
      capabilities: ['oob'],
    });
    expect(qmp.enabled).toEqual(['oob']);
    expect(server.requests.map((r) => r.msg)).toEqual([
      { execute: 'qmp_capabilities', arguments: { enable: ['oob'] }, id: expect.anything() },
    ]);
    expect(qmp.isOpen).toBe(true);
  });

  it('does not enable oob when not offered, or when oob: false', async () => {
    const plain = await setup({ capabilities: [] });
    expect(plain.qmp.enabled).toEqual([]);
    expect(plain.server.requests[0].msg).not.toHaveProperty('arguments');

    const refused = await setup({}, { oob: false });
    expect(refused.qmp.greeting.capabilities).toEqual(['oob']);
    expect(refused.qmp.enabled).toEqual([]);
    expect(refused.server.requests[0].msg).not.toHaveProperty('arguments');
  });

  it('delivers events sent before the greeting and before the capabilities reply, in order, after connecting', async () => {
    const server = new FakeQmp({
      greet: false,
      onCapabilities: (req, s) => {
        s.send(event('RESUME'));
        // The reply and an event right behind it in one chunk.
        s.send(line(replyText(req)) + line(event('X_AFTER_REPLY', { n: 3 })));
      },
    });
    server.send(event('STOP'));
    server.greet();
    const qmp = await open(server);
    const seen: string[] = [];
    qmp.onAny((e) => seen.push(e.event));
    const stops = qmp.events('STOP');
    server.send(event('SHUTDOWN', { guest: true, reason: 'host-qmp-quit' }));
    await until(() => seen.length === 4, 'four events');
    expect(seen).toEqual(['STOP', 'RESUME', 'X_AFTER_REPLY', 'SHUTDOWN']);
    const first = await stops.next();
    expect(first.value?.event).toBe('STOP');
  });

  it('fails fast with a protocol error when the peer sends garbage instead of a greeting', async () => {
    const server = new FakeQmp({ greet: false });
    server.send('SSH-2.0-OpenSSH_9.6\r\n');
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 5000 }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('protocol');
    expect((err as Error).message).toMatch(/not a QMP peer/);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(server.stream.destroyed).toBe(true);
  });

  it('fails fast when the first message is JSON but not a greeting, or a malformed greeting', async () => {
    for (const first of [{ return: {} }, { QMP: { capabilities: [] } }] as JsonObject[]) {
      const server = new FakeQmp({ greet: false });
      server.send(first);
      const started = Date.now();
      const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 5000 }));
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe('protocol');
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  it("fails with 'greeting-timeout' within connectTimeout when no greeting comes", async () => {
    const server = new FakeQmp({ greet: false });
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 60 }));
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('greeting-timeout');
    expect(elapsed).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBeLessThan(500);
    expect(server.stream.destroyed).toBe(true);
  });

  it('fails with a ConnectionError within connectTimeout when qmp_capabilities is never answered', async () => {
    const server = new FakeQmp({ onCapabilities: () => undefined });
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 60 }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('handshake-failed');
    expect(Date.now() - started).toBeLessThan(500);
    expect(server.stream.destroyed).toBe(true);
  });

  it('fails with a ConnectionError when QEMU refuses qmp_capabilities', async () => {
    const server = new FakeQmp({
      onCapabilities: (req, s) => s.fail(req, 'GenericError', "Parameter 'enable' is unexpected"),
    });
    const err = await caught(connect({ stream: server.stream }, typed));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('handshake-failed');
    expect((err as Error).cause).toBeInstanceOf(QmpError);
  });

  it('is aborted by its AbortSignal while waiting for the greeting, and when already aborted', async () => {
    const server = new FakeQmp({ greet: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user gave up')), 20);
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 5000, signal: ac.signal }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/aborted/);
    expect(((err as Error).cause as Error).message).toBe('user gave up');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(server.stream.destroyed).toBe(true);

    const again = new FakeQmp();
    const err2 = await caught(connect({ stream: again.stream }, typed, { signal: AbortSignal.abort() }));
    expect(err2).toBeInstanceOf(ConnectionError);
    expect(again.requests).toEqual([]);
  });

  it('is aborted by its AbortSignal while waiting for the capabilities reply', async () => {
    const server = new FakeQmp({ onCapabilities: () => undefined });
    const ac = new AbortController();
    void until(() => server.requests.length === 1).then(() => ac.abort(new Error('stop')));
    const started = Date.now();
    const err = await caught(connect({ stream: server.stream }, typed, { connectTimeout: 5000, signal: ac.signal }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/aborted/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects connect with ConnectionError closed when the peer hangs up before the greeting', async () => {
    const server = new FakeQmp({ greet: false });
    server.end();
    const err = await caught(connect({ stream: server.stream }, typed));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('closed');
  });
});

// -- out of band ----------------------------------------------------------

describe('out-of-band execution', () => {
  it('refuses executeOob for a command that does not allow it, sending nothing', async () => {
    const { server, qmp } = await setup();
    const err = await caught(qmp.executeOob('query-status'));
    expect(err).toBeInstanceOf(QmpUsageError);
    expect((err as Error).message).toMatch(/does not allow out-of-band/);
    expect(server.calls).toEqual([]);
  });

  it('refuses executeOob when oob is not enabled (not offered, or oob: false)', async () => {
    for (const [fake, options] of [
      [{ capabilities: [] }, {}],
      [{}, { oob: false }],
    ] as [FakeOptions, ClientOptions][]) {
      const { server, qmp } = await setup(fake, options);
      const err = await caught(qmp.executeOob('query-yank'));
      expect(err).toBeInstanceOf(QmpUsageError);
      expect((err as Error).message).toMatch(/'oob' capability/);
      expect(server.calls).toEqual([]);
    }
  });

  it('sends exec-oob past a busy in-band command and matches out-of-order replies by id', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: 1 });
    const order: string[] = [];
    const busy = qmp.execute('query-status').then((r) => (order.push('in-band'), r));
    const queued = qmp.execute('query-name').then((r) => (order.push('queued'), r));
    const oob1 = qmp.executeOob('query-yank').then((r) => (order.push('oob1'), r));
    const oob2 = qmp.executeOob('yank', { instances: [{ type: 'migration' }] }).then((r) => (order.push('oob2'), r));
    await until(() => h.held.length === 3, 'three requests');
    // maxInFlight 1 holds back the second in-band command, not the oob ones.
    expect(h.held.map((r) => [r.command, r.oob])).toEqual([
      ['query-status', false],
      ['query-yank', true],
      ['yank', true],
    ]);
    expect(h.held[1].msg).toEqual({ 'exec-oob': 'query-yank', id: h.held[1].id });
    // Answered in reverse order.
    server.reply(h.held[2], {});
    server.reply(h.held[1], [{ type: 'block-node', 'node-name': 'n0' }]);
    expect(await oob1).toEqual([{ type: 'block-node', 'node-name': 'n0' }]);
    await oob2;
    server.reply(h.held[0], { status: 'running', singlestep: false, running: true });
    await until(() => h.held.length === 4, 'the queued request');
    server.reply(h.held[3], { name: 'vm0' });
    expect(await busy).toEqual({ status: 'running', singlestep: false, running: true });
    expect(await queued).toEqual({ name: 'vm0' });
    expect(order).toEqual(['oob2', 'oob1', 'in-band', 'queued']);
  });
});

// -- framing and correlation ----------------------------------------------

describe('replies and framing', () => {
  it('reads a reply and an event split byte by byte, multi-byte characters included', async () => {
    const { qmp } = await setup({
      onRequest: (req, s) => {
        s.answered(req);
        s.sendChunks(line(event('X_NOTE', { text: 'grüße 🚀' })) + line(replyText(req, { name: 'vm-é🚀' })), 1);
      },
    });
    const notes: JsonValue[] = [];
    qmp.onAny((e) => notes.push(e.data));
    expect(await qmp.execute('query-name')).toEqual({ name: 'vm-é🚀' });
    expect(notes).toEqual([{ text: 'grüße 🚀' }]);
    expect(problems(qmp)).toEqual([]);
  });

  it('reads several replies, events and garbage merged in one chunk', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const seen: string[] = [];
    qmp.onAny((e) => seen.push(e.event));
    const a = qmp.execute('query-name');
    const b = qmp.execute('query-status');
    const c = qmp.executeRaw('x-unknown');
    await until(() => h.held.length === 3);
    h.held.forEach((r) => server.answered(r));
    server.send(
      line(event('STOP')) +
        line(replyText(h.held[0], { name: 'a' })) +
        'this is not json\r\n' +
        line(replyText(h.held[1], { status: 'paused', singlestep: false, running: false })) +
        line(event('RESUME')) +
        line({
          error: { class: 'CommandNotFound', desc: 'The command x-unknown has not been found' },
          id: h.held[2].id ?? null,
        }),
    );
    expect(await a).toEqual({ name: 'a' });
    expect(await b).toMatchObject({ status: 'paused' });
    const err = await caught(c);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).class).toBe('CommandNotFound');
    expect((err as QmpError).command).toBe('x-unknown');
    expect((err as QmpError).id).toBe(h.held[2].id);
    expect(seen).toEqual(['STOP', 'RESUME']);
    expect(problems(qmp)).toHaveLength(1);
    expect(problems(qmp)[0].message).toMatch(/invalid JSON/);
  });

  it('counts a reply with an unknown id as a protocol error and goes on', async () => {
    const { qmp } = await setup({
      onRequest: (req, s) => {
        s.send({ return: { name: 'stray' }, id: 9999 });
        s.reply(req, { name: 'mine' });
      },
    });
    expect(await qmp.execute('query-name')).toEqual({ name: 'mine' });
    expect(problems(qmp)).toHaveLength(1);
    expect(problems(qmp)[0]).toBeInstanceOf(ProtocolError);
    expect(problems(qmp)[0].code).toBe('unmatched-reply');
    expect(problems(qmp)[0].message).toMatch(/no request \(id 9999\)/);
    expect(await qmp.execute('query-name')).toEqual({ name: 'mine' });
    expect(problems(qmp)).toHaveLength(2);
  });

  it("rejects the oldest in-flight call with QmpError on a reply without id (QEMU's parse error)", async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const first = qmp.execute('query-name');
    const second = qmp.execute('query-status');
    await until(() => h.held.length === 2);
    server.answered(h.held[0]);
    server.send({ error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'tru'" } });
    server.reply(h.held[1], { status: 'running', singlestep: false, running: true });
    const err = await caught(first);
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).command).toBe('query-name');
    expect((err as QmpError).id).toBeUndefined();
    expect((err as QmpError).desc).toMatch(/could not read the request: JSON parse error/);
    expect(await second).toMatchObject({ status: 'running' });
    expect(problems(qmp)).toEqual([]);
  });

  it('rejects the oldest call when its reply exceeds maxMessageBytes, and goes on', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxMessageBytes: 300 });
    const big = qmp.execute('query-name');
    const next = qmp.execute('query-name');
    await until(() => h.held.length === 2);
    server.answered(h.held[0]);
    // The oversized reply and the next one in one chunk.
    server.send(line(replyText(h.held[0], { name: 'x'.repeat(2000) })) + line(replyText(h.held[1], { name: 'small' })));
    const err = await caught(big);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('oversized');
    expect((err as Error).message).toMatch(/query-name: the reply exceeded 300 bytes/);
    server.answered(h.held[1]);
    expect(await next).toEqual({ name: 'small' });
    const after = qmp.execute('query-name');
    await until(() => h.held.length === 3);
    server.reply(h.held[2], { name: 'after' });
    expect(await after).toEqual({ name: 'after' });
    expect(qmp.isOpen).toBe(true);
  });

  it('never has more than maxInFlight (8) requests unanswered, and resolves 20 calls in order', async () => {
    const { server, qmp } = await setup({ onRequest: slowly() });
    const resolved: number[] = [];
    const calls = Array.from({ length: 20 }, (_, i) => qmp.execute('query-name').then((r) => (resolved.push(i), r)));
    // Right after issuing them, only 8 have gone out.
    expect(server.calls).toHaveLength(8);
    const results = await Promise.all(calls);
    expect(server.calls).toHaveLength(20);
    expect(server.maxUnanswered).toBe(8);
    expect(resolved).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(results.map((r) => r.name)).toEqual(server.calls.map((r) => `vm${String(r.id)}`));
  });

  it('honours a smaller maxInFlight, and oob calls do not count against it', async () => {
    const { server, qmp } = await setup({ onRequest: slowly() }, { maxInFlight: 2 });
    const calls: Promise<unknown>[] = Array.from({ length: 10 }, () => qmp.execute('query-name'));
    calls.push(qmp.executeOob('query-yank'), qmp.executeOob('query-yank'));
    expect(server.calls.map((r) => r.command)).toEqual(['query-name', 'query-name', 'query-yank', 'query-yank']);
    await Promise.all(calls);
    expect(server.calls).toHaveLength(12);
    expect(server.maxUnanswered).toBe(2);
  });
});

// -- timeouts and cancellation ---------------------------------------------

describe('timeouts and AbortSignal', () => {
  it('rejects with QmpTimeoutError, drops the late reply, counts it, and the next call works', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const started = Date.now();
    const err = await caught(qmp.execute('query-name', { timeout: 30 }));
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).command).toBe('query-name');
    expect((err as QmpTimeoutError).timeoutMs).toBe(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(qmp.stats.lateReplies).toBe(0);
    server.reply(h.held[0], { name: 'late' });
    await until(() => qmp.stats.lateReplies === 1, 'the late reply');
    const next = qmp.execute('query-name');
    await until(() => h.held.length === 2);
    server.reply(h.held[1], { name: 'on time' });
    expect(await next).toEqual({ name: 'on time' });
    expect(qmp.stats.lateReplies).toBe(1);
    expect(problems(qmp)).toEqual([]);
  });

  it("uses the client's default timeout, and 0 waits forever", async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { timeout: 20 });
    expect(await caught(qmp.execute('query-name'))).toBeInstanceOf(QmpTimeoutError);
    let done = false;
    const forever = qmp.execute('query-name', { timeout: 0 }).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    server.reply(h.held[1], { name: 'finally' });
    expect(await forever).toEqual({ name: 'finally' });
  });

  it('rejects a sent call with QmpAbortError when its signal fires; the late reply is dropped', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const ac = new AbortController();
    const call = qmp.execute('query-name', { signal: ac.signal });
    await until(() => h.held.length === 1);
    ac.abort(new Error('changed my mind'));
    const err = await caught(call);
    expect(err).toBeInstanceOf(QmpAbortError);
    expect((err as QmpAbortError).reason).toEqual(new Error('changed my mind'));
    server.reply(h.held[0]);
    await until(() => qmp.stats.lateReplies === 1);
    // An already-aborted signal rejects at once and sends nothing.
    expect(await caught(qmp.execute('query-name', { signal: AbortSignal.abort() }))).toBeInstanceOf(QmpAbortError);
    await settle();
    expect(server.calls).toHaveLength(1);
  });

  it('never sends a call aborted while still in the local queue', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: 1 });
    const first = qmp.execute('query-status');
    const ac = new AbortController();
    const queued = qmp.execute('query-name', { signal: ac.signal });
    const third = qmp.execute('query-uuid');
    await until(() => h.held.length === 1);
    ac.abort();
    expect(await caught(queued)).toBeInstanceOf(QmpAbortError);
    server.reply(h.held[0], { status: 'running', singlestep: false, running: true });
    await first;
    await until(() => h.held.length === 2);
    server.reply(h.held[1], { UUID: '00000000-0000-0000-0000-000000000000' });
    await third;
    await settle();
    expect(server.calls.map((r) => r.command)).toEqual(['query-status', 'query-uuid']);
    expect(qmp.stats.lateReplies).toBe(0);
  });

  it('a call timing out in the local queue is never sent either', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: 1 });
    const first = qmp.execute('query-status');
    expect(await caught(qmp.execute('query-name', { timeout: 20 }))).toBeInstanceOf(QmpTimeoutError);
    server.reply(h.held[0], { status: 'running', singlestep: false, running: true });
    await first;
    await settle();
    expect(server.calls.map((r) => r.command)).toEqual(['query-status']);
  });
});

// -- disconnects -------------------------------------------------------------

describe('disconnect', () => {
  it('rejects pending and queued calls, ends iterators, rejects waiters, resolves closed, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => void unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      const h = holding();
      const { server, qmp } = await setup({ onRequest: h.onRequest }, { maxInFlight: 2 });
      const calls = [
        qmp.execute('query-name'),
        qmp.execute('query-status'),
        qmp.execute('query-uuid'),
        qmp.cmd.queryKvm(),
      ];
      const timedOut = qmp.execute('query-name', { timeout: 5 });
      expect(await caught(timedOut)).toBeInstanceOf(QmpTimeoutError);
      const iterator = qmp.events();
      const nextEvent = iterator.next();
      const waiter = qmp.waitForEvent('SHUTDOWN');
      let closed = false;
      void qmp.closed.then(() => (closed = true));
      await until(() => h.held.length === 2);
      expect(closed).toBe(false);
      server.end();
      const errors = await Promise.all(calls.map(caught));
      for (const e of errors) {
        expect(e).toBeInstanceOf(ConnectionError);
        expect((e as ConnectionError).code).toBe('closed');
      }
      expect(await nextEvent).toEqual({ value: undefined, done: true });
      const waitErr = await caught(waiter);
      expect(waitErr).toBeInstanceOf(ConnectionError);
      await qmp.closed;
      expect(closed).toBe(true);
      expect(qmp.isOpen).toBe(false);
      // Later calls, iterators and waiters fail or end at once.
      const after = await caught(qmp.execute('query-name'));
      expect((after as ConnectionError).code).toBe('closed');
      expect(await qmp.events().next()).toEqual({ value: undefined, done: true });
      expect(await caught(qmp.waitForEvent('STOP'))).toBeInstanceOf(ConnectionError);
      // Only the two in flight were ever sent.
      expect(server.calls).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('close() rejects pending calls, resolves closed and destroys the stream', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = qmp.execute('query-name');
    await until(() => h.held.length === 1);
    await qmp.close();
    const err = await caught(call);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('closed');
    expect((err as Error).message).toMatch(/closed by the client/);
    expect(server.stream.destroyed).toBe(true);
    await qmp.close(); // twice is fine
  });

  it('treats a stream error as a disconnect', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    const call = qmp.execute('query-name');
    await until(() => h.held.length === 1);
    server.stream.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    const err = await caught(call);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('closed');
    await qmp.closed;
  });
});

// -- events ------------------------------------------------------------------

describe('events', () => {
  it('on() delivers events of its name until disposed', async () => {
    const { server, qmp } = await setup();
    const stops: number[] = [];
    const sub = qmp.on('STOP', (e) => stops.push(e.timestamp.seconds));
    const all: string[] = [];
    qmp.onAny((e) => all.push(e.event));
    const first = event('STOP');
    server.send(first);
    server.send(event('RESUME'));
    await until(() => all.length === 2);
    expect(stops).toEqual([(first.timestamp as { seconds: number }).seconds]);
    sub.dispose();
    server.send(event('STOP'));
    await until(() => all.length === 3);
    expect(stops).toHaveLength(1);
  });

  it('onAny() sees events this version does not know, with their data', async () => {
    const { server, qmp } = await setup();
    const seen: { event: string; data: JsonValue }[] = [];
    qmp.onAny((e) => seen.push({ event: e.event, data: e.data }));
    server.send(event('X_FUTURE_EVENT', { answer: 42 }));
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ event: 'X_FUTURE_EVENT', data: { answer: 42 } }]);
  });

  it('a throwing listener breaks neither other listeners nor the messages after it', async () => {
    const { qmp } = await setup({
      onRequest: (req, s) => {
        s.answered(req);
        s.send(line(event('STOP')) + line(replyText(req, { name: 'ok' })));
      },
    });
    qmp.on('STOP', () => {
      throw new Error('listener bug');
    });
    const seen: string[] = [];
    qmp.onAny((e) => seen.push(e.event));
    expect(await qmp.execute('query-name')).toEqual({ name: 'ok' });
    expect(seen).toEqual(['STOP']);
    expect(problems(qmp).map((e) => (e.cause as Error).message)).toContain('listener bug');
  });

  it('events() yields in order, filters by name, and ends when the connection closes', async () => {
    const { server, qmp } = await setup();
    const all = qmp.events();
    const stops = qmp.events(['STOP', 'RESUME']);
    server.send(line(event('STOP')) + line(event('X_OTHER')) + line(event('RESUME')));
    server.send(event('STOP'));
    const names: string[] = [];
    const collected = (async () => {
      for await (const e of stops) names.push(e.event);
    })();
    const allNames: string[] = [];
    for await (const e of all) {
      allNames.push(e.event);
      if (allNames.length === 4) server.end();
    }
    await collected;
    expect(allNames).toEqual(['STOP', 'X_OTHER', 'RESUME', 'STOP']);
    expect(names).toEqual(['STOP', 'RESUME', 'STOP']);
  });

  it('keeps the newest bufferSize events for a slow consumer and counts the dropped ones', async () => {
    const { server, qmp } = await setup();
    const it = qmp.events('STOP', { bufferSize: 2 });
    let n = 0;
    qmp.on('STOP', () => n++);
    const sent = Array.from({ length: 5 }, () => event('STOP'));
    server.send(sent.map(line).join(''));
    await until(() => n === 5);
    expect(it.dropped).toBe(3);
    const a = await it.next();
    const b = await it.next();
    expect([a.value?.timestamp, b.value?.timestamp]).toEqual([sent[3].timestamp, sent[4].timestamp]);
    // Nothing else is buffered: the next event is the next one sent.
    const later = event('STOP');
    server.send(later);
    expect((await it.next()).value?.timestamp).toEqual(later.timestamp);
    expect(it.dropped).toBe(3);
    await it.return?.();
  });

  it('waitForEvent() armed before the command sees the event that comes with its reply, matching the predicate', async () => {
    const { qmp } = await setup({
      onRequest: (req, s) => {
        s.answered(req);
        s.send(
          line(event('JOB_STATUS_CHANGE', { id: 'j0', status: 'concluded' })) +
            line(event('JOB_STATUS_CHANGE', { id: 'j1', status: 'running' })) +
            line(event('JOB_STATUS_CHANGE', { id: 'j1', status: 'concluded' })) +
            line(replyText(req)),
        );
      },
    });
    const done = qmp.waitForEvent('JOB_STATUS_CHANGE', (e) => e.data.id === 'j1' && e.data.status === 'concluded', {
      timeout: 1000,
    });
    await qmp.execute('job-dismiss', { id: 'j1' });
    const e = await done;
    expect(e.data).toEqual({ id: 'j1', status: 'concluded' });
    // Armed after the fact, it waits for a new event.
    const late = qmp.waitForEvent('JOB_STATUS_CHANGE', undefined, { timeout: 30 });
    const err = await caught(late);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).sent).toBe(false);
  });

  it('waitForEvent() times out, and is cancelled by its signal', async () => {
    const { qmp } = await setup();
    const started = Date.now();
    const err = await caught(qmp.waitForEvent('STOP', undefined, { timeout: 30 }));
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).command).toBe('event STOP');
    expect((err as Error).message).toMatch(/no STOP event within 30 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const ac = new AbortController();
    const w = qmp.waitForEvent('STOP', undefined, { signal: ac.signal });
    ac.abort();
    expect(await caught(w)).toBeInstanceOf(QmpAbortError);
  });

  it('waitForEvent() rejects when its predicate throws', async () => {
    const { server, qmp } = await setup();
    const w = qmp.waitForEvent('STOP', () => {
      throw new Error('bad predicate');
    });
    server.send(event('STOP'));
    const err = await caught(w);
    expect(err).toBeInstanceOf(CallbackError);
    expect(((err as CallbackError).cause as Error).message).toBe('bad predicate');
  });
});

// -- validation ----------------------------------------------------------------

describe('validation', () => {
  it('rejects bad arguments with QmpValidationError before anything is written', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup({}, { tap: (e) => taps.push(e) });
    const bytes = server.bytesIn;
    const tapped = taps.length;
    // @ts-expect-error node-name must be a string
    const err = await caught(qmp.execute('blockdev-del', { 'node-name': 5 }));
    expect(err).toBeInstanceOf(QmpValidationError);
    expect((err as QmpValidationError).command).toBe('blockdev-del');
    expect((err as QmpValidationError).problems[0]).toMatchObject({ path: '$.node-name' });
    // @ts-expect-error a required member is missing
    expect(await caught(qmp.cmd.blockdevDel({}))).toBeInstanceOf(QmpValidationError);
    await settle();
    expect(server.bytesIn).toBe(bytes);
    expect(server.calls).toEqual([]);
    expect(taps).toHaveLength(tapped);
  });

  it('validate: false per call and per client bypasses it; executeRaw sends anything', async () => {
    const { server, qmp } = await setup({ onRequest: (req, s) => s.fail(req, 'GenericError', 'no') });
    // @ts-expect-error deliberately wrong
    await caught(qmp.execute('blockdev-del', { 'node-name': 5 }, { validate: false }));
    await caught(qmp.executeRaw('blockdev-del', { nonsense: true }));
    await caught(qmp.executeRaw('x-not-a-command', { a: [1, 'b'] }));
    expect(server.calls.map((r) => [r.command, r.arguments])).toEqual([
      ['blockdev-del', { 'node-name': 5 }],
      ['blockdev-del', { nonsense: true }],
      ['x-not-a-command', { a: [1, 'b'] }],
    ]);

    const lax = await setup({ onRequest: (req, s) => s.fail(req, 'GenericError', 'no') }, { validate: false });
    // @ts-expect-error deliberately wrong
    expect(await caught(lax.qmp.execute('blockdev-del', { 'node-name': 5 }))).toBeInstanceOf(QmpError);
    expect(lax.server.calls.map((r) => r.arguments)).toEqual([{ 'node-name': 5 }]);
    // ... and validate: true per call turns it back on.
    // @ts-expect-error deliberately wrong
    expect(await caught(lax.qmp.execute('blockdev-del', { 'node-name': 5 }, { validate: true }))).toBeInstanceOf(
      QmpValidationError,
    );
    expect(lax.server.calls).toHaveLength(1);
  });

  it('rejects arguments that cannot be written as JSON without sending or losing a slot', async () => {
    const { server, qmp } = await setup({}, { maxInFlight: 1 });
    const circular: JsonObject = {};
    (circular as Record<string, unknown>).self = circular;
    const err = await caught(qmp.executeRaw('x-circular', circular));
    expect(err).toBeInstanceOf(QmpUsageError);
    expect(await qmp.execute('query-name', { timeout: 500 })).toEqual({});
    expect(server.calls.map((r) => r.command)).toEqual(['query-name']);
  });
});

// -- untyped client ----------------------------------------------------------------

describe('without schema and table', () => {
  it('sends any command unchecked, allows exec-oob for any command, and has an empty facade', async () => {
    const server = new FakeQmp();
    const qmp = await connect({ stream: server.stream }, {}, { connectTimeout: 1000 });
    opened.push(qmp);
    expect(await qmp.execute('blockdev-del', { 'node-name': 5 })).toEqual({});
    expect(await qmp.executeOob('query-status')).toEqual({});
    expect(server.calls.map((r) => r.msg)).toEqual([
      { execute: 'blockdev-del', arguments: { 'node-name': 5 }, id: expect.anything() },
      { 'exec-oob': 'query-status', id: expect.anything() },
    ]);
    expect(Object.keys(qmp.cmd)).toEqual([]);
    await qmp.close();
  });
});

// -- 64-bit integers -----------------------------------------------------------

describe('64-bit integers', () => {
  it('reads 4611686018427388416 in a reply as an exact bigint and writes a bigint argument as a plain literal', async () => {
    const { server, qmp } = await setup({
      onRequest: (req, s) => {
        s.answered(req);
        s.send(
          `{"return": [{"node-name": "big", "image": {"virtual-size": 4611686018427388416}}], "id": ${String(req.id)}}\r\n`,
        );
      },
    });
    const nodes = (await qmp.executeRaw('query-named-block-nodes')) as { image: { 'virtual-size': JsonValue } }[];
    expect(nodes[0].image['virtual-size']).toBe(4611686018427388416n);
    expect(nodes[0].image['virtual-size']).toBe(2n ** 62n + 512n);

    await qmp.execute('block_resize', { 'node-name': 'big', size: 2n ** 62n + 512n });
    const raw = server.calls[1].raw;
    expect(raw).toContain('"size":4611686018427388416');
    expect(raw).not.toMatch(/"4611686018427388416"|4611686018427388416n|e\+/);
    expect(server.calls[1].arguments).toEqual({ 'node-name': 'big', size: 4611686018427388416n });
  });
});

// -- tap and redaction ------------------------------------------------------

describe('tap', () => {
  it('sees every message in and out, in order', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup(
      {
        onRequest: (req, s) => {
          s.answered(req);
          s.send(line(event('STOP')) + line(replyText(req, { name: 'vm0' })));
        },
      },
      { tap: (e) => taps.push(e) },
    );
    await qmp.execute('query-name');
    await qmp.executeOob('query-yank');
    await settle();
    expect(taps.filter((t) => t.direction === 'in').map((t) => t.message)).toEqual(server.sent);
    expect(taps.filter((t) => t.direction === 'out').map((t) => t.message)).toEqual(server.requests.map((r) => r.msg));
    expect(taps.map((t) => `${t.direction}:${Object.keys(t.message)[0]}`)).toEqual([
      'in:QMP',
      'out:execute',
      'in:return',
      'out:execute',
      'in:event',
      'in:return',
      'out:exec-oob',
      'in:event',
      'in:return',
    ]);
  });

  it('redacts passwords, secret objects and password HMP lines in the tap and in QmpError.args, not on the wire', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup(
      { onRequest: (req, s) => s.fail(req, 'GenericError', 'refused') },
      { tap: (e) => taps.push(e) },
    );
    const errors = [
      await caught(qmp.execute('set_password', { protocol: 'vnc', password: 'hunter2' })),
      await caught(qmp.cmd.changeVncPassword({ password: 'hunter2' })),
      await caught(qmp.execute('object-add', { 'qom-type': 'secret', id: 'sec0', data: 'hunter2' })),
      await caught(qmp.hmp('change vnc password hunter2')),
      await caught(qmp.executeOob('query-yank')),
    ] as QmpError[];
    for (const e of errors) expect(e).toBeInstanceOf(QmpError);
    expect(errors.map((e) => e.args)).toEqual([
      { protocol: 'vnc', password: '<redacted>' },
      { password: '<redacted>' },
      { 'qom-type': 'secret', id: 'sec0', data: '<redacted>' },
      { 'command-line': '<redacted>' },
      undefined,
    ]);
    for (const e of errors) expect(e.message).not.toContain('hunter2');
    // The wire carries the real values.
    const wire = server.calls.slice(0, 4);
    expect(wire.every((r) => r.raw.includes('hunter2'))).toBe(true);
    expect(wire[0].arguments).toEqual({ protocol: 'vnc', password: 'hunter2' });
    // The tap does not, but shows everything else.
    const out = taps.filter((t) => t.direction === 'out' && t.message.execute !== 'qmp_capabilities');
    expect(out).toHaveLength(5);
    expect(JSON.stringify(taps)).not.toContain('hunter2');
    expect(out[2].message).toEqual({
      execute: 'object-add',
      arguments: { 'qom-type': 'secret', id: 'sec0', data: '<redacted>' },
      id: wire[2].id,
    });
  });

  it('redacts secrets in incoming messages too', async () => {
    const taps: TapEntry[] = [];
    const { server, qmp } = await setup({}, { tap: (e) => taps.push(e) });
    server.send(event('X_LEAKY', { password: 'hunter2', other: 'fine' }));
    await until(() => taps.some((t) => t.message.event === 'X_LEAKY'));
    expect(taps.find((t) => t.message.event === 'X_LEAKY')?.message.data).toEqual({
      password: '<redacted>',
      other: 'fine',
    });
    // Listeners get the real data.
    const got = qmp.waitForEvent('X_LEAKY' as never);
    server.send(event('X_LEAKY', { password: 'hunter2' }));
    expect(((await got) as { data: JsonValue }).data).toEqual({ password: 'hunter2' });
  });

  it('a throwing tap breaks neither the handshake nor calls; its errors are kept', async () => {
    const { qmp } = await setup(
      {},
      {
        tap: () => {
          throw new Error('tap bug');
        },
      },
    );
    expect(await qmp.execute('query-name')).toEqual({});
    // Those of the handshake are counted; those after it are reported too.
    expect(qmp.stats.errors).toBeGreaterThanOrEqual(4);
    expect(problems(qmp).length).toBeGreaterThanOrEqual(2);
    expect(
      problems(qmp).every(
        (e) => e instanceof CallbackError && e.callback === 'tap' && (e.cause as Error).message === 'tap bug',
      ),
    ).toBe(true);
  });

  it("a callback's error with no onError listener is a process warning, once per connection", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    const ours = (): Error[] =>
      warnings.filter((w) => (w as Error & { code?: string }).code === 'QAPI_TS_CALLBACK_ERROR');
    process.on('warning', onWarning);
    try {
      // The tap throws during the handshake, before any onError listener: warned, once.
      const { qmp } = await setup(
        {},
        {
          tap: () => {
            throw new Error('tap bug');
          },
        },
      );
      await qmp.execute('query-name');
      await settle();
      expect(ours()).toHaveLength(1);
      expect(ours()[0].message).toMatch(/tap bug.*no onError listener/);
      expect(qmp.stats.errors).toBeGreaterThanOrEqual(4);
      // With an onError listener (setup adds one), it gets them and nothing more is printed.
      const second = await setup();
      second.qmp.on('STOP', () => {
        throw new Error('listener bug');
      });
      second.server.send(event('STOP'));
      await second.qmp.execute('query-name');
      await settle();
      expect(problems(second.qmp)).toHaveLength(1);
      expect(ours()).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

// -- the cmd facade and parameters -----------------------------------------------

describe('cmd facade and call options', () => {
  it('cmd.queryStatus() sends query-status; cmd.blockdevDel(args) sends its arguments', async () => {
    const { server, qmp } = await setup({
      onRequest: (req, s) =>
        s.reply(req, req.command === 'query-status' ? { status: 'running', singlestep: false, running: true } : {}),
    });
    expect(await qmp.cmd.queryStatus()).toEqual({ status: 'running', singlestep: false, running: true });
    expect(await qmp.cmd.blockdevDel({ 'node-name': 'x' })).toEqual({});
    expect(server.calls.map((r) => r.msg)).toEqual([
      { execute: 'query-status', id: expect.anything() },
      { execute: 'blockdev-del', arguments: { 'node-name': 'x' }, id: expect.anything() },
    ]);
  });

  it('takes options as the only argument of a command without arguments', async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest });
    expect(await caught(qmp.execute('query-status', { timeout: 10 }))).toBeInstanceOf(QmpTimeoutError);
    expect(await caught(qmp.cmd.queryStatus({ timeout: 10 }))).toBeInstanceOf(QmpTimeoutError);
    const ac = new AbortController();
    const aborted = qmp.cmd.queryKvm({ signal: ac.signal });
    ac.abort();
    expect(await caught(aborted)).toBeInstanceOf(QmpAbortError);
    expect(server.calls.map((r) => r.msg)).toEqual([
      { execute: 'query-status', id: expect.anything() },
      { execute: 'query-status', id: expect.anything() },
      { execute: 'query-kvm', id: expect.anything() },
    ]);
    // Options after the arguments for a command that has some.
    expect(await caught(qmp.cmd.blockdevDel({ 'node-name': 'x' }, { timeout: 10 }))).toBeInstanceOf(QmpTimeoutError);
    expect(server.calls[3].arguments).toEqual({ 'node-name': 'x' });
  });

  it('hmp() sends human-monitor-command with the cpu index and resolves with its output', async () => {
    const { server, qmp } = await setup({ onRequest: (req, s) => s.reply(req, 'VM status: running\r\n') });
    expect(await qmp.hmp('info status', { cpuIndex: 0 })).toBe('VM status: running\r\n');
    expect(server.calls[0].msg).toEqual({
      execute: 'human-monitor-command',
      arguments: { 'command-line': 'info status', 'cpu-index': 0 },
      id: expect.anything(),
    });
  });

  it('uses fresh ids, so replies never cross', async () => {
    const { server, qmp } = await setup();
    await Promise.all([qmp.execute('query-name'), qmp.execute('query-name'), qmp.executeOob('query-yank')]);
    const ids = server.requests.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
