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
import { QmpTimeoutError, QmpUsageError } from '../runtime/errors.js';
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
