/**
 * A scripted QMP peer over an in-memory Duplex, and the helpers the client
 * tests share: connecting to it, waiting for conditions, catching rejections.
 */
import { Duplex } from 'node:stream';
import { afterEach } from 'vitest';
import { schema, table, type Client } from '../../generated/qemu-7.2/index.js';
import type { QmpCommands } from '../../generated/qemu-7.2/commands.js';
import type { QmpEvents } from '../../generated/qemu-7.2/events.js';
import type { QmpMethods } from '../../generated/qemu-7.2/methods.js';
import { connect, type ClientOptions, type ClientProblem, type VersionData } from '../../runtime/qmp/client.js';
import type { JsonObject } from '../../runtime/wire/framing.js';
import { parseJson, stringifyJson, type JsonValue } from '../../runtime/wire/json.js';

// -- the fake server ------------------------------------------------------

export interface Request {
  /** The command, from 'execute' or 'exec-oob'. */
  command: string;
  oob: boolean;
  id: JsonValue | undefined;
  arguments: JsonObject | undefined;
  msg: JsonObject;
  /** The request's text exactly as the client wrote it. */
  raw: string;
}

export interface FakeOptions {
  /** Send the greeting on its own as soon as the client is there (default true). */
  greet?: boolean;
  /** The capabilities offered in the greeting (default ['oob']). */
  capabilities?: string[];
  /** How qmp_capabilities is answered (default: an empty return). */
  onCapabilities?: (req: Request, server: FakeQmp) => void;
  /** How every other request is answered (default: an empty return). */
  onRequest?: (req: Request, server: FakeQmp) => void;
}

const GREETING = {
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'v7.2.0' }, capabilities: ['oob'] },
};

/**
 * A scripted QMP peer. What the client writes is split into JSON objects
 * (the client, like QEMU's parser, needs no newlines between them); what the
 * server sends is pushed in later turns of the event loop, in order, so the
 * client never re-enters itself from inside a write.
 */
export class FakeQmp {
  readonly stream: Duplex;
  /** Every request, qmp_capabilities included, in arrival order. */
  readonly requests: Request[] = [];
  /** Every message pushed to the client, in order (strings as lines, for garbage). */
  readonly sent: (JsonObject | string)[] = [];
  /** Ids of in-band requests not answered yet, and the most there ever were. */
  readonly unanswered = new Set<JsonValue | undefined>();
  maxUnanswered = 0;
  /** Bytes the client wrote, all told. */
  bytesIn = 0;
  onRequest: (req: Request, server: FakeQmp) => void;
  private readonly onCapabilities: (req: Request, server: FakeQmp) => void;
  private text = '';
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly options: FakeOptions = {}) {
    this.onRequest = options.onRequest ?? ((req, s) => s.reply(req));
    this.onCapabilities = options.onCapabilities ?? ((req, s) => s.reply(req));
    this.stream = new Duplex({
      read() {},
      write: (chunk: Buffer, _encoding, callback) => {
        this.bytesIn += chunk.length;
        this.receive(chunk.toString('utf8'));
        callback();
      },
    });
    if (options.greet !== false) this.greet();
  }

  /** Requests other than qmp_capabilities. */
  get calls(): Request[] {
    return this.requests.filter((r) => r.command !== 'qmp_capabilities');
  }

  greet(capabilities = this.options.capabilities ?? ['oob']): void {
    this.send({ QMP: { ...GREETING.QMP, capabilities } });
  }

  /** Sends a message (an object, or raw text sent as it is) in one chunk. */
  send(message: JsonObject | string): void {
    this.sendChunks(typeof message === 'string' ? message : line(message), Infinity);
  }

  /** Sends text cut into pieces of `size` bytes, each pushed in its own turn. */
  sendChunks(text: string | Buffer, size: number): void {
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    for (const m of bytes.toString('utf8').split('\n')) {
      if (m.trim()) this.sent.push(isJsonObject(m) ? (parseJson(m) as JsonObject) : m.replace(/\r$/, ''));
    }
    for (let i = 0; i < bytes.length; i += size) {
      const piece = bytes.subarray(i, Math.min(bytes.length, i + size));
      setImmediate(() => {
        if (!this.stream.destroyed) this.stream.push(piece);
      });
    }
  }

  /** Answers a request with a return value (default {}). */
  reply(req: Request, ret: JsonValue = {}): void {
    this.answered(req);
    this.send(replyText(req, ret));
  }

  /** Answers a request with a QMP error. */
  fail(req: Request, errorClass: string, desc: string): void {
    this.answered(req);
    this.send({ error: { class: errorClass, desc }, id: req.id ?? null });
  }

  /** Marks a request answered by text the test sends itself. */
  answered(req: Request): void {
    this.unanswered.delete(req.id);
  }

  /** The server closes its end. */
  end(): void {
    setImmediate(() => this.stream.push(null));
  }

  private receive(text: string): void {
    for (const ch of text) {
      if (this.depth === 0 && /\s/.test(ch)) continue;
      this.text += ch;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
      } else if (ch === '"') this.inString = true;
      else if (ch === '{' || ch === '[') this.depth++;
      else if ((ch === '}' || ch === ']') && --this.depth === 0) {
        const raw = this.text;
        this.text = '';
        this.request(raw);
      }
    }
  }

  private request(raw: string): void {
    const msg = parseJson(raw) as JsonObject;
    const oob = 'exec-oob' in msg;
    const req: Request = {
      command: String(oob ? msg['exec-oob'] : msg.execute),
      oob,
      id: msg.id,
      arguments: msg.arguments as JsonObject | undefined,
      msg,
      raw,
    };
    this.requests.push(req);
    if (!oob) {
      this.unanswered.add(req.id);
      this.maxUnanswered = Math.max(this.maxUnanswered, this.unanswered.size);
    }
    if (req.command === 'qmp_capabilities') this.onCapabilities(req, this);
    else this.onRequest(req, this);
  }
}

