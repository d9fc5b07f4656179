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
import {
  excerpt,
  inInt64Mode,
  makeFacade,
  prepareCall,
  replyError,
  tappedRequest,
  splitParams,
  type CallOptions,
  type Methods,
  type ValidateMode,
} from '../core/calls.js';
import { Connection, invoke, type AgentProblem, type ClientProblem } from '../core/connection.js';
import { deadline } from '../core/deadline.js';
import {
  checkBoolean,
  checkChoice,
  checkCount,
  checkFunction,
  checkKeys,
  checkSignal,
  checkTimeout,
} from '../core/options.js';
import type { Call, StallInfo } from '../core/requests.js';
import {
  ConnectionError,
  describeThrown,
  HmpError,
  ProtocolError,
  QmpAbortError,
  QmpTimeoutError,
  QmpUsageError,
} from '../errors.js';
import { hmpCommandName, hmpError } from './hmp.js';
import type { SchemaDescriptor } from '../schema/descriptor.js';
import type { RuntimeTable } from '../schema/table.js';
import { deprecatedInput } from '../schema/deprecation.js';
import { supports, type SchemaQuery } from '../schema/query.js';
import { allowsOob } from '../schema/validate.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, type JsonObject } from '../wire/framing.js';
import type { ConnectOptions, Int64Mode, JsonValue } from '../wire/json.js';
import { checkTarget, describeTarget, openTransport, type Target } from '../wire/transport.js';
import {
  EventHub,
  type Disposable,
  type EventStream,
  type EventStreamOptions,
  type EventWait,
  type QmpEvent,
  type WaitOptions,
} from './events.js';
import { maskText, redact, redactReturn } from '../redact.js';

/** One command of a generated command map. */
export interface CommandSpec {
  args: unknown;
  /** The parameter list: [], [args?: X] or [args: X]. */
  params: readonly unknown[];
  returns: unknown;
}

export type CommandMap<C> = { [K in keyof C]: CommandSpec };

/**
 * A command's wire name: what `execute` takes. A named type, so that a
 * compiler error for an unknown command names it instead of listing them all.
 */
export type CommandName<C> = Extract<keyof C, string>;

export type { CallOptions, Methods, ValidateMode };

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
  /**
   * Check arguments before sending, against: 'generated' (the release's
   * schema: exact integer ranges; `true`, the default), 'live' (the running
   * QEMU's `query-qmp-schema`, fetched while connecting: what this build
   * has), 'both' (the release's first, then the running QEMU's), or
   * nothing (`false`).
   */
  validate?: true | ValidateMode;
  /** Largest message accepted from QEMU, in bytes (default 10 MiB). */
  maxMessageBytes?: number;
  /** Deepest nesting accepted in a message from QEMU (default 4096). */
  maxMessageDepth?: number;
  /** Largest request sent, in bytes (default 1 MiB; at most QEMU's 64 MiB). */
  maxRequestBytes?: number;
  /** In-band commands sent but not answered at most; more wait in a local queue (default 8, QMP's queue size). */
  maxInFlight?: number;
  /** Calls waiting for a slot this long with no reply coming trigger `onStall` (ms, default 5000; 0: never). */
  stallAfter?: number;
  /** Every message in and out, secrets redacted: for logs and tracing. */
  tap?: (entry: TapEntry) => void;
  /**
   * What to do with a request that uses something deprecated (the command,
   * an argument member or an enum value with the 'deprecated' feature),
   * which QEMU run with `-compat deprecated-input=reject` refuses: 'allow'
   * (default), 'warn' (a process warning, once per command and path) or
   * 'reject' (a QmpUsageError with code 'deprecated'; nothing is sent).
   */
  deprecated?: 'allow' | 'warn' | 'reject';
  /**
   * How 64-bit integers in replies and events arrive (default 'exact': a
   * number up to 2^53, a bigint beyond). Declare the same in `Register` for
   * the types. 'bigint' needs the release's schema (connectQmp has it).
   */
  int64?: Int64Mode;
}

