/**
 * A fake QEMU for tests: a QMP server for any generated release that speaks
 * the real protocol (greeting, capability negotiation, in-band and
 * out-of-band commands, events) over a unix socket or an in-process stream,
 * checks every request against the release's schema with the runtime's own
 * validator, and answers as QEMU 7.2 answers, byte for byte where it
 * models QEMU: the same error classes and texts, the same JSON text
 * (qemu-json.ts), numbers read as QEMU reads them. Replies are scripted
 * per command; a few queries and stop/cont have defaults. It records the
 * conversation and can replay one the client recorded with its `tap`
 * option. test/scenarios.test.ts runs the SDK's end-to-end scenarios
 * against it and against QEMU 7.2 and requires the same outcomes.
 *
 * What it does not model: the machine (no devices, block graph or jobs of
 * its own: script them; only the run state, for query-status, stop and
 * cont); build configuration (every command of the schema exists,
 * conditional or not); `-compat` policies; query-qmp-schema's masked
 * names and query-commands' order; event rate limits; QEMU's one client
 * per monitor (the fake takes any number, each negotiating on its own);
 * its 8-request queue and parser limits beyond the 64 MiB message; the
 * wording of JSON syntax errors; QEMU's JSON extensions (single-quoted
 * strings); and where the runtime's validator is stricter than QEMU (a
 * negative uint64 or size, which QEMU 7.2 takes and wraps, is refused
 * with "Parameter 'x' expects uint64").
 */
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { TapEntry } from '../qmp/client.js';
import { redactRequest } from '../redact.js';
import {
  entriesByName,
  type SchemaDescriptor,
  type SchemaInfo,
  type SchemaInfoCommand,
  type SchemaInfoEvent,
} from '../schema/descriptor.js';
import type { RuntimeTable } from '../schema/table.js';
import { validate, type ValidationProblem } from '../schema/validate.js';
import { suggest } from '../suggest.js';
import type { JsonObject } from '../wire/framing.js';
import { parseJson, stringifyJson, type JsonValue } from '../wire/json.js';
import { argumentError, checkRequest, looksOob } from './qemu-errors.js';
import { qemuJson, qemuRead, type QemuRead } from './qemu-json.js';
import { inSchemaOrder, minimalValue } from './schema-walk.js';
import { Endpoint, RequestSplitter } from './transport.js';

// ------------------------------------------------------------------ API

/** A release's generated data: `import * as release from 'qapi-ts/qemu-7.2'`, or `{ schema, table }` of it. */
export interface FakeRelease {
  schema: SchemaDescriptor;
  /** Tells the commands that send no reply on success. */
  table?: RuntimeTable;
  /** The QEMU version the schema is from ('7.2.0'): the greeting's, unless `version` says another. */
  qemuVersion?: string;
  /** The release label ('7.2', as the client's VersionData has it): version '7.2.0' when nothing says more. */
  release?: string;
}

export interface FakeQemuOptions {
  release: FakeRelease;
  /** The version the greeting and query-version give, 'major.minor.micro' (default: the release's). */
  version?: string;
  /** The greeting's package string (default '': a build from a release tarball). */
  package?: string;
  /** Capabilities offered in the greeting (default ['oob']). */
  capabilities?: readonly string[];
  /**
   * Check what the fake sends, scripted replies and emitted events,
   * against the schema as strictly as arguments are checked (default true):
   * no unknown members or enum values, nothing required missing. Off, a
   * test can send what no QEMU would, to see how a client copes.
   */
  checkOutput?: boolean;
  /**
   * A command that returns something, nobody scripted and the fake has no
   * default for: answered with the least valid value of its return type
   * ('minimal', the default: empty arrays, required members only) or with
   * an error saying so ('error').
   */
  unscripted?: 'minimal' | 'error';
}

/** A command map as a release's `QmpCommands` is: each command's arguments and return value. */
export type FakeCommandMap<C> = { [K in keyof C]: { args: unknown; returns: unknown } };

