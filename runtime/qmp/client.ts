/**
 * The QMP face: the greeting and capability negotiation, commands in band
 * and out of band, which reply belongs to which call, events, HMP, and the
 * tap. It is generic over a release's generated command and event maps and
 * has no per-command code. Bytes and messages are the wire layer's
 * (wire/); the connection, ids, queues and deadlines the core's (core/).
 * What this client cannot use is reported through `onError` and counted in
 * `stats`.
 */
import type { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import { Connection, type ClientProblem } from '../core/connection.js';
import { checkCount, checkSignal, checkTimeout, deadline } from '../core/deadline.js';
import type { Call, StallInfo } from '../core/requests.js';
import {
  CallbackError,
  ConnectionError,
  ProtocolError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
} from '../errors.js';
import type { SchemaDescriptor } from '../schema/descriptor.js';
import type { RuntimeTable } from '../schema/table.js';
import { validate } from '../schema/validate.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_BYTES, type JsonObject } from '../wire/framing.js';
import { stringifyJson, type JsonValue } from '../wire/json.js';
import { checkRequestText, QEMU_JSON_LIMITS } from '../wire/limits.js';
import { describeTarget, openTransport, type Target } from '../wire/transport.js';
import { EventHub, type Disposable, type EventStream, type EventStreamOptions, type EventWait, type QmpEvent, type WaitOptions } from './events.js';
import { redact, redactArguments, redactRequest, redactReturn } from './redact.js';

/** One command of a generated command map. */
export interface CommandSpec {
  args: unknown;
  /** The parameter list: [], [args?: X] or [args: X]. */
  params: readonly unknown[];
  returns: unknown;
}

export type CommandMap<C> = { [K in keyof C]: CommandSpec };

export interface CallOptions {
  /** Milliseconds to wait for the reply; overrides the client's timeout. 0 or Infinity waits forever. */
  timeout?: number;
  signal?: AbortSignal;
  /** Check the arguments against the schema before sending (default: the client's setting). */
  validate?: boolean;
}

const CALL_OPTION_KEYS = new Set(['timeout', 'signal', 'validate']);

export interface TapEntry {
  direction: 'out' | 'in';
  /** The message, secrets redacted. */
  message: JsonObject;
}

export interface ClientOptions {
  /** Default reply timeout per call in ms (default 60 000; 0 or Infinity waits forever). */
  timeout?: number;
  /** Connecting plus the greeting and negotiation, in ms (default 10 000). */
  connectTimeout?: number;
  /** Aborts connecting. */
  signal?: AbortSignal;
  /** Enable out-of-band execution when QEMU offers it (default true). */
  oob?: boolean;
  /** Check arguments against the schema before sending (default true). */
  validate?: boolean;
  /** Largest message accepted from QEMU, in bytes (default 10 MiB). */
  maxMessageBytes?: number;
  /** Deepest nesting accepted in a message from QEMU (default 4096). */
  maxMessageDepth?: number;
  /** Largest request sent, in bytes (default and most: QEMU's 64 MiB). */
  maxRequestBytes?: number;
  /** In-band commands sent but not answered at most; more wait in a local queue (default 8, QMP's queue size). */
  maxInFlight?: number;
  /** Calls waiting for a slot this long with no reply coming trigger `onStall` (ms, default 5000; 0: never). */
  stallAfter?: number;
  /** Every message in and out, secrets redacted: for logs and tracing. */
  tap?: (entry: TapEntry) => void;
}

/** A version's generated data the client uses at run time. */
export interface VersionData {
  schema?: SchemaDescriptor;
  table?: RuntimeTable;
}

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

/** Counters of what happened on this connection, for monitoring. */
export interface ClientStats {
  /** In-band requests sent and not answered. */
  inFlight: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** Replies that came after their call timed out or was aborted (dropped). */
  lateReplies: number;
  /** Everything reported through onError. */
  errors: number;
  /** Replies that matched no call (unknown id, or no id and not attributable). */
  unmatchedReplies: number;
  /** Events dropped because too many arrived before the handshake completed. */
  droppedEarlyEvents: number;
}

export type { ClientProblem };

type Params<C extends CommandMap<C>, K extends keyof C> = [...C[K]['params'], CallOptions?];

/** A facade method: the command's parameters, then optional call options. */
export type Method<C extends CommandMap<C>, K extends keyof C> = (...params: Params<C, K>) => Promise<C[K]['returns']>;

const enum State {
  Handshake,
  Ready,
  Closed,
}

/** The untyped facade: method name → call. */
export type Methods = Record<string, (...params: unknown[]) => Promise<unknown>>;

/** What the request layer keeps per call for this face. */
interface CallMeta {
  args: JsonObject | undefined;
}

const EXCERPT = 120;

export class QmpClient<
  C extends CommandMap<C> = Record<string, CommandSpec>,
  E = Record<string, JsonValue>,
  M = Methods,
> {
  /** QEMU's greeting: version and the capabilities it offered. */
  greeting!: QmpGreeting;
  /** Capabilities enabled by negotiation ('oob' when offered and wanted). */
  readonly enabled: string[] = [];

  #state = State.Handshake;
  readonly #conn: Connection<CallMeta>;
  readonly #data: VersionData;
  readonly #peer: string;
  readonly #opts: CheckedOptions;
  readonly #hub: EventHub;
  #handshake?: { resolve(g: JsonObject): void; reject(e: Error): void };
  #noArgs: Set<string> | undefined;
  /** An id-less error may be attributed to the oldest call: once per in-band reply seen. */
  #idlessAllowed = true;
  #unmatched = 0;

  /** Typed methods per command, e.g. `qmp.cmd.queryStatus()`; see the version's QmpMethods. */
  readonly cmd: M;

  /** Use connectQmp() (or a version's connectQmp); this takes an open stream. */
  constructor(stream: Duplex, data: VersionData, options: ClientOptions, peer: string) {
    this.#data = data;
    this.#peer = peer;
    this.#opts = checkOptions(options);
    this.#hub = new EventHub((e) => this.#conn.report(e));
    this.#conn = new Connection<CallMeta>(stream, peer, this.#opts, {
      message: (m, size) => this.#onMessage(m, size),
      framingError: (e, tail) => this.#onFramingError(e, tail),
      sending: (call) => this.#sending(call),
      closing: (reason) => {
        this.#state = State.Closed;
        this.#failHandshake(reason);
        this.#hub.close(reason);
      },
    });
    this.cmd = this.#makeFacade() as M;
  }

  /** @internal Reads the greeting and negotiates capabilities within `limit` ms. */
  async open(signal?: AbortSignal, limit = this.#opts.connectTimeout): Promise<this> {
    const started = Date.now();
    let armed: { dispose(): void } | undefined;
    try {
      const greeting = await new Promise<JsonObject>((resolve, reject) => {
        this.#handshake = { resolve, reject };
        if (!this.#conn.isOpen) reject(this.#conn.closeReason);
        armed = deadline({ timeout: limit, signal }, (why) =>
          this.#failHandshake(
            why.kind === 'abort'
              ? new ConnectionError('handshake-failed', `${this.#peer}: aborted`, { cause: why.reason })
              : new ConnectionError('greeting-timeout', `${this.#peer}: connected, but no QMP greeting within ${limit} ms (is another client using this monitor?)`),
          ),
        );
      });
      armed?.dispose();
      this.greeting = parseGreeting(greeting, this.#peer);
      const wanted = this.#opts.oob && this.greeting.capabilities.includes('oob') ? ['oob'] : [];
      this.#state = State.Ready;
      // The negotiation shares the budget and the signal; however it fails, connect fails with a ConnectionError.
      const remaining = limit > 0 ? Math.max(1, limit - (Date.now() - started)) : 0;
      await this.#send('qmp_capabilities', wanted.length ? { enable: wanted } : undefined, { timeout: remaining, signal, validate: false }, false).catch(
        (e: Error) => {
          if (e instanceof ConnectionError) throw e;
          const why =
            e instanceof QmpTimeoutError
              ? `no reply to qmp_capabilities within ${limit} ms of connecting`
              : e instanceof QmpAbortError
                ? 'aborted'
                : `qmp_capabilities failed: ${e.message}`;
          throw new ConnectionError('handshake-failed', `${this.#peer}: ${why}`, { cause: e instanceof QmpAbortError ? signal?.reason : e });
        },
      );
      this.enabled.push(...wanted);
      this.#hub.start();
      return this;
    } catch (e) {
      this.#conn.close(e instanceof ConnectionError ? e : new ConnectionError('handshake-failed', `${this.#peer}: ${String(e)}`, { cause: e }));
      throw e;
    } finally {
      armed?.dispose();
    }
  }

  /** Runs a command and resolves with its typed return value; rejects with QmpError when QEMU says no. */
  execute<K extends keyof C & string>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    return this.#call(command, params as unknown[], false) as Promise<C[K]['returns']>;
  }

  /**
   * Runs a command out of band (exec-oob): only for commands that allow it,
   * on a monitor with oob enabled. It does not wait behind in-band requests,
   * so it is the way through when QEMU leaves them unanswered (e.g.
   * `migrate-recover`, `yank`, `x-oob-test`).
   */
  executeOob<K extends keyof C & string>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    return this.#call(command, params as unknown[], true) as Promise<C[K]['returns']>;
  }

  /** Any command by name, unchecked and untyped: for commands this version does not know. */
  executeRaw(command: string, args?: JsonObject, options?: CallOptions): Promise<JsonValue> {
    return this.#send(command, args, { ...options, validate: false }, false);
  }

  /** An HMP command line through human-monitor-command; resolves with its output. */
  async hmp(commandLine: string, options?: CallOptions & { cpuIndex?: number }): Promise<string> {
    const args: JsonObject = { 'command-line': commandLine };
    if (options?.cpuIndex !== undefined) args['cpu-index'] = options.cpuIndex;
    const { cpuIndex: _, ...callOptions } = options ?? {};
    return (await this.#send('human-monitor-command', args, callOptions, false)) as string;
  }

  /** Calls `listener` for each event of that name until disposed. */
  on<N extends keyof E & string>(name: N, listener: (event: QmpEvent<N, E[N]>) => void): Disposable {
    return this.#hub.on(name, listener as (e: QmpEvent) => void);
  }

  /** Calls `listener` for every event, known to this version or not. */
  onAny(listener: (event: QmpEvent<string, JsonValue>) => void): Disposable {
    return this.#hub.on(undefined, listener);
  }

  /**
   * Events as an async iterable. The buffer is bounded: when the consumer
   * falls behind, the oldest events are dropped and counted in `dropped`.
   * Ends when the connection closes.
   */
  events<N extends keyof E & string>(name?: N | readonly N[], options?: EventStreamOptions): EventStream<QmpEvent<N, E[N]>> {
    return this.#hub.stream(name, options) as EventStream<QmpEvent<N, E[N]>>;
  }

  /**
   * The next event of that name (matching `predicate`), armed now: call it
   * before the command that triggers the event, then await it. Rejects with
   * QmpTimeoutError, QmpAbortError (its signal, or `cancel()`) or the close
   * reason; a wait that is never awaited never raises an unhandled rejection.
   */
  waitForEvent<N extends keyof E & string>(
    name: N,
    predicate?: (event: QmpEvent<N, E[N]>) => boolean,
    options?: WaitOptions,
  ): EventWait<QmpEvent<N, E[N]>> {
    return this.#hub.wait(name, predicate as ((e: QmpEvent) => boolean) | undefined, options) as EventWait<QmpEvent<N, E[N]>>;
  }

  /**
   * Problems that do not belong to a call: a message from the peer that
   * could not be used (garbage, oversized, too deep, a reply for no call),
   * or a listener, tap or stall callback of yours that threw.
   */
  onError(listener: (problem: ClientProblem) => void): Disposable {
    return this.#conn.onError(listener);
  }

  /** Called once when the connection is gone, whoever closed it, with the reason pending calls got. */
  onClose(listener: (reason: ConnectionError) => void): Disposable {
    return this.#conn.onClose(listener);
  }

  /**
   * Called when calls have waited `stallAfter` ms for a slot while QEMU
   * answered none of the `maxInFlight` requests outstanding (a stopped or
   * wedged QEMU). `executeOob` still gets through.
   */
  onStall(listener: (info: StallInfo) => void): Disposable {
    return this.#conn.onStall(listener);
  }

  get stats(): ClientStats {
    const r = this.#conn.requests;
    return {
      inFlight: r.inFlight,
      queued: r.queued,
      lateReplies: r.lateReplies,
      errors: this.#conn.errors,
      unmatchedReplies: this.#unmatched,
      droppedEarlyEvents: this.#hub.droppedEarly,
    };
  }

  /** Replies that arrived after their call timed out or was aborted (dropped). */
  get lateReplies(): number {
    return this.#conn.requests.lateReplies;
  }

  /** Resolves when the connection is gone, whoever closed it. */
  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  get isOpen(): boolean {
    return this.#conn.isOpen;
  }

  /** Closes the connection; pending calls reject with ConnectionError('closed'). */
  async close(): Promise<void> {
    this.#conn.close(new ConnectionError('closed', `${this.#peer}: closed by the client`));
    await this.#conn.closed;
  }

  /** What `console.log(client)` shows: the connection, never a request. */
  [inspect.custom](): string {
    const state = ['handshake', 'ready', 'closed'][this.#state];
    const v = this.greeting?.version?.qemu;
    const { inFlight, queued } = this.#conn.requests;
    return `QmpClient { peer: ${JSON.stringify(this.#peer)}, state: '${state}'${v ? `, qemu: '${v.major}.${v.minor}.${v.micro}'` : ''}, inFlight: ${inFlight}, queued: ${queued} }`;
  }

  // -- sending ------------------------------------------------------------

  #call(command: string, params: unknown[], oob: boolean): Promise<JsonValue> {
    let split: [JsonObject | undefined, CallOptions | undefined];
    try {
      split = this.#splitParams(command, params);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#send(command, split[0], split[1], oob);
  }

  #splitParams(command: string, params: unknown[]): [JsonObject | undefined, CallOptions | undefined] {
    if (params.length >= 2) return [params[0] as JsonObject | undefined, params[1] as CallOptions | undefined];
    if (params.length === 1 && this.#takesNoArguments(command)) {
      const only = params[0];
      if (only !== undefined && (typeof only !== 'object' || only === null || Array.isArray(only))) {
        throw new QmpUsageError('unexpected-arguments', `${command} takes no arguments; expected call options, got ${only === null ? 'null' : Array.isArray(only) ? 'an array' : typeof only}`);
      }
      const unknown = only ? Object.keys(only).filter((k) => !CALL_OPTION_KEYS.has(k)) : [];
      if (unknown.length) {
        throw new QmpUsageError(
          'unexpected-arguments',
          `${command} takes no arguments, and its only parameter is the call options (timeout, signal, validate); got ${unknown.map((k) => `'${k}'`).join(', ')}`,
        );
      }
      return [undefined, only as CallOptions | undefined];
    }
    return [params[0] as JsonObject | undefined, undefined];
  }

  #takesNoArguments(command: string): boolean {
    if (!this.#noArgs) {
      this.#noArgs = new Set();
      const byName = new Map((this.#data.schema ?? []).map((e) => [e.name, e]));
      for (const e of this.#data.schema ?? []) {
        if (e['meta-type'] !== 'command') continue;
        const arg = byName.get(e['arg-type']);
        if (arg && arg['meta-type'] === 'object' && arg.members.length === 0 && !arg.variants) this.#noArgs.add(e.name);
      }
    }
    return this.#noArgs.has(command);
  }

  /** Everything that can go wrong before sending becomes a rejection, never a throw. */
  #send(command: string, args: JsonObject | undefined, options: CallOptions | undefined, oob: boolean): Promise<JsonValue> {
    if (!this.#conn.isOpen) return Promise.reject(this.#conn.closeReason);
    let id: number;
    let text: string;
    let limits: { timeout: number; signal: AbortSignal | undefined };
    try {
      limits = {
        timeout: checkTimeout(options?.timeout ?? this.#opts.timeout, `${command}: timeout`),
        signal: checkSignal(options?.signal, `${command}: signal`),
      };
      this.#checkOob(command, oob);
      if ((options?.validate ?? this.#opts.validate) && this.#data.schema) {
        const problems = validate(this.#data.schema, { command, direction: 'arguments' }, args ?? {});
        if (problems.length) throw new QmpValidationError(command, problems);
      }
      id = this.#conn.requests.allocateId();
      text = serialise(command, oob, args, id, this.#opts.maxRequestBytes);
    } catch (e) {
      return Promise.reject(
        e instanceof QmpUsageError || e instanceof QmpValidationError ? e : new QmpUsageError('unserialisable', `${command}: the arguments cannot be read: ${String((e as Error)?.message ?? e)}`, { cause: e }),
      );
    }
    return this.#conn.requests.submit(id, command, oob, text, { args }, limits);
  }

  #checkOob(command: string, oob: boolean): void {
    if (!oob) return;
    if (!this.enabled.includes('oob')) {
      throw new QmpUsageError('oob-unavailable', `${command}: out-of-band execution needs a monitor with the 'oob' capability enabled`);
    }
    if (this.#data.table && !this.#data.table.commands[command]?.oob) {
      throw new QmpUsageError('oob-unavailable', `${command}: this command does not allow out-of-band execution`);
    }
  }

  #sending(call: Call<CallMeta>): void {
    if (!this.#opts.tap) return;
    const message: JsonObject = call.oob ? { 'exec-oob': call.command } : { execute: call.command };
    if (call.meta.args !== undefined) message.arguments = call.meta.args;
    message.id = call.id;
    this.#tap('out', redactRequest(message));
  }

  #tap(direction: 'in' | 'out', message: JsonObject): void {
    try {
      this.#opts.tap!({ direction, message });
    } catch (e) {
      this.#conn.report(new CallbackError('tap', e));
    }
  }

  // -- receiving ----------------------------------------------------------

  #onMessage(msg: JsonObject, bytes: number): void {
    if (typeof msg.event === 'string') {
      if (this.#opts.tap) this.#tapIn(msg);
      this.#hub.emit(msg as unknown as QmpEvent, bytes);
      return;
    }
    if ('QMP' in msg) {
      this.#tapIn(msg);
      if (this.#handshake) this.#handshake.resolve(msg);
      else this.#conn.report(new ProtocolError('unknown-shape', `${this.#peer}: a second greeting`, excerpt(msg)));
      this.#handshake = undefined;
      return;
    }
    if (this.#handshake) {
      // Before the greeting only events may come: this peer does not speak QMP (or not as a server).
      this.#tapIn(msg);
      this.#failHandshake(new ConnectionError('protocol', `${this.#peer}: not a QMP peer: expected a greeting, got ${excerpt(msg)}`));
      return;
    }
    if ('return' in msg || 'error' in msg) {
      this.#onReply(msg);
      return;
    }
    this.#tapIn(msg);
    this.#conn.report(new ProtocolError('unknown-shape', `${this.#peer}: a message of unknown shape`, excerpt(msg)));
  }

  #onReply(msg: JsonObject): void {
    const call = this.#callFor(msg);
    if (this.#opts.tap) {
      this.#tapIn(call && 'return' in msg ? { ...msg, return: redactReturn(call.command, call.meta.args, msg.return) as JsonValue } : msg);
    }
    if (!call) {
      this.#unmatched++;
      const why = 'id' in msg ? `a reply for no request (id ${excerpt(msg.id)})` : `a reply without id that cannot be attributed to a request`;
      this.#conn.report(new ProtocolError('unmatched-reply', `${this.#peer}: ${why}`, excerpt(msg)));
      return;
    }
    let outcome: { value: JsonValue } | { error: Error };
    if ('error' in msg) {
      const err = msg.error;
      const body = typeof err === 'object' && err !== null && !Array.isArray(err) ? err : {};
      const cls = typeof body.class === 'string' ? body.class : 'GenericError';
      const desc = typeof body.desc === 'string' ? body.desc : excerpt(err);
      const hasId = 'id' in msg;
      const args = redactArguments(call.command, call.meta.args);
      outcome = { error: new QmpError(cls, hasId ? desc : `QEMU could not read the request: ${desc}`, call.command, hasId ? msg.id : undefined, args) };
    } else {
      outcome = { value: msg.return as JsonValue };
    }
    this.#conn.requests.settle(call, outcome);
  }

  /**
   * The call a reply belongs to. By id when it has one. Without one, only an
   * error, only the first since the last in-band reply, and only for the
   * oldest in-band call: QEMU answers in-band requests in order, and answers
   * one it could not parse with id-less errors (sometimes a flood of them),
   * so a second one before QEMU has answered anything else is not the next
   * call's answer. An id-less return is never anyone's.
   */
  #callFor(msg: JsonObject): Call<CallMeta> | undefined {
    if ('id' in msg) {
      const call = typeof msg.id === 'number' ? this.#conn.requests.sent(msg.id) : undefined;
      if (call && !call.oob) this.#idlessAllowed = true;
      return call;
    }
    if (!('error' in msg) || !this.#idlessAllowed) return undefined;
    const oldest = this.#conn.requests.oldestInBand();
    if (oldest) this.#idlessAllowed = false;
    return oldest;
  }

  #onFramingError(e: ProtocolError, tail?: string): void {
    if (this.#handshake) {
      this.#failHandshake(new ConnectionError('protocol', `${this.#peer}: not a QMP peer: ${e.message}: ${e.excerpt}`, { cause: e }));
      return;
    }
    if (e.code === 'oversized') {
      // Blamed on a call only when the message is provably its reply: a reply's head and its id.
      const id = replyIdOf(e.excerpt, tail ?? '');
      const call = id === undefined ? undefined : this.#conn.requests.sent(id);
      if (call) {
        if (!call.oob) this.#idlessAllowed = true;
        this.#conn.requests.settle(call, {
          error: new ProtocolError('oversized', `${call.command}: the reply exceeded ${this.#opts.maxMessageBytes} bytes and was discarded`, e.excerpt),
        });
        return;
      }
    }
    this.#conn.report(new ProtocolError(e.code, `${this.#peer}: ${e.message}`, e.excerpt, { cause: e }));
  }

  #tapIn(msg: JsonObject): void {
    if (this.#opts.tap) this.#tap('in', redact(msg) as JsonObject);
  }

  #failHandshake(e: ConnectionError): void {
    const h = this.#handshake;
    this.#handshake = undefined;
    h?.reject(e);
  }

  #makeFacade(): Methods {
    const facade: Methods = {};
    for (const [wire, info] of Object.entries(this.#data.table?.commands ?? {})) {
      facade[info.method] = (...params: unknown[]) => this.#call(wire, params, false);
    }
    return facade;
  }
}