export function line(message: JsonObject): string {
  return stringifyJson(message) + '\r\n';
}

export function isJsonObject(text: string): boolean {
  try {
    const v = parseJson(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

export function replyText(req: Request, ret: JsonValue = {}): JsonObject {
  return { return: ret, id: req.id ?? null };
}

let clock = 1_700_000_000;
export function event(name: string, data?: JsonObject): JsonObject {
  const e: JsonObject = { event: name, timestamp: { seconds: clock++, microseconds: 0 } };
  if (data) e.data = data;
  return e;
}

// -- helpers --------------------------------------------------------------

export const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
});

export const typed: VersionData = { schema, table };

const reported = new WeakMap<object, ClientProblem[]>();

export async function open(server: FakeQmp, options: ClientOptions = {}, data: VersionData = typed): Promise<Client> {
  const qmp = await connect<QmpCommands, QmpEvents, QmpMethods>({ stream: server.stream }, data, {
    connectTimeout: 1000,
    ...options,
  });
  opened.push(qmp);
  const list: ClientProblem[] = [];
  reported.set(qmp, list);
  qmp.onError((e) => list.push(e));
  return qmp;
}

/** What the client reported through onError since connecting. */
export function problems(qmp: object): ClientProblem[] {
  return reported.get(qmp) ?? [];
}

export async function setup(
  fake: FakeOptions = {},
  options: ClientOptions = {},
): Promise<{ server: FakeQmp; qmp: Client }> {
  const server = new FakeQmp(fake);
  return { server, qmp: await open(server, options) };
}

/** A few turns of the event loop: everything pushed so far has been read. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** Waits for a condition (by turns of the event loop, 1 s at most). */
export async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 1000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(
        `expected a rejection, got ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))}`,
      );
    },
    (e: unknown) => e,
  );
}

/** A server that keeps every request for the test to answer. */
export function holding(): { held: Request[]; onRequest: (req: Request) => void } {
  const held: Request[] = [];
  return { held, onRequest: (req) => void held.push(req) };
}

/** A server that answers in order, one request per millisecond, as a busy QEMU would. */
export function slowly(): (req: Request, server: FakeQmp) => void {
  const backlog: Request[] = [];
  let draining = false;
  const drain = (s: FakeQmp) => {
    draining = true;
    setTimeout(() => {
      const req = backlog.shift();
      if (req) s.reply(req, req.oob ? [] : { name: `vm${String(req.id)}` });
      if (backlog.length) drain(s);
      else draining = false;
    }, 1);
  };
  return (req, s) => {
    backlog.push(req);
    if (!draining) drain(s);
  };
}
