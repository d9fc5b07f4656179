/**
 * The guest-agent client against a scripted agent, for what a real qemu-ga
 * will not do on demand: not echo ids (older agents), answer a sync with an
 * id that is only nearly right, answer an earlier sync late.
 * qga-e2e.test.ts covers the real agent.
 */
import { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { schema, table, type QgaCommands, type QgaMethods } from '../generated/qga-7.2/index.js';
import { QgaClient, type AgentOptions } from '../runtime/qga/client.js';
import { ProtocolError, QmpTimeoutError, QmpUsageError } from '../runtime/errors.js';
import { lazyDescriptor } from '../runtime/schema/descriptor.js';
import { validate } from '../runtime/schema/validate.js';
import { parseJson, stringifyJson, type JsonValue } from '../runtime/wire/json.js';

interface Written {
  command: string;
  id: JsonValue | undefined;
  args: { [k: string]: JsonValue } | undefined;
  /** The request began with a 0xFF byte. */
  flushed: boolean;
}

/** An agent in memory: `answer` is called for each request and may push replies (text lines). */
function fakeAgent(answer: (req: Written, push: (line: string | Buffer) => void) => void): {
  stream: Duplex;
  requests: Written[];
} {
  const requests: Written[] = [];
  let pending = Buffer.alloc(0);
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      pending = Buffer.concat([pending, chunk]);
      // Requests are whole JSON objects, possibly after a 0xFF.
      for (;;) {
        const flushed = pending[0] === 0xff;
        const text = pending.subarray(flushed ? 1 : 0).toString();
        const end = text.indexOf('}') < 0 ? -1 : findEnd(text);
        if (end < 0) break;
        const msg = parseJson(text.slice(0, end)) as unknown as { execute: string; id?: JsonValue; arguments?: never };
        pending = Buffer.from(text.slice(end));
        const req = { command: msg.execute, id: msg.id, args: msg.arguments, flushed };
        requests.push(req);
        setImmediate(() => answer(req, (line) => stream.push(Buffer.concat([toBytes(line), NL]))));
      }
      done();
    },
  });
  return { stream, requests };
}

const NL = Buffer.from('\n');
const toBytes = (line: string | Buffer): Buffer => (typeof line === 'string' ? Buffer.from(line) : line);

