/**
 * The QMP client: greeting and capability negotiation, id correlation with a
 * bounded number of in-flight commands, out-of-band execution, typed events,
 * timeouts and cancellation. It is generic over a version's generated
 * command and event maps and has no per-command code.
 */
import type { Duplex } from 'node:stream';
import type { SchemaDescriptor } from './descriptor.js';
import {
  ConnectionError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
  QmpValidationError,
} from './errors.js';
import { EventHub, type Disposable, type EventStreamOptions, type QmpEvent } from './events.js';
import { FramingError, MessageDecoder, type JsonObject } from './framing.js';
import { stringifyJson, type JsonValue } from './json.js';
import { redact, redactRequest } from './redact.js';
import type { RuntimeTable } from './table.js';
import { describeTarget, openTransport, type Target } from './transport.js';
import { validate } from './validate.js';

/** One command of a generated command map. */
export interface CommandSpec {
  args: unknown;
  /** The parameter list: [], [args?: X] or [args: X]. */
  params: readonly unknown[];
  returns: unknown;
}

export type CommandMap<C> = { [K in keyof C]: CommandSpec };

export interface CallOptions {
  /** Milliseconds to wait for the reply; overrides the client's timeout. 0 waits forever. */
  timeout?: number;
  signal?: AbortSignal;
  /** Check the arguments against the schema before sending (default: the client's setting). */
  validate?: boolean;
}

export interface TapEntry {
  direction: 'out' | 'in';
  /** The message, secrets redacted. */
  message: JsonObject;
}