/** A version's generated data the client uses at run time. */
export interface VersionData {
  schema?: SchemaDescriptor;
  table?: RuntimeTable;
  /** The release they come from ('7.2'): `qmp.release`. */
  release?: string;
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
  /** Requests written and not answered: in band, out of band, and those their caller gave up on. */
  outstanding: number;
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

type Params<C extends CommandMap<C>, K extends keyof C> = [...params: C[K]['params'], options?: CallOptions];

/** A facade method: the command's parameters, then optional call options. */
export type Method<C extends CommandMap<C>, K extends keyof C> = (...params: Params<C, K>) => Promise<C[K]['returns']>;

/** What the request layer keeps per call for this face. */
interface CallMeta {
  args: JsonObject | undefined;
}

export class QmpClient<
  C extends CommandMap<C> = Record<string, CommandSpec>,
  E = Record<string, JsonValue>,
  M = Methods,
> {
  /** QEMU's greeting: version and the capabilities it offered. */
  greeting!: QmpGreeting;
  /** Capabilities enabled by negotiation ('oob' when offered and wanted). */
  readonly enabled: string[] = [];

  readonly #conn: Connection<CallMeta>;
  #data: VersionData;
  readonly #peer: string;
  readonly #opts: CheckedOptions;
  readonly #hub: EventHub;
  #handshake?: { resolve(g: JsonObject): void; reject(e: Error): void };
  /** An id-less error may go to the oldest call: only the first one since the last in-band reply. */
  #idlessAllowed = true;
  #unmatched = 0;

  #cmd: M | undefined;
  /** The table of the release the types come from, when checks use another (version matching). */
  #facadeTable: RuntimeTable | undefined;
  /** The running QEMU's schema, once fetched; and the fetch while it runs. */
  #live: SchemaDescriptor | undefined;
  #liveFetch: Promise<SchemaDescriptor> | undefined;

  /**
   * The generated release whose schema checks arguments ('7.2'), or
   * undefined for a client without one. A client from `qapi-ts` picks the
   * newest release not newer than the QEMU it connected to.
   */
  get release(): string | undefined {
    return this.#data.release;
  }

  /**
   * @internal Checks with another release's schema and table from now on
   * (version matching). The `cmd` facade keeps the methods of the types'
   * release: a method the QEMU lacks is then refused by the checks.
   */
  useRelease(data: VersionData): void {
    this.#facadeTable ??= this.#data.table;
    this.#data = data;
  }

  /** Typed methods per command, e.g. `qmp.cmd.queryStatus()`; see the version's QmpMethods. Made on first use. */
  get cmd(): M {
    return (this.#cmd ??= makeFacade(this.#facadeTable ?? this.#data.table, 'QmpMethods', (command, params) =>
      this.#call(command, params, false),
    ) as M);
  }