/** Commands when no map is given: any arguments, any reply. */
export interface UntypedCommands {
  [command: string]: { args: JsonObject; returns: JsonValue };
}

/** Events when no map is given. */
export interface UntypedEvents {
  [event: string]: JsonObject;
}

/** What a handler knows about the request it answers. */
export interface FakeContext<E = UntypedEvents> {
  readonly command: string;
  /** The request's id, as the client sent it (undefined without one). */
  readonly id: JsonValue | undefined;
  /** It came as exec-oob. */
  readonly oob: boolean;
  /** The connection it came on, numbered from 1. */
  readonly connection: number;
  /** Aborted when that connection (or the fake) closes: a handler that waits should stop then. */
  readonly signal: AbortSignal;
  /** Sends an event to every negotiated connection, now: before this reply, as QEMU sends a job's first events. */
  emit<N extends keyof E & string>(event: N, data?: E[N]): number;
  /** Runs `fn` right after this request's reply is written: events QEMU sends after a command returns. */
  afterReply(fn: () => void): void;
}

/**
 * Answers one command: its return value (or a promise of it), undefined
 * for the fake's default reply, or a thrown FakeError for a QEMU error.
 */
export type FakeHandler<A, R, E = UntypedEvents> = (
  args: A,
  ctx: FakeContext<E>,
) => R | undefined | void | Promise<R | undefined | void>;