type CheckedOptions = Required<Omit<ClientOptions, 'tap' | 'signal'>> & Pick<ClientOptions, 'tap'>;

/** The client's options with defaults, each checked: a bad one is a QmpUsageError naming it. */
function checkOptions(o: ClientOptions): CheckedOptions {
  if (o.tap !== undefined && typeof o.tap !== 'function') throw new QmpUsageError('bad-option', `tap: expected a function, got ${typeof o.tap}`);
  return {
    timeout: checkTimeout(o.timeout ?? 60_000, 'timeout'),
    connectTimeout: checkTimeout(o.connectTimeout ?? 10_000, 'connectTimeout'),
    oob: o.oob ?? true,
    validate: o.validate ?? true,
    maxMessageBytes: checkCount(o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes'),
    maxMessageDepth: checkCount(o.maxMessageDepth ?? DEFAULT_MAX_DEPTH, 'maxMessageDepth'),
    maxRequestBytes: checkCount(o.maxRequestBytes ?? QEMU_JSON_LIMITS.maxBytes, 'maxRequestBytes'),
    maxInFlight: checkCount(o.maxInFlight ?? 8, 'maxInFlight', true),
    stallAfter: checkTimeout(o.stallAfter ?? 5000, 'stallAfter'),
    tap: o.tap,
  };
}

/** The request's text, checked against what QEMU's parser reads; throws QmpUsageError. */
function serialise(command: string, oob: boolean, args: JsonObject | undefined, id: number, maxBytes: number): string {
  const message: JsonObject = oob ? { 'exec-oob': command } : { execute: command };
  if (args !== undefined) message.arguments = args;
  message.id = id;
  let text: string;
  try {
    text = stringifyJson(message);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new QmpUsageError('too-deep', `${command}: the arguments are nested too deeply to write (QEMU reads at most ${QEMU_JSON_LIMITS.maxDepth} levels)`, { cause: e });
    }
    throw new QmpUsageError('unserialisable', `${command}: the arguments cannot be written as JSON: ${(e as Error).message}`, { cause: e });
  }
  const problem = checkRequestText(text, maxBytes);
  if (problem) throw new QmpUsageError(problem.code, `${command}: ${problem.message}; nothing was sent`);
  return text;
}