  /** Use connectQmp() (or a version's connectQmp); this takes an open stream. */
  constructor(stream: Duplex, data: VersionData, options: ClientOptions, peer: string) {
    this.#data = data;
    this.#peer = peer;
    this.#opts = checkOptions(options, data);
    this.#hub = new EventHub((e) => this.#conn.report(e));
    const limits = { ...this.#opts, notSentHint: 'executeOob() passes this queue for commands that allow it' };
    this.#conn = new Connection<CallMeta>(stream, peer, limits, {
      message: (m, size) => this.#onMessage(m, size),
      framingError: (e, tail) => this.#onFramingError(e, tail),
      sending: (call) => this.#sending(call),
      sync: () =>
        this.#conn.report(
          new ProtocolError(
            'sync-byte',
            `${this.#peer}: a 0xFF byte, which QMP never sends: the partial message before it was dropped`,
          ),
        ),
      closing: (reason) => {
        this.#failHandshake(reason);
        this.#hub.close(reason);
      },
    });
  }

  /** @internal Reads the greeting and negotiates capabilities within `limit` ms. */
  async open(signal?: AbortSignal, limit = this.#opts.connectTimeout): Promise<this> {
    const started = Date.now();
    let armed: { dispose(): void } | undefined;
    try {
      const greeting = await new Promise<JsonObject>((resolve, reject) => {
        this.#handshake = { resolve, reject };
        const closed = this.#conn.closeReason;
        if (closed) reject(closed);
        armed = deadline({ timeout: limit, signal }, (why) =>
          this.#failHandshake(
            why.kind === 'abort'
              ? new ConnectionError('handshake-failed', `${this.#peer}: aborted`, { cause: why.reason })
              : new ConnectionError(
                  'greeting-timeout',
                  `${this.#peer}: connected, but no QMP greeting within ${limit} ms (is another client using this monitor? A guest agent's socket sends no greeting: use connectQga, or qapi-ts qga, for it)`,
                ),
          ),
        );
      });
      armed?.dispose();
      this.greeting = parseGreeting(greeting, this.#peer);
      const wanted = this.#opts.oob && this.greeting.capabilities.includes('oob') ? ['oob'] : [];
      // The negotiation shares the budget and the signal; however it fails, connect fails with a ConnectionError.
      const remaining = limit > 0 ? Math.max(1, limit - (Date.now() - started)) : 0;
      await this.#send(
        'qmp_capabilities',
        wanted.length ? { enable: wanted } : undefined,
        { timeout: remaining, signal, validate: false },
        false,
      ).catch((e: unknown) => {
        if (e instanceof ConnectionError) throw e;
        const why =
          e instanceof QmpTimeoutError
            ? `no reply to qmp_capabilities within ${limit} ms of connecting`
            : e instanceof QmpAbortError
              ? 'aborted'
              : `qmp_capabilities failed: ${describeThrown(e)}`;
        throw new ConnectionError('handshake-failed', `${this.#peer}: ${why}`, {
          cause: e instanceof QmpAbortError ? signal?.reason : e,
        });
      });
      this.enabled.push(...wanted);
      this.#hub.start();
      if (this.#opts.validate === 'live' || this.#opts.validate === 'both') {
        const left = limit > 0 ? Math.max(1, limit - (Date.now() - started)) : 0;
        await this.schema({ timeout: left, signal }).catch((e: unknown) => {
          if (e instanceof ConnectionError) throw e;
          throw new ConnectionError(
            'handshake-failed',
            `${this.#peer}: validate: '${this.#opts.validate}' needs the running QEMU's schema, and query-qmp-schema failed: ${describeThrown(e)}`,
            { cause: e },
          );
        });
      }
      return this;
    } catch (e) {
      this.#conn.close(
        e instanceof ConnectionError
          ? e
          : new ConnectionError('handshake-failed', `${this.#peer}: ${String(e)}`, { cause: e }),
      );
      throw e;
    } finally {
      armed?.dispose();
    }
  }

  /** Runs a command and resolves with its typed return value; rejects with QmpError when QEMU says no. */
  execute<K extends CommandName<C>>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    return this.#call(command, params, false);
  }

  /**
   * Runs a command out of band (exec-oob): only for commands that allow it,
   * on a monitor with oob enabled. It does not wait behind in-band requests,
   * so it is the way through when QEMU leaves them unanswered (e.g.
   * `migrate-recover`, `migrate-pause`, `yank`).
   */
  executeOob<K extends CommandName<C>>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    return this.#call(command, params, true);
  }

  /** Any command by name, unchecked and untyped: for commands this version does not know. */
  executeRaw(command: string, args?: JsonObject, options?: CallOptions): Promise<JsonValue> {
    return this.#send(command, args, { ...options, validate: false }, false);
  }

  /**
   * The running QEMU's own schema (`query-qmp-schema`): what this build
   * has, type names masked as introspection masks them. Fetched once and
   * kept (a failed fetch is tried again next time); `options` apply to the
   * fetch that runs.
   */
  schema(options?: Pick<CallOptions, 'timeout' | 'signal'>): Promise<SchemaDescriptor> {
    if (this.#live) return Promise.resolve(this.#live);
    let limits: { timeout: number; signal: AbortSignal | undefined };
    try {
      const o = checkKeys<CallOptions>(options, ['timeout', 'signal'], 'schema: options');
      limits = {
        timeout: checkTimeout(o.timeout ?? this.#opts.timeout, 'schema: timeout'),
        signal: checkSignal(o.signal, 'schema: signal'),
      };
    } catch (e) {
      return Promise.reject(e);
    }
    // One fetch for every caller, with the client's own timeout; each caller's limits apply to its wait only.
    this.#liveFetch ??= this.#send('query-qmp-schema', undefined, { validate: false }, false).then(
      (reply) => {
        this.#liveFetch = undefined;
        if (!Array.isArray(reply) || !reply.every((e) => isEntry(e)))
          throw new ProtocolError(
            'unknown-shape',
            `${this.#peer}: query-qmp-schema returned something else than a schema`,
          );
        return (this.#live = reply as unknown as SchemaDescriptor);
      },
      (e: unknown) => {
        this.#liveFetch = undefined;
        throw e;
      },
    );
    const fetch = this.#liveFetch;
    return new Promise<SchemaDescriptor>((resolve, reject) => {
      const armed = deadline(limits, (why) =>
        reject(
          why.kind === 'abort'
            ? new QmpAbortError('query-qmp-schema', why.reason)
            : new QmpTimeoutError('query-qmp-schema', limits.timeout),
        ),
      );
      fetch.then(
        (v) => {
          armed.dispose();
          resolve(v);
        },
        (e: unknown) => {
          armed.dispose();
          reject(e);
        },
      );
    });
  }

  /**
   * Whether the running QEMU has something, asked of its own schema
   * (fetched once): a libvirt-style path
   * ('blockdev-add/arg-type/+file/aio/^io_uring') or the typed form
   * (`{ command: 'blockdev-add', path: ['+file', 'aio'], value: 'io_uring' }`).
   * See `supports` for the grammar; it answers the same of any descriptor.
   */
  async supports(query: string | SchemaQuery<CommandName<C>, keyof E & string>): Promise<boolean> {
    return supports(await this.schema(), query);
  }

  /**
   * An HMP command line through human-monitor-command; resolves with its
   * output. HMP answers errors as text in a successful reply: with `check`,
   * output that says an error (hmpError()) rejects with HmpError instead.
   */
  async hmp(commandLine: string, options?: CallOptions & { cpuIndex?: number; check?: boolean }): Promise<string> {
    const args: JsonObject = { 'command-line': commandLine };
    if (options?.cpuIndex !== undefined) args['cpu-index'] = options.cpuIndex;
    const { cpuIndex: _, check, ...callOptions } = options ?? {};
    const output = (await this.#send('human-monitor-command', args, callOptions, false)) as string;
    const error = check ? hmpError(output) : undefined;
    if (error !== undefined) throw new HmpError(hmpCommandName(commandLine), error);
    return output;
  }

  /** Calls `listener` for each event of that name until disposed. */
  on<N extends keyof E & string>(name: N, listener: (event: QmpEvent<N, E[N]>) => void): Disposable {
    return this.#hub.on(name, listener);
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
  events<N extends keyof E & string>(
    name?: N | readonly N[],
    options?: EventStreamOptions,
  ): EventStream<QmpEvent<N, E[N]>> {
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
    return this.#hub.wait(name, predicate, options) as EventWait<QmpEvent<N, E[N]>>;
  }

  /**
   * Problems that do not belong to a call: a message from the peer that
   * could not be used (garbage, oversized, too deep, a reply for no call),
   * or a listener, tap or stall callback of yours that threw.
   */
  onError(listener: (problem: ClientProblem) => void): Disposable {
    // This face never reports a QmpError there.
    return this.#conn.onError(listener as (problem: AgentProblem) => void);
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
      outstanding: r.outstanding,
      lateReplies: r.lateReplies,
      errors: this.#conn.errors,
      unmatchedReplies: this.#unmatched,
      droppedEarlyEvents: this.#hub.droppedEarly,
    };
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
    // Derived, not kept: closed with the connection, ready once the greeting is read.
    const state = !this.#conn.isOpen ? 'closed' : this.greeting ? 'ready' : 'handshake';
    const v = this.greeting?.version.qemu;
    const { inFlight, queued } = this.#conn.requests;
    return `QmpClient { peer: ${JSON.stringify(this.#peer)}, state: '${state}'${v ? `, qemu: '${v.major}.${v.minor}.${v.micro}'` : ''}, inFlight: ${inFlight}, queued: ${queued} }`;
  }

  // -- sending ------------------------------------------------------------

  #call(command: string, params: unknown[], oob: boolean): Promise<JsonValue> {
    let split: [JsonObject | undefined, CallOptions | undefined];
    try {
      // Whether the one parameter is arguments or call options: by the schema that checks them.
      split = splitParams(command, params, this.#opts.validate === 'live' ? this.#live : this.#data.schema);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#send(command, split[0], split[1], oob);
  }

  /** Everything that can go wrong before sending becomes a rejection, never a throw. */
  #send(
    command: string,
    args: JsonObject | undefined,
    options: CallOptions | undefined,
    oob: boolean,
  ): Promise<JsonValue> {
    const closed = this.#conn.closeReason;
    if (closed) return Promise.reject(closed);
    let call;
    try {
      this.#checkOob(command, oob);
      call = prepareCall(command, args, options, {
        schema: this.#data.schema,
        live: this.#live,
        table: this.#data.table,
        validate: this.#opts.validate,
        release: this.#data.release,
        typesTable: this.#facadeTable,
        maxRequestBytes: this.#opts.maxRequestBytes,
        timeout: this.#opts.timeout,
        oob,
        id: () => this.#conn.requests.allocateId(),
      });
    } catch (e) {
      return Promise.reject(e);
    }
    let refused: QmpUsageError | undefined;
    try {
      refused = this.#checkDeprecated(command, call.sent);
    } catch (e) {
      return Promise.reject(e);
    }
    if (refused) return Promise.reject(refused);
    return this.#conn.requests.submit(call.id, command, oob, call.text, { args: call.sent }, call.limits);
  }

  /** Under the deprecated option: the error refusing the call, or undefined (after a warning, if asked). */
  #checkDeprecated(command: string, args: JsonObject | undefined): QmpUsageError | undefined {
    const policy = this.#opts.deprecated;
    const schema = this.#data.schema ?? this.#live;
    if (policy === 'allow' || !schema) return undefined;
    const uses = deprecatedInput(schema, command, args);
    if (!uses.length) return undefined;
    const what = uses.map((u) => (u.path === '$' ? u.message : `${u.path}: ${u.message}`)).join('; ');
    if (policy === 'reject')
      return new QmpUsageError(
        'deprecated',
        `${command}: ${what} (QEMU refuses it under -compat deprecated-input=reject); nothing was sent`,
      );
    for (const u of uses)
      warnOnce(`${command} ${u.path}`, `${command}: ${u.path === '$' ? u.message : `${u.path}: ${u.message}`}`);
    return undefined;
  }

  #checkOob(command: string, oob: boolean): void {
    if (!oob) return;
    if (!this.enabled.includes('oob')) {
      throw new QmpUsageError(
        'oob-unavailable',
        `${command}: out-of-band execution needs a monitor with the 'oob' capability enabled`,
      );
    }
    if (this.#data.schema && !allowsOob(this.#data.schema, command)) {
      throw new QmpUsageError('oob-unavailable', `${command}: this command does not allow out-of-band execution`);
    }
  }

  #sending(call: Call<CallMeta>): void {
    if (this.#opts.tap) this.#tap('out', tappedRequest(call));
  }

  #tap(direction: 'in' | 'out', message: JsonObject): void {
    invoke(this.#opts.tap!, { direction, message }, 'tap', (e) => this.#conn.report(e));
  }

  // -- receiving ----------------------------------------------------------

  #onMessage(msg: JsonObject, size: number): void {
    if (typeof msg.event === 'string') {
      if (this.#opts.tap) this.#tapIn(msg);
      if (this.#opts.int64 !== 'exact' && 'data' in msg) {
        const data = this.#int64(msg.data, { event: msg.event });
        if ('error' in data) return this.#conn.report(data.error);
        msg.data = data.value;
      }
      this.#hub.emit(msg as unknown as QmpEvent, size);
      return;
    }
    if ('QMP' in msg) {
      this.#tapIn(msg);
      if (this.#handshake) this.#handshake.resolve(msg);
      else
        this.#conn.report(new ProtocolError('unknown-shape', `${this.#peer}: a second greeting`, excerpt(redact(msg))));
      this.#handshake = undefined;
      return;
    }
    if (this.#handshake) {
      // Before the greeting only events may come: this peer does not speak QMP (or not as a server).
      this.#tapIn(msg);
      this.#failHandshake(
        new ConnectionError(
          'protocol',
          `${this.#peer}: not a QMP peer: expected a greeting, got ${excerpt(redact(msg))}`,
        ),
      );
      return;
    }
    if ('return' in msg || 'error' in msg) {
      this.#onReply(msg);
      return;
    }
    this.#tapIn(msg);
    this.#conn.report(
      new ProtocolError('unknown-shape', `${this.#peer}: a message of unknown shape`, excerpt(redact(msg))),
    );
  }

  #onReply(msg: JsonObject): void {
    const call = this.#callFor(msg);
    if (this.#opts.tap) {
      this.#tapIn(
        call && 'return' in msg
          ? { ...msg, return: redactReturn(call.command, call.meta?.args, msg.return) as JsonValue }
          : msg,
      );
    }
    if (!call) {
      this.#unmatched++;
      const why =
        'id' in msg
          ? `a reply for no request (id ${excerpt(msg.id)})`
          : `a reply without id that cannot be attributed to a request`;
      this.#conn.report(new ProtocolError('unmatched-reply', `${this.#peer}: ${why}`, excerpt(redact(msg))));
      return;
    }
    let outcome: { value: JsonValue } | { error: Error };
    if ('error' in msg) {
      outcome = { error: replyError(msg, call.command, call.meta?.args, 'id' in msg ? undefined : 'QEMU') };
    } else {
      outcome = this.#int64(msg.return, { command: call.command });
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
    // The first id-less error closes the gate whether or not a call was waiting: the rest of its flood is nobody's.
    this.#idlessAllowed = false;
    return this.#conn.requests.oldestInBand();
  }

  #onFramingError(e: ProtocolError, tail?: string): void {
    const shown = maskText(e.excerpt);
    if (this.#handshake) {
      this.#failHandshake(new ConnectionError('protocol', `${this.#peer}: not a QMP peer: ${e.message}: ${shown}`));
      return;
    }
    if (e.code === 'oversized') {
      // Blamed on a call only when the message is provably its reply: a reply's head and its id.
      const id = replyIdOf(e.excerpt, tail ?? '');
      const call = id === undefined ? undefined : this.#conn.requests.sent(id);
      if (call) {
        if (!call.oob) this.#idlessAllowed = true;
        this.#conn.requests.settle(call, {
          error: new ProtocolError(
            'oversized',
            `${call.command}: the reply exceeded ${this.#opts.maxMessageBytes} bytes and was discarded`,
            shown,
          ),
        });
        return;
      }
    }
    this.#conn.report(new ProtocolError(e.code, `${this.#peer}: ${e.message}`, shown));
  }

  #int64(
    value: JsonValue,
    target: { command: string } | { event: string },
  ): { value: JsonValue } | { error: ProtocolError } {
    return inInt64Mode(this.#opts.int64, this.#data.schema, value, target);
  }

  #tapIn(msg: JsonObject): void {
    if (this.#opts.tap) this.#tap('in', redact(msg) as JsonObject);
  }

  #failHandshake(e: ConnectionError): void {
    const h = this.#handshake;
    this.#handshake = undefined;
    h?.reject(e);
  }
}