/** Thrown by a handler: the error reply `{"error": {"class": errorClass, "desc": desc}}`. */
export class FakeError extends Error {
  override name = 'FakeError';
  constructor(
    /** QEMU's error class: GenericError, DeviceNotFound, ... */
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${errorClass}: ${desc}`);
  }
}

/** A replayed session went another way than the recording; see `expected` and `received`. */
export class ReplayMismatchError extends Error {
  override name = 'ReplayMismatchError';
  constructor(
    message: string,
    /** Position of the entry in the recording. */
    readonly index: number,
    readonly expected: JsonObject | undefined,
    readonly received: JsonValue | undefined,
  ) {
    super(message);
  }
}

/** One message in or out, in the order they went. */
export interface FakeLogEntry {
  /** 'in': from a client; 'out': to it. */
  direction: 'in' | 'out';
  /** The connection, numbered from 1. */
  connection: number;
  /** When, in ms since the epoch. */
  time: number;
  /** The message; undefined for input that is not JSON. */
  message: JsonValue | undefined;
  /** Its exact text: as read, or as written (with its CRLF). */
  text: string;
}

/** A command that passed QEMU's checks and reached its handler (qmp_capabilities aside). */
export interface FakeCall {
  connection: number;
  command: string;
  args: JsonObject;
  oob: boolean;
  id: JsonValue | undefined;
}

/** A replay in progress: `fake.replay(entries)`. */
export interface FakeReplay {
  /**
   * Resolves when every recorded entry has been replayed; rejects with a
   * ReplayMismatchError when a request differs, comes after the recording
   * ends, or the connection closes before it does. Not awaiting it raises
   * no unhandled rejection: the client's call fails loudly anyway.
   */
  readonly done: Promise<void>;
  /** Entries not replayed yet. */
  readonly remaining: number;
}

/** A QMP server for `options.release`; `listen()` or `connectStream()` to reach it, `close()` when done. */
export function createFakeQemu<
  C extends FakeCommandMap<C> = UntypedCommands,
  E extends { [K in keyof E]: unknown } = UntypedEvents,
>(options: FakeQemuOptions): FakeQemu<C, E> {
  return new FakeQemu<C, E>(options);
}

// ------------------------------------------------------------------ the fake

/** A QEMU version as the greeting and query-version give it. */
export type FakeVersion = { major: number; minor: number; micro: number };

/** What a request comes to. */
type Outcome = { return: JsonValue } | { error: { class: string; desc: string } } | { noReply: true };

type AnyHandler = (args: JsonObject, ctx: FakeContext<UntypedEvents>) => unknown;

const fail = (cls: string, desc: string): Outcome => ({ error: { class: cls, desc } });

/** A request's arguments as QEMU read them, and as they are checked (qemuRead). */
interface Arguments {
  value: JsonObject;
  checked: JsonObject;
}

/** How validation problems read in the fake's own messages. */
export const listProblems = (problems: readonly ValidationProblem[]): string =>
  problems
    .slice(0, 3)
    .map((p) => (p.path === '$' ? p.message : `${p.path}: ${p.message}`))
    .join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');

export class FakeQemu<
  C extends FakeCommandMap<C> = UntypedCommands,
  E extends { [K in keyof E]: unknown } = UntypedEvents,
> {
  /** Every message in and out, on every connection, in order. It grows for the fake's life: one fake per test. */
  readonly log: FakeLogEntry[] = [];
  /** Commands that reached their handler, in order. */
  readonly calls: FakeCall[] = [];
  /**
   * Mistakes in the test's script, which the client also sees as error
   * replies: handlers that threw something else than a FakeError, replies
   * the schema refuses, replays that went another way.
   */
  readonly problems: Error[] = [];
  /** What query-status says; stop and cont change it (default 'running'). */
  runState = 'running';
  /** The greeting's and query-version's version. */
  readonly version: Readonly<FakeVersion>;

  readonly #schema: SchemaDescriptor;
  readonly #table: RuntimeTable | undefined;
  readonly #package: string;
  readonly #capabilities: readonly string[];
  readonly #checkOutput: boolean;
  readonly #unscripted: 'minimal' | 'error';
  readonly #handlers = new Map<string, AnyHandler>();
  readonly #sessions = new Set<Session>();
  #nextConnection = 1;
  readonly #endpoint = new Endpoint('fake-qemu', (stream) => this.#accept(stream), this.problems);
  #armed: Replay | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: FakeQemuOptions) {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.release?.schema))
      throw new TypeError("createFakeQemu: options.release must be a release's data ({ schema, table })");
    this.#schema = options.release.schema;
    this.#table = options.release.table;
    const { qemuVersion, release } = options.release;
    const version = options.version ?? qemuVersion ?? (release === undefined ? undefined : `${release}.0`);
    // A schema does not say which QEMU it is from: better no greeting than a made-up one.
    if (version === undefined)
      throw new TypeError(
        "createFakeQemu: the release data does not say its QEMU version: pass the release module (import * as release from 'qapi-ts/qemu-7.2'), or `version`",
      );
    const parts = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
    if (!parts) throw new TypeError(`createFakeQemu: version must be 'major.minor.micro', got '${version}'`);
    this.version = Object.freeze({ major: Number(parts[1]), minor: Number(parts[2]), micro: Number(parts[3]) });
    this.#package = options.package ?? '';
    this.#capabilities = [...(options.capabilities ?? ['oob'])];
    this.#checkOutput = options.checkOutput ?? true;
    this.#unscripted = options.unscripted ?? 'minimal';
  }

  /** The socket path `listen()` bound, if any. */
  get path(): string | undefined {
    return this.#endpoint.path;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#sessions.size;
  }

  /**
   * Scripts the reply to `command` (replacing an earlier handler and the
   * default): return the value, undefined for the default, or throw a
   * FakeError. Arguments arrive checked against the schema.
   */
  on<K extends keyof C & string>(command: K, handler: FakeHandler<C[K]['args'], C[K]['returns'], E>): this {
    if (command === 'qmp_capabilities')
      throw new TypeError('fake-qemu: qmp_capabilities is the protocol itself and cannot be scripted');
    this.#command(command, 'on');
    if (typeof handler !== 'function')
      throw new TypeError(`fake-qemu: on('${command}'): the handler is not a function`);
    this.#handlers.set(command, handler as unknown as AnyHandler);
    return this;
  }

  /** Back to the default reply for `command`. */
  off<K extends keyof C & string>(command: K): this {
    this.#handlers.delete(command);
    return this;
  }

  /**
   * Sends an event to every connection past negotiation (QEMU sends none
   * before it), with QEMU's timestamp; returns how many got it. Throws a
   * TypeError for an event the release lacks or data its schema refuses.
   */
  emit<N extends keyof E & string>(event: N, data?: E[N]): number {
    return this.#emit(event, data as JsonValue | undefined);
  }

  #emit(event: string, data: JsonValue | undefined): number {
    const info = this.#event(event);
    const argType = info['arg-type'];
    const value = (data ?? {}) as JsonValue;
    if (this.#checkOutput) {
      const problems = validate(this.#schema, { type: argType }, value);
      if (problems.length) throw new TypeError(`fake-qemu: emit('${event}'): ${listProblems(problems)}`);
    }
    // QEMU's event dict: 'event', then 'timestamp', then 'data' only for events that have members.
    const message: JsonObject = { event, timestamp: timestamp() };
    if (!this.#isEmptyObject(argType) || (isObject(data) && Object.keys(data).length))
      message.data = inSchemaOrder(this.#schema, argType, value);
    const text = `${qemuJson(message)}\r\n`;
    let sent = 0;
    for (const s of this.#sessions) {
      if (!s.negotiated || s.replay) continue;
      s.write(message, text);
      sent++;
    }
    return sent;
  }

  /** A new connection, in process: a stream to give `connectQmp({ stream })`. */
  connectStream(): Duplex {
    this.#open('connectStream');
    return this.#endpoint.connectStream();
  }

  /** Listens on a unix socket; connections are accepted until `close()`, which removes the socket. */
  async listen(where: { path: string }): Promise<string> {
    this.#open('listen');
    return this.#endpoint.listen(where);
  }

  /**
   * Replays a session the client recorded with its `tap` option on the next
   * connection: the recorded greeting, then for each request that matches
   * the recorded one (compared as JSON, secrets redacted as the tap
   * redacted them), what followed it in the recording, replies and events,
   * byte for byte as recorded. A request that differs gets a
   * 'ReplayMismatch' error reply and fails `done`. The client must make
   * its calls in the recorded order (and, for pipelined calls, without
   * waiting between them).
   */
  replay(entries: readonly TapEntry[]): FakeReplay {
    this.#open('replay');
    if (this.#armed) throw new TypeError('fake-qemu: a replay is already waiting for its connection');
    const given: unknown = entries; // from JavaScript, anything
    if (!Array.isArray(given)) throw new TypeError('fake-qemu: replay(entries): an array of tap entries');
    entries.forEach((e, i) => {
      const ok =
        typeof e === 'object' &&
        e !== null &&
        (e.direction === 'in' || e.direction === 'out') &&
        typeof e.message === 'object' &&
        e.message !== null &&
        !Array.isArray(e.message);
      if (!ok) throw new TypeError(`fake-qemu: replay: entry ${i} is not a tap entry ({ direction, message })`);
    });
    const replay = new Replay([...entries], (e) => this.problems.push(e));
    this.#armed = replay;
    return replay;
  }

  /** Closes every connection and the socket; what handlers still wait for is abandoned (their signal aborts). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const s of [...this.#sessions]) s.close();
      this.#armed?.abandon('the fake closed before a client connected');
      this.#armed = undefined;
      await this.#endpoint.close();
    })();
    return this.#closing;
  }

  // -- connections ----------------------------------------------------------

  #open(what: string): void {
    if (this.#closing) throw new TypeError(`fake-qemu: ${what}() after close()`);
  }

  #accept(stream: Duplex): void {
    if (this.#closing) {
      stream.destroy();
      return;
    }
    const replay = this.#armed;
    this.#armed = undefined;
    const session = new Session(this.#nextConnection++, stream, this.#host, replay);
    this.#sessions.add(session);
    session.start(replay ? undefined : this.#greeting());
  }

  /** What sessions call back into. */
  readonly #host: Host = {
    log: (entry) => this.log.push(entry),
    problem: (e) => this.problems.push(e),
    closed: (s) => this.#sessions.delete(s),
    execute: (s, command, oob, args, id) => this.#execute(s, command, oob, args, id),
  };

  #greeting(): JsonObject {
    const { major, minor, micro } = this.version;
    // Members in the order QEMU inserts them (its JSON writer orders them from there).
    return {
      QMP: {
        version: { qemu: { major, minor, micro }, package: this.#package },
        capabilities: [...this.#capabilities],
      },
    };
  }

  // -- commands ---------------------------------------------------------------

  async #execute(
    session: Session,
    command: string,
    oob: boolean,
    { value: args, checked }: Arguments,
    id: JsonValue | undefined,
  ): Promise<{ outcome: Outcome; after: (() => void)[] }> {
    const after: (() => void)[] = [];
    const done = (outcome: Outcome): { outcome: Outcome; after: (() => void)[] } => ({ outcome, after });
    // Before negotiation QEMU knows qmp_capabilities only, and says so (monitor/qmp.c).
    if (!session.negotiated && command !== 'qmp_capabilities')
      return done(fail('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'"));
    const info = this.#commandInfo(command);
    if (!info) return done(fail('CommandNotFound', `The command ${command} has not been found`));
    if (oob && info['allow-oob'] !== true)
      return done(fail('GenericError', `The command ${command} does not support OOB`));
    const bad = argumentError(this.#schema, command, checked);
    if (bad !== undefined) return done(fail('GenericError', bad));
    if (command === 'qmp_capabilities') return done(this.#negotiate(session, args));
    this.calls.push({ connection: session.id, command, args, oob, id });

    const ctx: FakeContext<UntypedEvents> = {
      command,
      id,
      oob,
      connection: session.id,
      signal: session.signal,
      emit: (event, data) => this.#emit(event, data),
      afterReply: (fn) => {
        if (typeof fn !== 'function') throw new TypeError('fake-qemu: afterReply(fn): fn is not a function');
        after.push(fn);
      },
    };
    let result: unknown;
    try {
      result = await this.#handlers.get(command)?.(args, ctx);
      if (result === undefined) result = this.#builtin(command, args, ctx);
    } catch (e) {
      if (e instanceof FakeError) return done(fail(e.errorClass, e.desc));
      const problem = new Error(`fake-qemu: the handler for ${command} threw: ${(e as Error)?.message ?? String(e)}`, {
        cause: e,
      });
      this.problems.push(problem);
      return done(fail('GenericError', problem.message));
    }
    const retType = info['ret-type'];
    if (result === undefined) {
      if (this.#isEmptyObject(retType)) result = {};
      else if (this.#unscripted === 'error')
        return done(
          fail('GenericError', `fake-qemu: no reply scripted for ${command}: fake.on('${command}', (args) => reply)`),
        );
      else result = minimalValue(this.#schema, retType);
    }
    if (this.#checkOutput) {
      const problems = validate(this.#schema, { type: retType }, result);
      if (problems.length) {
        const problem = new Error(
          `fake-qemu: the reply scripted for ${command} does not match its return type ${retType}: ${listProblems(problems)}`,
        );
        this.problems.push(problem);
        return done(fail('GenericError', problem.message));
      }
    }
    if (this.#table?.commands[command]?.noReply) return done({ noReply: true });
    // In schema order, as QEMU's output visitor inserts the members: it decides the order QEMU writes them.
    return done({ return: inSchemaOrder(this.#schema, retType, result as JsonValue) });
  }

  /** qmp_capabilities (monitor/qmp-cmds-control.c). */
  #negotiate(session: Session, args: JsonObject): Outcome {
    if (session.negotiated)
      return fail('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    const wanted = Array.isArray(args.enable) ? args.enable.map(String) : [];
    const unavailable = wanted.filter((c) => !this.#capabilities.includes(c));
    if (unavailable.length) return fail('GenericError', `Capability ${unavailable.join(', ')} not available`);
    session.negotiated = true;
    session.oob = wanted.includes('oob');
    return { return: {} };
  }

  /** The fake's own replies: what it models of QEMU's state, and what it knows from the schema. */
  #builtin(command: string, _args: JsonObject, ctx: FakeContext<UntypedEvents>): JsonValue | undefined {
    switch (command) {
      case 'query-status': {
        const status = this.#typeOfReturn(command);
        const value = status ? minimalValue(this.#schema, status) : {};
        if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
        const running = this.runState === 'running';
        if ('running' in value) value.running = running;
        if ('singlestep' in value) value.singlestep = false;
        if ('status' in value) value.status = this.runState;
        return value;
      }
      case 'query-version': {
        const { major, minor, micro } = this.version;
        return { qemu: { major, minor, micro }, package: this.#package };
      }
      case 'stop':
        // vm_stop(): STOP only when it was running.
        if (this.runState === 'running') {
          this.runState = 'paused';
          ctx.emit('STOP');
        }
        return {};
      case 'cont':
        // RESUME only when it was not running (a running one answers {} and says nothing: seen on QEMU 7.2).
        if (this.runState !== 'running') {
          this.runState = 'running';
          ctx.emit('RESUME');
        }
        return {};
      case 'query-commands':
        return this.#schema.filter((e) => e['meta-type'] === 'command').map((e) => ({ name: e.name }));
      case 'query-qmp-schema':
        // The release's descriptor without its extensions: names unmasked, unlike QEMU's.
        return this.#schema.map((e) => withoutExtensions(e));
      default:
        return undefined;
    }
  }

  #typeOfReturn(command: string): string | undefined {
    return this.#commandInfo(command)?.['ret-type'];
  }

  #commandInfo(command: string): SchemaInfoCommand | undefined {
    const info = entriesByName(this.#schema).get(command);
    return info?.['meta-type'] === 'command' ? info : undefined;
  }

  #command(command: string, what: string): SchemaInfoCommand {
    const info = this.#commandInfo(command);
    if (!info) {
      const names = this.#schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
      throw new TypeError(
        `fake-qemu: ${what}('${command}'): the release has no such command${suggest(command, names)}`,
      );
    }
    return info;
  }

  #event(event: string): SchemaInfoEvent {
    const info = entriesByName(this.#schema).get(event);
    if (info?.['meta-type'] !== 'event') {
      const names = this.#schema.filter((e) => e['meta-type'] === 'event').map((e) => e.name);
      throw new TypeError(`fake-qemu: emit('${event}'): the release has no such event${suggest(event, names)}`);
    }
    return info;
  }

  /** The empty object type: arguments of a command that takes none, return of one that returns nothing. */
  #isEmptyObject(type: string): boolean {
    const info = entriesByName(this.#schema).get(type);
    return info?.['meta-type'] === 'object' && info.members.length === 0 && info.tag === undefined;
  }
}

/** A descriptor entry as introspection gives it: without the generator's 'if' and 'gen' (members' 'if' too). */
function withoutExtensions(entry: SchemaInfo): JsonValue {
  const strip = (o: object): JsonObject => {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(o)) if (k !== 'if' && k !== 'gen') out[k] = v as JsonValue;
    return out;
  };
  const out = strip(entry);
  for (const list of ['members', 'variants'] as const) {
    const items = out[list];
    if (Array.isArray(items))
      out[list] = items.map((m) => (typeof m === 'object' && m !== null && !Array.isArray(m) ? strip(m) : m));
  }
  return out;
}

/** QEMU's event timestamp: wall-clock seconds and microseconds (g_get_real_time). */
function timestamp(): JsonObject {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
}

// ------------------------------------------------------------------ a connection

interface Host {
  log(entry: FakeLogEntry): void;
  problem(e: Error): void;
  closed(session: Session): void;
  execute(
    session: Session,
    command: string,
    oob: boolean,
    args: Arguments,
    id: JsonValue | undefined,
  ): Promise<{ outcome: Outcome; after: (() => void)[] }>;
}

/**
 * One client's monitor: in-band requests run one at a time, in order (a
 * handler that waits holds the ones behind it, as a busy QEMU does);
 * exec-oob ones run at once, past them.
 */
class Session {
  negotiated = false;
  oob = false;
  readonly #abort = new AbortController();
  readonly #queue: (() => Promise<void>)[] = [];
  #busy = false;
  #closed = false;
  readonly #splitter: RequestSplitter;

  constructor(
    readonly id: number,
    private readonly stream: Duplex,
    private readonly host: Host,
    readonly replay: Replay | undefined,
  ) {
    this.#splitter = new RequestSplitter(
      (text) => this.#received(text),
      () =>
        this.#inBand(async () =>
          this.reply(undefined, fail('GenericError', 'JSON parse error, message exceeds the 64 MiB QEMU reads')),
        ),
    );
    stream.on('data', (chunk: Buffer) => {
      if (!this.#closed) this.#splitter.push(chunk);
    });
    stream.on('end', () => this.close());
    stream.on('close', () => this.close());
    // A reset connection is a closed one; nothing to report.
    stream.on('error', () => this.close());
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  start(greeting: JsonObject | undefined): void {
    if (this.replay) this.replay.start(this);
    else if (greeting) this.write(greeting, `${qemuJson(greeting)}\r\n`);
  }

  write(message: JsonValue, text: string): void {
    if (this.#closed) return;
    this.host.log({ direction: 'out', connection: this.id, time: Date.now(), message, text });
    this.stream.write(text);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#abort.abort(new Error('fake-qemu: the connection closed'));
    this.stream.destroy();
    this.replay?.ended();
    this.host.closed(this);
  }

  #received(text: string): void {
    let msg: JsonValue | undefined;
    let parseError: string | undefined;
    try {
      msg = parseJson(text);
    } catch (e) {
      parseError = (e as Error).message;
    }
    this.host.log({ direction: 'in', connection: this.id, time: Date.now(), message: msg, text });
    if (this.replay) {
      this.replay.request(this, msg);
      return;
    }
    const request = typeof msg === 'object' && msg !== null && !Array.isArray(msg) ? msg : undefined;
    if (request && looksOob(request)) {
      void this.#guard(() => this.#run(qemuRead(text)));
      return;
    }
    this.#inBand(async () => {
      // No id: QEMU cannot tell whose request it could not read.
      if (parseError !== undefined) this.reply(undefined, fail('GenericError', `JSON parse error, ${parseError}`));
      else if (!request) this.reply(undefined, fail('GenericError', 'QMP input must be a JSON object'));
      else await this.#run(qemuRead(text));
    });
  }

  #inBand(task: () => Promise<void>): void {
    this.#queue.push(task);
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      for (let task = this.#queue.shift(); task && !this.#closed; task = this.#queue.shift()) await this.#guard(task);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * A failure of the fake itself (not a handler's: those are answered) is the test's to see, in
   * `problems`, and the client gets an error rather than no reply: never a crash of the test process.
   */
  async #guard(task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.host.problem(error);
      if (!this.#closed) this.reply(undefined, fail('GenericError', `fake-qemu: internal error: ${error.message}`));
    }
  }

  /** A request object, as QEMU read it (see QemuRead: what it holds, and what its arguments are checked as). */
  async #run(read: QemuRead): Promise<void> {
    const request = read.value as JsonObject;
    const id = Object.hasOwn(request, 'id') ? request.id : undefined;
    const shape = checkRequest(request, this.oob);
    if (typeof shape === 'string') {
      this.reply(id, fail('GenericError', shape));
      return;
    }
    const args = {
      value: (request.arguments ?? {}) as JsonObject,
      checked: ((read.checked as JsonObject).arguments ?? {}) as JsonObject,
    };
    const { outcome, after } = await this.host.execute(this, shape.command, shape.oob, args, id);
    if (this.#closed) return;
    this.reply(id, outcome);
    for (const fn of after) {
      try {
        fn();
      } catch (e) {
        // The test's own code: reported where the test looks, never thrown into the fake.
        this.host.problem(
          new Error(`fake-qemu: an afterReply function threw: ${(e as Error)?.message ?? String(e)}`, { cause: e }),
        );
      }
    }
  }

  /** A reply as QEMU writes it: 'return' or 'error', then the id when the request had one. */
  reply(id: JsonValue | undefined, outcome: Outcome): void {
    if ('noReply' in outcome) return;
    const message: JsonObject =
      'error' in outcome
        ? { error: { class: outcome.error.class, desc: outcome.error.desc } }
        : { return: outcome.return };
    if (id !== undefined) message.id = id;
    this.write(message, `${qemuJson(message)}\r\n`);
  }
}

// ------------------------------------------------------------------ replay

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Equal as JSON values: members in any order, a bigint equal to the same number. */
function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint'))
    // Loose equality is the one comparison of a bigint with a number by value.
    return a == b;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return a === b;
}

function show(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  try {
    const text = stringifyJson(v);
    return text.length > 300 ? `${text.slice(0, 300)}...` : text;
  } catch {
    return 'a value JSON cannot carry';
  }
}

/** A recorded session, replayed on one connection. */
class Replay implements FakeReplay {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;
  #index = 0;
  #settled = false;
  #failed: ReplayMismatchError | undefined;

  constructor(
    private readonly entries: readonly TapEntry[],
    private readonly report: (e: Error) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Awaited, it still rejects; left alone, it is no unhandled rejection.
    this.done.catch(() => {});
  }

  get remaining(): number {
    return this.entries.length - this.#index;
  }

  start(session: Session): void {
    this.#flush(session);
  }

  request(session: Session, msg: JsonValue | undefined): void {
    const id = isObject(msg) && Object.hasOwn(msg, 'id') ? msg.id : undefined;
    if (this.#failed) {
      session.reply(
        id,
        fail('ReplayMismatch', `an earlier request differed from the recording: ${this.#failed.message}`),
      );
      return;
    }
    const index = this.#index;
    const expected = this.entries[index];
    // Compared as the tap shows requests: secrets redacted.
    const received = isObject(msg) ? redactRequest(msg) : msg;
    if (expected?.direction === 'out' && sameJson(received, expected.message)) {
      this.#index++;
      this.#flush(session);
      return;
    }
    const error = new ReplayMismatchError(
      expected
        ? `fake-qemu replay: request ${show(received)} differs from the recording's entry ${index}, ${show(expected.message)}`
        : `fake-qemu replay: request ${show(received)} after the end of the recording (${this.entries.length} entries)`,
      index,
      expected?.message,
      received,
    );
    this.#fail(error);
    session.reply(id, fail('ReplayMismatch', error.message));
  }

  /** The connection closed. */
  ended(): void {
    const next = this.entries[this.#index];
    if (next)
      this.#fail(
        new ReplayMismatchError(
          `fake-qemu replay: the connection closed with ${this.remaining} recorded entries not replayed; the next is ${next.direction === 'out' ? 'the request' : 'the message'} ${show(next.message)}`,
          this.#index,
          next.message,
          undefined,
        ),
      );
  }

  abandon(why: string): void {
    this.#fail(
      new ReplayMismatchError(`fake-qemu replay: ${why}`, this.#index, this.entries[this.#index]?.message, undefined),
    );
  }

  /** Writes what the recording says came next, up to the next request. */
  #flush(session: Session): void {
    while (this.#index < this.entries.length && this.entries[this.#index].direction === 'in') {
      const message = this.entries[this.#index++].message;
      // As recorded: the members in the order QEMU wrote them.
      session.write(message, `${qemuJson(message, 'as-is')}\r\n`);
    }
    if (this.#index === this.entries.length && !this.#settled) {
      this.#settled = true;
      this.#resolve();
    }
  }

  #fail(error: ReplayMismatchError): void {
    if (this.#failed) return;
    this.#failed = error;
    this.report(error);
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }
}