export interface ClientOptions {
  /** Default reply timeout per call in ms (default 60 000; 0 waits forever). */
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
  /** In-band commands sent but not answered at most; more wait in a local queue (default 8, QMP's queue size). */
  maxInFlight?: number;
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

interface Pending {
  id: number;
  command: string;
  message: JsonObject;
  /** The message as written on the wire. */
  text: string;
  oob: boolean;
  resolve(v: JsonValue): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
  cleanup?(): void;
  /** Sent and still counted against maxInFlight. */
  sent: boolean;
  /** The caller has given up (timeout, abort); a late reply is dropped. */
  abandoned: boolean;
}

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

export class QmpClient<
  C extends CommandMap<C> = Record<string, CommandSpec>,
  E = Record<string, JsonValue>,
  M = Methods,
> {
  /** QEMU's greeting: version and the capabilities it offered. */
  greeting!: QmpGreeting;
  /** Capabilities enabled by negotiation ('oob' when offered and wanted). */
  readonly enabled: string[] = [];
  /** Replies that arrived after their call timed out or was aborted (dropped). */
  lateReplies = 0;
  /** Messages from QEMU that could not be read (garbage, oversized, unknown shape), and errors thrown by the tap or event listeners. */
  readonly protocolErrors: Error[] = [];

  private state = State.Handshake;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  /** Ids of sent in-band requests in send order, for replies that carry no id. */
  private readonly order: number[] = [];
  private inFlight = 0;
  /** A throwing listener must not break the protocol: its error is kept with the protocol errors. */
  private readonly hub = new EventHub((e) => this.protocolError(e));
  private readonly decoder: MessageDecoder;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;
  private closeReason: ConnectionError | undefined;
  private handshake?: { resolve(g: JsonObject): void; reject(e: Error): void };
  private readonly opts: Required<Omit<ClientOptions, 'tap' | 'signal'>> & Pick<ClientOptions, 'tap'>;
  private noArgs: Set<string> | undefined;

  /** Typed methods per command, e.g. `qmp.cmd.queryStatus()`; see the version's QmpMethods. */
  readonly cmd: M;

  /** Use connectQmp() (or a version's connectQmp); this takes an open stream. */
  constructor(
    private readonly stream: Duplex,
    private readonly data: VersionData,
    options: ClientOptions,
    private readonly peer: string,
  ) {
    this.opts = {
      timeout: options.timeout ?? 60_000,
      connectTimeout: options.connectTimeout ?? 10_000,
      oob: options.oob ?? true,
      validate: options.validate ?? true,
      maxMessageBytes: options.maxMessageBytes ?? 10 * 1024 * 1024,
      maxInFlight: options.maxInFlight ?? 8,
      tap: options.tap,
    };
    this.closedPromise = new Promise((r) => (this.markClosed = r));
    this.decoder = new MessageDecoder(
      { message: (m) => this.onMessage(m), error: (e) => this.onFramingError(e) },
      this.opts.maxMessageBytes,
    );
    stream.on('data', (chunk: Buffer | string) => this.decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => {
      this.decoder.end();
      this.shutdown(new ConnectionError('closed', `${this.peer}: QEMU closed the connection`));
    });
    stream.on('close', () => this.shutdown(new ConnectionError('closed', `${this.peer}: connection closed`)));
    stream.on('error', (e: NodeJS.ErrnoException) =>
      this.shutdown(new ConnectionError('closed', `${this.peer}: ${e.code ?? e.message}`, { cause: e })),
    );
    this.cmd = this.makeFacade() as M;
  }

  /** @internal Reads the greeting and negotiates capabilities. */
  async open(signal?: AbortSignal, limit = this.opts.connectTimeout): Promise<this> {
    const deadline = Date.now() + limit;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => this.failHandshake(new ConnectionError('handshake-failed', `${this.peer}: aborted`, { cause: signal?.reason }));
    try {
      const greeting = await new Promise<JsonObject>((resolve, reject) => {
        this.handshake = { resolve, reject };
        timer = setTimeout(
          () =>
            this.failHandshake(
              new ConnectionError(
                'greeting-timeout',
                `${this.peer}: connected, but no QMP greeting within ${limit} ms (is another client using this monitor?)`,
              ),
            ),
          limit,
        );
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        if (this.state === State.Closed) reject(this.closeReason);
      });
      this.greeting = parseGreeting(greeting, this.peer);
      const wanted = this.opts.oob && this.greeting.capabilities.includes('oob') ? ['oob'] : [];
      this.state = State.Ready;
      // The negotiation shares the budget and the signal; however it fails, connect fails with a ConnectionError.
      await this.send(
        'qmp_capabilities',
        wanted.length ? { enable: wanted } : undefined,
        { timeout: Math.max(1, deadline - Date.now()), signal, validate: false },
        false,
      ).catch((e: Error) => {
        if (e instanceof ConnectionError) throw e;
        const why =
          e instanceof QmpTimeoutError
            ? `no reply to qmp_capabilities within ${limit} ms of connecting`
            : e instanceof QmpAbortError
              ? 'aborted'
              : `qmp_capabilities failed: ${e.message}`;
        throw new ConnectionError('handshake-failed', `${this.peer}: ${why}`, { cause: e instanceof QmpAbortError ? signal?.reason : e });
      });
      this.enabled.push(...wanted);
      this.hub.start();
      return this;
    } catch (e) {
      this.stream.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Runs a command and resolves with its typed return value; rejects with QmpError when QEMU says no. */
  execute<K extends keyof C & string>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    const [args, options] = this.splitParams(command, params as unknown[]);
    return this.send(command, args, options, false) as Promise<C[K]['returns']>;
  }

  /** Runs a command out of band (exec-oob): only for commands that allow it, on a monitor with oob enabled. */
  executeOob<K extends keyof C & string>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    const [args, options] = this.splitParams(command, params as unknown[]);
    return this.send(command, args, options, true) as Promise<C[K]['returns']>;
  }

  /** Any command by name, unchecked and untyped: for commands this version does not know. */
  executeRaw(command: string, args?: JsonObject, options?: CallOptions): Promise<JsonValue> {
    return this.send(command, args, { ...options, validate: false }, false);
  }

  /** An HMP command line through human-monitor-command; resolves with its output. */
  async hmp(commandLine: string, options?: CallOptions & { cpuIndex?: number }): Promise<string> {
    const args: JsonObject = { 'command-line': commandLine };
    if (options?.cpuIndex !== undefined) args['cpu-index'] = options.cpuIndex;
    return (await this.send('human-monitor-command', args, options, false)) as string;
  }

  /** Calls `listener` for each event of that name until disposed. */
  on<N extends keyof E & string>(name: N, listener: (event: QmpEvent<N, E[N]>) => void): Disposable {
    return this.hub.on(name, listener as (e: QmpEvent) => void);
  }

  /** Calls `listener` for every event, known to this version or not. */
  onAny(listener: (event: QmpEvent<string, JsonValue>) => void): Disposable {
    return this.hub.on(undefined, listener);
  }

  /**
   * Events as an async iterable. The buffer is bounded: when the consumer
   * falls behind, the oldest events are dropped and counted in `dropped`.
   * Ends when the connection closes.
   */
  events<N extends keyof E & string>(name?: N | readonly N[], options?: EventStreamOptions): AsyncIterableIterator<QmpEvent<N, E[N]>> & { readonly dropped: number } {
    return this.hub.stream(name, options) as AsyncIterableIterator<QmpEvent<N, E[N]>> & { readonly dropped: number };
  }

  /**
   * The next event of that name (matching `predicate`), armed now: call it
   * before the command that triggers the event, then await it.
   */
  waitForEvent<N extends keyof E & string>(
    name: N,
    predicate?: (event: QmpEvent<N, E[N]>) => boolean,
    options?: { timeout?: number; signal?: AbortSignal },
  ): Promise<QmpEvent<N, E[N]>> {
    return this.hub.wait(name, predicate as ((e: QmpEvent) => boolean) | undefined, options) as Promise<QmpEvent<N, E[N]>>;
  }

  /** Resolves when the connection is gone, whoever closed it. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  get isOpen(): boolean {
    return this.state !== State.Closed;
  }

  /** Closes the connection; pending calls reject with ConnectionError('closed'). */
  async close(): Promise<void> {
    if (this.state !== State.Closed) {
      this.shutdown(new ConnectionError('closed', `${this.peer}: closed by the client`));
    }
    await this.closedPromise;
  }

  // -- sending ------------------------------------------------------------

  private splitParams(command: string, params: unknown[]): [JsonObject | undefined, CallOptions | undefined] {
    if (params.length >= 2) return [params[0] as JsonObject | undefined, params[1] as CallOptions | undefined];
    if (params.length === 1 && this.takesNoArguments(command)) return [undefined, params[0] as CallOptions];
    return [params[0] as JsonObject | undefined, undefined];
  }

  private takesNoArguments(command: string): boolean {
    if (!this.noArgs) {
      this.noArgs = new Set();
      const byName = new Map((this.data.schema ?? []).map((e) => [e.name, e]));
      for (const e of this.data.schema ?? []) {
        if (e['meta-type'] !== 'command') continue;
        const arg = byName.get(e['arg-type']);
        if (arg && arg['meta-type'] === 'object' && arg.members.length === 0 && !arg.variants) this.noArgs.add(e.name);
      }
    }
    return this.noArgs.has(command);
  }

  private send(command: string, args: JsonObject | undefined, options: CallOptions | undefined, oob: boolean): Promise<JsonValue> {
    if (this.state === State.Closed) return Promise.reject(this.closeReason);
    const info = this.data.table?.commands[command];
    if (oob) {
      if (!this.enabled.includes('oob')) {
        return Promise.reject(new QmpUsageError(`${command}: out-of-band execution needs a monitor with the 'oob' capability enabled`));
      }
      if (this.data.table && !info?.oob) {
        return Promise.reject(new QmpUsageError(`${command}: this command does not allow out-of-band execution`));
      }
    }
    if ((options?.validate ?? this.opts.validate) && this.data.schema) {
      const problems = validate(this.data.schema, { command, direction: 'arguments' }, args ?? {});
      if (problems.length) return Promise.reject(new QmpValidationError(command, problems));
    }
    const id = this.nextId++;
    const message: JsonObject = oob ? { 'exec-oob': command } : { execute: command };
    if (args !== undefined) message.arguments = args;
    message.id = id;
    // Written now, so that arguments with no JSON form fail this call alone, before it takes a slot.
    let text: string;
    try {
      text = stringifyJson(message);
    } catch (e) {
      return Promise.reject(new QmpUsageError(`${command}: the arguments cannot be written as JSON: ${(e as Error).message}`, { cause: e }));
    }

    return new Promise<JsonValue>((resolve, reject) => {
      const p: Pending = { id, command, message, text, oob, resolve, reject, sent: false, abandoned: false };
      const timeout = options?.timeout ?? this.opts.timeout;
      if (timeout > 0) p.timer = setTimeout(() => this.abandon(p, new QmpTimeoutError(command, timeout)), timeout);
      const signal = options?.signal;
      if (signal) {
        if (signal.aborted) return this.abandon(p, new QmpAbortError(command, signal.reason));
        const onAbort = () => this.abandon(p, new QmpAbortError(command, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        p.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.pending.set(id, p);
      if (oob || this.inFlight < this.opts.maxInFlight) this.write(p);
      else this.queue.push(p);
    });
  }

  private write(p: Pending): void {
    p.sent = true;
    if (!p.oob) {
      this.inFlight++;
      this.order.push(p.id);
    }
    this.tapped('out', p.message);
    this.stream.write(p.text);
  }

  /** A throwing tap must not break the protocol: its error is kept with the protocol errors. */
  private tapped(direction: 'in' | 'out', message: JsonObject): void {
    if (!this.opts.tap) return;
    try {
      this.opts.tap({ direction, message: direction === 'in' ? (redact(message) as JsonObject) : redactRequest(message) });
    } catch (e) {
      this.protocolError(e as Error);
    }
  }

  /** The caller stops waiting; a sent request keeps its slot until QEMU answers. */
  private abandon(p: Pending, err: Error): void {
    if (p.abandoned) return;
    p.abandoned = true;
    clearTimeout(p.timer);
    p.cleanup?.();
    if (!p.sent) {
      this.pending.delete(p.id);
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
    }
    p.reject(err);
  }

  private settle(p: Pending): void {
    this.pending.delete(p.id);
    clearTimeout(p.timer);
    p.cleanup?.();
    if (!p.oob) {
      this.inFlight--;
      const i = this.order.indexOf(p.id);
      if (i >= 0) this.order.splice(i, 1);
    }
    while (this.queue.length && this.inFlight < this.opts.maxInFlight) this.write(this.queue.shift()!);
  }

  // -- receiving ----------------------------------------------------------

  private onMessage(msg: JsonObject): void {
    this.tapped('in', msg);
    if ('QMP' in msg) {
      if (this.handshake) this.handshake.resolve(msg);
      else this.protocolError(new ConnectionError('protocol', `${this.peer}: unexpected second greeting`));
      this.handshake = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      this.hub.emit(msg as unknown as QmpEvent);
      return;
    }
    if (this.handshake) {
      // Before the greeting only events may come: this peer does not speak QMP (or not as a server).
      this.failHandshake(
        new ConnectionError('protocol', `${this.peer}: not a QMP peer: expected a greeting, got ${JSON.stringify(msg).slice(0, 120)}`),
      );
      return;
    }
    if ('return' in msg || 'error' in msg) {
      this.onReply(msg);
      return;
    }
    this.protocolError(new ConnectionError('protocol', `${this.peer}: a message of unknown shape: ${JSON.stringify(msg).slice(0, 120)}`));
  }

  private onReply(msg: JsonObject): void {
    const hasId = 'id' in msg;
    // QEMU answers a request it could not parse without an id: that is the oldest one it has.
    const id = hasId ? msg.id : this.order[0];
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p || !p.sent) {
      this.protocolError(new ConnectionError('protocol', `${this.peer}: a reply for no request (id ${JSON.stringify(msg.id)})`));
      return;
    }
    this.settle(p);
    if (p.abandoned) {
      this.lateReplies++;
      return;
    }
    if ('error' in msg) {
      const err = (msg.error ?? {}) as JsonObject;
      const cls = typeof err.class === 'string' ? err.class : 'GenericError';
      const desc = typeof err.desc === 'string' ? err.desc : JSON.stringify(err);
      const args = redact(p.message.arguments, p.command);
      p.reject(new QmpError(cls, hasId ? desc : `QEMU could not read the request: ${desc}`, p.command, hasId ? msg.id : undefined, args));
    } else {
      p.resolve(msg.return as JsonValue);
    }
  }

  private onFramingError(e: FramingError): void {
    if (this.handshake) {
      this.failHandshake(new ConnectionError('protocol', `${this.peer}: not a QMP peer: ${e.message}: ${e.excerpt}`, { cause: e }));
      return;
    }
    // A reply too large to keep was most likely the answer to the oldest request.
    if (e.message.startsWith('message larger') && this.order.length) {
      const p = this.pending.get(this.order[0])!;
      this.settle(p);
      if (!p.abandoned) p.reject(new ConnectionError('protocol', `${p.command}: the reply exceeded ${this.opts.maxMessageBytes} bytes and was discarded`, { cause: e }));
      return;
    }
    this.protocolError(e);
  }

  private protocolError(e: Error): void {
    if (this.protocolErrors.length < 100) this.protocolErrors.push(e);
  }

  private failHandshake(e: ConnectionError): void {
    const h = this.handshake;
    this.handshake = undefined;
    h?.reject(e);
  }

  private shutdown(reason: ConnectionError): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.closeReason = reason;
    this.failHandshake(reason);
    for (const p of [...this.pending.values()]) {
      clearTimeout(p.timer);
      p.cleanup?.();
      if (!p.abandoned) p.reject(reason);
    }
    this.pending.clear();
    this.queue.length = 0;
    this.order.length = 0;
    this.inFlight = 0;
    this.hub.close(reason);
    this.stream.destroy();
    this.markClosed();
  }

  private makeFacade(): Methods {
    const facade: Methods = {};
    for (const [wire, info] of Object.entries(this.data.table?.commands ?? {})) {
      facade[info.method] = (...params: unknown[]) => {
        const [args, options] = this.splitParams(wire, params);
        return this.send(wire, args, options, false);
      };
    }
    return facade;
  }
}

function parseGreeting(msg: JsonObject, peer: string): QmpGreeting {
  const qmp = msg.QMP as JsonObject | undefined;
  const version = qmp?.version as QmpGreeting['version'] | undefined;
  const caps = qmp?.capabilities;
  if (!version || typeof version !== 'object' || !Array.isArray(caps)) {
    throw new ConnectionError('protocol', `${peer}: malformed QMP greeting: ${JSON.stringify(msg).slice(0, 200)}`);
  }
  return { version, capabilities: caps.filter((c): c is string => typeof c === 'string') };
}

/** Opens the transport and performs the handshake; rejects with ConnectionError on failure. */
export async function connect<C extends CommandMap<C> = Record<string, CommandSpec>, E = Record<string, JsonValue>, M = Methods>(
  target: Target,
  data: VersionData,
  options: ClientOptions = {},
): Promise<QmpClient<C, E, M>> {
  const connectTimeout = options.connectTimeout ?? 10_000;
  const started = Date.now();
  const stream = await openTransport(target, { timeout: connectTimeout, signal: options.signal });
  const client = new QmpClient<C, E, M>(stream, data, options, describeTarget(target));
  // The greeting and negotiation share the connect budget.
  return client.open(options.signal, Math.max(1, connectTimeout - (Date.now() - started)));
}

/** A version's connectQmp: the client typed with its maps and checking with its descriptor. */
export function bindConnect<C extends CommandMap<C>, E, M>(
  data: VersionData,
): (target: Target, options?: ClientOptions) => Promise<QmpClient<C, E, M>> {
  return (target, options) => connect<C, E, M>(target, data, options);
}