type CheckedOptions = Required<Omit<ClientOptions, 'tap' | 'signal' | 'validate'>> &
  Pick<ClientOptions, 'tap'> & { validate: ValidateMode };

const CLIENT_OPTIONS = [
  'timeout',
  'connectTimeout',
  'signal',
  'oob',
  'validate',
  'maxMessageBytes',
  'maxMessageDepth',
  'maxRequestBytes',
  'maxInFlight',
  'stallAfter',
  'tap',
  'int64',
  'deprecated',
] as const;

const warnedDeprecated = new Set<string>();

/** A process warning about a deprecated use, once per command and path (a bounded memory of them). */
function warnOnce(key: string, message: string): void {
  // Per schema path, not per array index: an array of a thousand deprecated items warns once.
  const at = key.replace(/\[\d+\]/g, '[]');
  if (warnedDeprecated.has(at)) return;
  if (warnedDeprecated.size >= 1024) warnedDeprecated.delete(warnedDeprecated.values().next().value!);
  warnedDeprecated.add(at);
  process.emitWarning(message, { code: 'QAPI_TS_DEPRECATED' });
}

/** The validate option as a mode: true is the release's schema. */
function checkValidate(value: unknown): ValidateMode {
  if (value === undefined || value === true) return 'generated';
  if (value === false) return false;
  return checkChoice(value, ['generated', 'live', 'both'] as const, 'validate')!;
}