/**
 * The id of an oversized reply, from its head and tail: only when the head
 * says it is a reply and the id is provably its top-level member (the last
 * one before the closing brace, or the first after the opening one).
 */
function replyIdOf(head: string, tail: string): number | undefined {
  const first = /^\s*\{\s*"id"\s*:\s*(\d{1,15})\s*,\s*"(?:return|error)"/.exec(head);
  if (first) return Number(first[1]);
  if (!/^\s*\{\s*"(?:return|error)"\s*:/.test(head)) return undefined;
  const last = /,\s*"id"\s*:\s*(\d{1,15})\s*\}\s*$/.exec(tail);
  return last ? Number(last[1]) : undefined;
}

/** A short, safe rendering of a value from the peer, for messages. */
function excerpt(value: JsonValue | undefined): string {
  try {
    return (stringifyJson(value ?? null) ?? '').slice(0, EXCERPT);
  } catch {
    return '(unprintable)';
  }
}

function parseGreeting(msg: JsonObject, peer: string): QmpGreeting {
  const qmp = msg.QMP as JsonObject | undefined;
  const version = qmp?.version as QmpGreeting['version'] | undefined;
  const caps = qmp?.capabilities;
  if (!version || typeof version !== 'object' || !Array.isArray(caps)) {
    throw new ConnectionError('protocol', `${peer}: malformed QMP greeting: ${excerpt(msg)}`);
  }
  return { version, capabilities: caps.filter((c): c is string => typeof c === 'string') };
}

/** Opens the transport and performs the handshake; rejects with ConnectionError on failure, QmpUsageError on a bad option. */
export async function connect<C extends CommandMap<C> = Record<string, CommandSpec>, E = Record<string, JsonValue>, M = Methods>(
  target: Target,
  data: VersionData,
  options: ClientOptions = {},
): Promise<QmpClient<C, E, M>> {
  const { connectTimeout } = checkOptions(options);
  const signal = checkSignal(options.signal, 'signal');
  const started = Date.now();
  const stream = await openTransport(target, { timeout: connectTimeout, signal });
  const client = new QmpClient<C, E, M>(stream, data, options, describeTarget(target));
  // The greeting and negotiation share the connect budget.
  return client.open(signal, connectTimeout > 0 ? Math.max(1, connectTimeout - (Date.now() - started)) : 0);
}

/** A version's connectQmp: the client typed with its maps and checking with its descriptor. */
export function bindConnect<C extends CommandMap<C>, E, M>(
  data: VersionData,
): (target: Target, options?: ClientOptions) => Promise<QmpClient<C, E, M>> {
  return (target, options) => connect<C, E, M>(target, data, options);
}