/** The end of the first balanced JSON object in `text` (no braces inside strings in these tests). */
function findEnd(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

async function open(stream: Duplex, options: AgentOptions = {}): Promise<QgaClient<QgaCommands, QgaMethods>> {
  const client = new QgaClient<QgaCommands, QgaMethods>(stream, { schema, table }, options, 'fake');
  await client.waitUntilReady({ timeout: 2000 });
  return client;
}

const syncReply = (req: Written): string => `\u00ff{"return": ${String(req.args!.id)}}`;

describe('the guest-agent client, scripted', () => {
  it('syncs with 0xFF + guest-sync-delimited and a random id beyond 2^53; an agent that does not echo ids is answered in order', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      push(
        req.command === 'guest-info' ? '{"return": {"version": "2.5", "supported_commands": []}}' : '{"return": {}}',
      );
    });
    const qga = await open(agent.stream);
    const sync = agent.requests[0];
    expect(sync.command).toBe('guest-sync-delimited');
    expect(sync.flushed).toBe(true);
    expect(typeof sync.args!.id).toBe('bigint');
    expect(sync.args!.id as bigint).toBeGreaterThan(2n ** 53n);
    expect(sync.args!.id as bigint).toBeLessThan(2n ** 63n);
    const [ping, info] = await Promise.all([qga.execute('guest-ping'), qga.cmd.guestInfo()]);
    expect(ping).toEqual({});
    expect(info.version).toBe('2.5');
    // One at a time: the second request was written only after the first reply.
    expect(agent.requests.map((r) => r.command)).toEqual(['guest-sync-delimited', 'guest-ping', 'guest-info']);
    await qga.close();
  });

  it('compares the sync id exactly: an id off by one, or rounded to a double, is not the reply', async () => {
    let answered = 0;
    const agent = fakeAgent((req, push) => {
      if (req.command !== 'guest-sync-delimited') return push('{"return": {}}');
      const id = req.args!.id as bigint;
      answered++;
      // First attempt: the id as a double would print it, then the id plus one; then, for the next attempt, the right one.
      if (answered === 1) {
        push(
          Buffer.from(
            `\u00ff{"return": ${Number(id)
              .toPrecision(17)
              .replace(/\.?0+$/, '')}}`,
            'latin1',
          ),
        );
        push(Buffer.from(`\u00ff{"return": ${id + 1n}}`, 'latin1'));
      } else push(Buffer.from(syncReply(req), 'latin1'));
    });
    const qga = await open(agent.stream);
    expect(answered).toBe(2);
    expect(qga.stats.staleMessages).toBe(2);
    expect(qga.stats.syncs).toBe(1);
    await qga.close();
  });

  it("an earlier attempt's late sync reply is dropped, not given to the command in flight", async () => {
    const syncs: Written[] = [];
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') {
        syncs.push(req);
        // The first attempt is answered only after the second one (an agent that was slow to start).
        if (syncs.length === 2) {
          push(Buffer.from(syncReply(syncs[0]), 'latin1'));
          push(Buffer.from(syncReply(syncs[1]), 'latin1'));
        }
        return;
      }
      push(`{"return": {"pid": 42}, "id": ${String(req.id)}}`);
    });
    const qga = await open(agent.stream);
    expect(syncs).toHaveLength(2);
    expect(await qga.execute('guest-exec', { path: '/bin/true' })).toEqual({ pid: 42 });
    expect(qga.stats.staleMessages).toBe(1);
    await qga.close();
  });

  it('per-command timeouts: the timeouts option over the defaults, a call option over both', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') push(Buffer.from(syncReply(req), 'latin1'));
      // guest-ping is never answered.
    });
    const qga = await open(agent.stream, { timeouts: { 'guest-ping': 40 } });
    const t0 = Date.now();
    const e = await qga.execute('guest-ping').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QmpTimeoutError);
    expect(e).toMatchObject({ timeoutMs: 40 });
    expect(Date.now() - t0).toBeLessThan(1000);
    await qga.close();
  });

  it('refuses a misspelt option with a suggestion, and shows no request in util.inspect', async () => {
    const agent = fakeAgent(() => undefined);
    expect(
      () => new QgaClient(agent.stream, { schema, table }, { timeuots: {} } as unknown as AgentOptions, 'fake'),
    ).toThrow(/unknown option 'timeuots' \(did you mean 'timeouts'\?\)/);
    expect(() => new QgaClient(agent.stream, { schema, table }, { timeouts: [] } as never, 'fake')).toThrow(
      QmpUsageError,
    );
    const qga = new QgaClient(agent.stream, { schema, table }, {}, 'fake');
    const call = qga.execute('guest-file-write', { handle: 1, 'buf-b64': 'c2VjcmV0' }).catch(() => undefined);
    expect(inspect(qga)).toBe(`QgaClient { peer: "fake", state: 'syncing', queued: 1 }`);
    await qga.close();
    await call;
  });

  it('calls without arguments take a short path that still refuses what the general one does', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      push(`{"return": {}, "id": ${String(req.id)}}`);
    });
    const qga = await open(agent.stream);
    // Required arguments missing: validation names them.
    await expect((qga.execute as (c: string) => Promise<unknown>)('guest-exec')).rejects.toThrow(/\$\.path/);
    // A command name QEMU's parser would refuse is never written.
    await expect(qga.executeRaw('guest-\ud800')).rejects.toMatchObject({ code: 'unsupported-string' });
    // Written as the general path writes it.
    await qga.execute('guest-ping');
    const last = agent.requests[agent.requests.length - 1];
    expect(last).toMatchObject({ command: 'guest-ping', args: undefined, flushed: false });
    expect(typeof last.id).toBe('number');
    await qga.close();
  });

  it('a call without arguments to a command the table says needs none never reads the descriptor', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      push(`{"return": {}, "id": ${String(req.id)}}`);
    });
    // Not JSON: reading it would throw.
    const unread = lazyDescriptor('not json');
    const qga = new QgaClient<QgaCommands, QgaMethods>(agent.stream, { schema: unread, table }, {}, 'fake');
    await qga.waitUntilReady({ timeout: 2000 });
    expect(await qga.execute('guest-ping')).toEqual({});
    // One with arguments is validated, and so reads it.
    await expect(qga.execute('guest-exec', { path: '/bin/true' })).rejects.toThrow(SyntaxError);
    await qga.close();
  });

  it('a lazy descriptor is an array in every way, and read-only', () => {
    const d = lazyDescriptor(JSON.stringify(schema));
    expect(Array.isArray(d)).toBe(true);
    expect(d.length).toBe(schema.length);
    expect(JSON.stringify(d)).toBe(JSON.stringify(schema));
    expect([...d].map((e) => e.name)).toEqual(schema.map((e) => e.name));
    expect(d.find((e) => e.name === 'guest-ping')).toEqual(schema.find((e) => e.name === 'guest-ping'));
    expect(Object.keys(d)).toHaveLength(schema.length);
    expect(() => ((d as unknown[])[0] = null)).toThrow(/read-only/);
    expect(() => (d as unknown[]).push(null)).toThrow(/read-only/);
    expect(validate(d, { command: 'guest-exec', direction: 'arguments' }, {})[0].path).toBe('$.path');
  });

  it('stringifies the sync id exactly (no rounding on the way out)', () => {
    expect(stringifyJson({ id: 2n ** 62n + 1n })).toBe(`{"id":${2n ** 62n + 1n}}`);
  });
});

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const order = (requests: Written[]): string[] => requests.map((r) => `${r.flushed ? '0xFF+' : ''}${r.command}`);