/** An introspection entry, as far as the client relies on it. */
function isEntry(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { name?: unknown }).name === 'string' &&
    typeof (e as { 'meta-type'?: unknown })['meta-type'] === 'string'
  );
}

/** A QMP request beyond this is refused unless maxRequestBytes says more: QEMU reads about 175 KB/s. */
const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/** The client's options with defaults, each checked: a bad one is a QmpUsageError naming it. */
function checkOptions(options: unknown, data: VersionData): CheckedOptions {
  const o = checkKeys<ClientOptions>(options, CLIENT_OPTIONS, 'client options');
  if (o.int64 === 'bigint' && !data.schema) {
    throw new QmpUsageError(
      'bad-option',
      "int64: 'bigint' needs a release's schema to know where 64-bit integers are: use a release's connectQmp",
    );
  }
  return {
    timeout: checkTimeout(o.timeout ?? 60_000, 'timeout'),
    connectTimeout: checkTimeout(o.connectTimeout ?? 10_000, 'connectTimeout'),
    oob: checkBoolean(o.oob, 'oob') ?? true,
    validate: checkValidate(o.validate),
    maxMessageBytes: checkCount(
      o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      'maxMessageBytes',
      false,
      MAX_MESSAGE_BYTES,
    ),
    maxMessageDepth: checkCount(o.maxMessageDepth ?? DEFAULT_MAX_DEPTH, 'maxMessageDepth'),
    maxRequestBytes: checkCount(o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, 'maxRequestBytes'),
    maxInFlight: checkCount(o.maxInFlight ?? 8, 'maxInFlight', true),
    stallAfter: checkTimeout(o.stallAfter ?? 5000, 'stallAfter'),
    tap: checkFunction<ClientOptions['tap']>(o.tap, 'tap'),
    int64: checkChoice(o.int64, ['exact', 'number', 'bigint'] as const, 'int64') ?? 'exact',
    deprecated: checkChoice(o.deprecated, ['allow', 'warn', 'reject'] as const, 'deprecated') ?? 'allow',
  };
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

function parseGreeting(msg: JsonObject, peer: string): QmpGreeting {
  const qmp = msg.QMP;
  const body = typeof qmp === 'object' && qmp !== null && !Array.isArray(qmp) ? qmp : {};
  const version = body.version as { qemu?: Record<string, unknown>; package?: unknown } | undefined;
  const q = version?.qemu;
  const numbers = q && [q.major, q.minor, q.micro].every((n) => typeof n === 'number' && Number.isSafeInteger(n));
  if (!numbers || !Array.isArray(body.capabilities)) {
    throw new ConnectionError('protocol', `${peer}: malformed QMP greeting: ${excerpt(redact(msg))}`);
  }
  return {
    version: {
      qemu: { major: q.major as number, minor: q.minor as number, micro: q.micro as number },
      package: typeof version.package === 'string' ? version.package : '',
    },
    capabilities: body.capabilities.filter((c): c is string => typeof c === 'string'),
  };
}

/** Opens the transport and performs the handshake; rejects with ConnectionError on failure, QmpUsageError on a bad option. */
export async function connect<
  C extends CommandMap<C> = Record<string, CommandSpec>,
  E = Record<string, JsonValue>,
  M = Methods,
>(target: Target, data: VersionData, options?: ClientOptions): Promise<QmpClient<C, E, M>> {
  const checked = checkTarget(target);
  const { connectTimeout } = checkOptions(options, data);
  const signal = checkSignal(options?.signal, 'signal');
  const started = Date.now();
  const stream = await openTransport(checked, { timeout: connectTimeout, signal });
  const client = new QmpClient<C, E, M>(stream, data, options ?? {}, describeTarget(checked));
  // The greeting and negotiation share the connect budget.
  return client.open(signal, connectTimeout > 0 ? Math.max(1, connectTimeout - (Date.now() - started)) : 0);
}

/** A version's connectQmp: the client typed with its maps and checking with its descriptor. */
export function bindConnect<C extends CommandMap<C>, E, M>(data: VersionData): ConnectQmp<C, E, M> {
  return (target, ...options) => connect<C, E, M>(target, data, options[0]);
}

/**
 * A release's connectQmp. A named type, so that declarations keep `ConnectOptions` unresolved:
 * it depends on the program's own `Register`.
 */
export type ConnectQmp<C extends CommandMap<C>, E, M> = (
  target: Target,
  ...options: ConnectOptions<ClientOptions>
) => Promise<QmpClient<C, E, M>>;