/** An agent that answers one request at a time, in order, like qemu-ga. */
function serialAgent(answer: (req: Written, push: (line: string | Buffer) => void) => Promise<void> | void): {
  stream: Duplex;
  requests: Written[];
} {
  let chain = Promise.resolve();
  return fakeAgent((req, push) => void (chain = chain.then(() => answer(req, push))));
}

describe('the guest-agent client, review regressions', () => {
  it('a power helper whose command fails before it is written leaves no unhandled rejection at close', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const agent = fakeAgent((req, push) => {
        if (req.command === 'guest-sync-delimited') push(Buffer.from(syncReply(req), 'latin1'));
        // Nothing else is answered: the agent is busy.
      });
      const qga = await open(agent.stream);
      const busy = qga.execute('guest-ping', { timeout: 0 }).catch(() => undefined);
      const qmp = { waitForEvent: () => Object.assign(new Promise<never>(() => undefined), { cancel() {} }) } as never;
      const ctl = new AbortController();
      const shutdown = qga.shutdown('powerdown', { qmp, signal: ctl.signal });
      ctl.abort(new Error('gave up'));
      await expect(shutdown).rejects.toMatchObject({ code: 'aborted' });
      await qga.close();
      await busy;
      await wait(50);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('stops writing syncs to a stuck agent once nobody waits', async () => {
    let syncs = 0;
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited' && ++syncs === 1) push(Buffer.from(syncReply(req), 'latin1'));
    });
    const qga = await open(agent.stream);
    await expect(qga.execute('guest-ping', { timeout: 50 })).rejects.toBeInstanceOf(QmpTimeoutError);
    await wait(400);
    const settled = syncs;
    await wait(1600);
    expect(syncs).toBe(settled);
    // The next command starts it again.
    const next = qga.execute('guest-ping', { timeout: 300 }).catch(() => undefined);
    await wait(50);
    expect(syncs).toBe(settled + 1);
    await next;
    await qga.close();
  });

  it('a request the agent could not read: the next command waits for the resync', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      if (req.command === 'guest-info') return push('{"error": {"class": "GenericError", "desc": "JSON parse error"}}');
      push(`{"return": {}, "id": ${String(req.id)}}`);
    });
    const qga = await open(agent.stream);
    await qga.execute('guest-ping');
    const info = qga.execute('guest-info').catch((e: unknown) => (e as Error).message);
    const ping = qga.execute('guest-ping');
    expect(await info).toMatch(/the agent could not read the request: JSON parse error/);
    expect(await ping).toEqual({});
    expect(order(agent.requests).slice(-3)).toEqual(['guest-info', '0xFF+guest-sync-delimited', 'guest-ping']);
    await qga.close();
  });

  it('an agent that does not echo ids: garbage as a reply fails that call, the next waits for the resync and gets its own reply', async () => {
    const agent = serialAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      if (req.command === 'guest-info') return push('{"return": oops}');
      push('{"return": 7}');
    });
    const qga = await open(agent.stream);
    const info = qga.execute('guest-info').catch((e: unknown) => e);
    const time = qga.execute('guest-get-time', { timeout: 0 });
    expect(await info).toBeInstanceOf(ProtocolError);
    expect(await time).toBe(7);
    expect(order(agent.requests).slice(-3)).toEqual(['guest-info', '0xFF+guest-sync-delimited', 'guest-get-time']);
    await qga.close();
  });

  it('an agent that does not echo ids: waitUntilReady while a command runs waits for its reply, then syncs', async () => {
    const agent = serialAgent(async (req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      await wait(50);
      push('{"return": {}}');
    });
    const qga = await open(agent.stream);
    const ping = qga.execute('guest-ping');
    await qga.waitUntilReady();
    expect(await ping).toEqual({});
    expect(qga.stats.staleMessages).toBe(0);
    expect(order(agent.requests)).toEqual(['0xFF+guest-sync-delimited', 'guest-ping', '0xFF+guest-sync-delimited']);
    await qga.close();
  });

  it("an agent that does not echo ids: a power command's refusal goes to it, not to the next command", async () => {
    const agent = serialAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      if (req.command === 'guest-shutdown')
        return push('{"error": {"class": "CommandNotFound", "desc": "Command guest-shutdown has been disabled"}}');
      push('{"return": {}}');
    });
    const qga = await open(agent.stream);
    const problems: Error[] = [];
    qga.onError((p) => problems.push(p));
    await qga.shutdown();
    expect(await qga.execute('guest-ping')).toEqual({});
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: 'command-disabled', command: 'guest-shutdown' });
    await qga.close();
  });

  it('what matches no call is shown without file contents, in the tap and in onError', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') {
        // What an earlier client left: the reply to its guest-file-read.
        push('{"return": {"count": 6, "buf-b64": "c2VjcmV0", "eof": true}, "id": 7}');
        return push(Buffer.from(syncReply(req), 'latin1'));
      }
      push('{"return": {"count": 6, "buf-b64": "c2VjcmV0", "eof": true}, "id": 12345}');
    });
    const taps: string[] = [];
    const qga = await open(agent.stream, {
      tap: (e) => void taps.push(stringifyJson(e.message)),
    });
    const problems: string[] = [];
    qga.onError((p) => problems.push(inspect(p)));
    await qga.execute('guest-ping', { timeout: 200 }).catch(() => undefined);
    expect(problems.length).toBeGreaterThan(0);
    expect([...taps, ...problems].join('\n')).not.toContain('c2VjcmV0');
    await qga.close();
  });

  it('a reply of the wrong shape to a helper is a ProtocolError, not a TypeError', async () => {
    const agent = fakeAgent((req, push) => {
      if (req.command === 'guest-sync-delimited') return push(Buffer.from(syncReply(req), 'latin1'));
      push(`{"return": null, "id": ${String(req.id)}}`);
    });
    const qga = await open(agent.stream, { validate: false });
    await expect(qga.exec('/bin/true')).rejects.toMatchObject({ code: 'unknown-shape' });
    await qga.close();
  });
});
