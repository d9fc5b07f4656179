/**
 * One connection to a peer, whatever its protocol: the stream, the decoder
 * in front of it, the request layer behind it, and what the user can watch
 * (problems, the close, stalls). A protocol face (qmp/client.ts for QMP)
 * gives messages their meaning: it receives each decoded message and each
 * framing problem, and tells the request layer which call a reply settles.
 *
 * Nothing the peer sends escapes the data path as an exception: a handler
 * that throws is reported as an internal error and reading goes on.
 */
import type { Duplex } from 'node:stream';
import { CallbackError, ConnectionError, ProtocolError, type QmpError } from '../errors.js';
import { MessageDecoder, type JsonObject } from '../wire/framing.js';
import { checkListener } from './options.js';
import { Requests, type Call, type StallInfo } from './requests.js';

/** What a connection reports through onError: a peer's bad message, or a callback of yours that threw. */
export type ClientProblem = ProtocolError | CallbackError;

/** What the guest agent's connection also reports: a command that never replies on success failed. */
export type AgentProblem = ClientProblem | QmpError;

export interface Disposable {
  dispose(): void;
}

export interface ConnectionLimits {
  maxMessageBytes: number;
  maxMessageDepth: number;
  maxInFlight: number;
  stallAfter: number;
  /** Appended to the error of a call that could not be sent in time: the protocol's way past the queue. */
  notSentHint?: string | (() => string);
  /** The first request id (default 1). */
  firstId?: number;
}

/** What the protocol face does with the connection's traffic. */
export interface Face<M> {
  message(msg: JsonObject, size: number): void;
  framingError(err: ProtocolError, tail?: string): void;
  /** A 0xFF byte was read: what was buffered before it was dropped. */
  sync(): void;
  /** A request is about to be written (for the tap). */
  sending(call: Call<M>): void;
  /** A request was written (a command that never replies settles here). */
  written?(call: Call<M>): void;
  /** A sent call's caller gave up before its reply came. */
  abandoned?(call: Call<M>): void;
  /** The connection is closing: settle what only the face knows about (handshake, event waits). */
  closing(reason: ConnectionError): void;
}

export class Connection<M> {
  readonly requests: Requests<M>;
  /** Problems reported through onError, all told. */
  errors = 0;
  readonly #stream: Duplex;
  readonly #face: Face<M>;
  readonly #decoder: MessageDecoder;
  // Made when first subscribed: an idle connection carries none of them.
  #errorListeners: Set<(e: AgentProblem) => void> | undefined;
  #warned = false;
  #closeListeners: Set<(e: ConnectionError) => void> | undefined;
  #stallListeners: Set<(s: StallInfo) => void> | undefined;
  readonly #closed: Promise<void>;
  #markClosed!: () => void;
  #closeReason: ConnectionError | undefined;
  /** Chunks that arrived while one was being decoded. */
  readonly #backlog: Buffer[] = [];
  #decoding = false;

  constructor(
    stream: Duplex,
    /** Who the peer is, for messages: 'unix:/run/vm.qmp', 'tcp:host:port', 'stream'. */
    readonly peer: string,
    limits: ConnectionLimits,
    face: Face<M>,
  ) {
    this.#stream = stream;
    this.#face = face;
    this.#closed = new Promise((r) => (this.#markClosed = r));
    this.requests = new Requests<M>({
      maxInFlight: limits.maxInFlight,
      stallAfter: limits.stallAfter,
      notSentHint: limits.notSentHint,
      firstId: limits.firstId,
      write: (text, call) => {
        face.sending(call);
        stream.write(text);
        face.written?.(call);
      },
      onAbandon: face.abandoned && ((call) => this.#guard(() => face.abandoned!(call))),
      onStall: (info) => this.#stallListeners && this.notify(this.#stallListeners, info, 'stall listener'),
    });
    this.#decoder = new MessageDecoder(
      {
        message: (m, size) => {
          try {
            face.message(m, size);
          } catch (e) {
            this.#internal(e);
          }
        },
        error: (e, tail) => this.#guard(() => face.framingError(e, tail)),
        sync: () => this.#guard(() => face.sync()),
      },
      { maxMessageBytes: limits.maxMessageBytes, maxDepth: limits.maxMessageDepth },
    );
    stream.on('data', (chunk: unknown) => this.#receive(chunk));
    stream.on('end', () => {
      this.#guard(() => this.#decoder.end());
      this.close(new ConnectionError('closed', `${peer}: the peer closed the connection`));
    });
    stream.on('close', () => this.close(new ConnectionError('closed', `${peer}: connection closed`)));
    stream.on('error', (e: NodeJS.ErrnoException) =>
      this.close(new ConnectionError('closed', `${peer}: ${e.code ?? e.message}`, { cause: e })),
    );
    // A stream that is already gone emits nothing more: say so, instead of waiting for a greeting that cannot come.
    if (stream.destroyed || stream.readableEnded)
      queueMicrotask(() => this.close(new ConnectionError('closed', `${peer}: the stream is already closed`)));
  }

  get isOpen(): boolean {
    return this.#closeReason === undefined;
  }

  /** Why the connection closed (what pending calls got), once it has. */
  get closeReason(): ConnectionError | undefined {
    return this.#closeReason;
  }

  /** Resolves when the connection is gone, whoever closed it. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Closes with `reason`: every pending call rejects with it, then the close listeners run. */
  close(reason: ConnectionError): void {
    if (this.#closeReason) return;
    this.#closeReason = reason;
    this.#decoder.stop();
    this.#backlog.length = 0;
    this.#face.closing(reason);
    this.requests.close(reason);
    this.#stream.destroy();
    this.#markClosed();
    if (this.#closeListeners) this.notify(this.#closeListeners, reason, 'close listener');
    this.#closeListeners = undefined;
  }

  /** Bytes outside any request (the guest agent's resync); nothing once closed. */
  write(bytes: Buffer | string): void {
    if (this.isOpen) this.#stream.write(bytes);
  }

  report(problem: AgentProblem): void {
    this.errors++;
    if (!this.#errorListeners?.size) {
      // A bug in the caller's own listener must not vanish into a counter: say so once per connection.
      // (What the peer gets wrong is only counted: a hostile peer could otherwise flood the warnings.)
      if (problem instanceof CallbackError && !this.#warned) {
        this.#warned = true;
        process.emitWarning(`${this.peer}: ${problem.message} (no onError listener; further ones are only counted)`, {
          code: 'QAPI_TS_CALLBACK_ERROR',
        });
      }
      return;
    }
    for (const l of [...this.#errorListeners]) {
      try {
        l(problem);
      } catch {
        // An error listener that throws has nowhere to report to.
      }
    }
  }

  /** Calls each listener with `value`; one that throws (or rejects) is reported, and the others still run. */
  notify<T>(listeners: Set<(v: T) => void>, value: T, what: string): void {
    for (const l of [...listeners]) invoke(l, value, what, (e) => this.report(e));
  }

  onError(listener: (problem: AgentProblem) => void): Disposable {
    return subscribe(
      (this.#errorListeners ??= new Set()),
      checkListener<(p: AgentProblem) => void>(listener, 'onError: listener'),
    );
  }

  /** Once, with the close reason; right away (in a microtask) when already closed. */
  onClose(listener: (reason: ConnectionError) => void): Disposable {
    const reason = this.#closeReason;
    if (reason) {
      queueMicrotask(() => this.notify(new Set([listener]), reason, 'close listener'));
      return { dispose: () => undefined };
    }
    return subscribe(
      (this.#closeListeners ??= new Set()),
      checkListener<(e: ConnectionError) => void>(listener, 'onClose: listener'),
    );
  }

  onStall(listener: (info: StallInfo) => void): Disposable {
    return subscribe(
      (this.#stallListeners ??= new Set()),
      checkListener<(s: StallInfo) => void>(listener, 'onStall: listener'),
    );
  }

  /**
   * A chunk from the stream. A stream may deliver one from inside a write()
   * that a handler made (a listener calling execute): it waits until the
   * chunk being decoded is done, so messages keep their order.
   */
  #receive(chunk: unknown): void {
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.isBuffer(chunk)
          ? chunk
          : ArrayBuffer.isView(chunk)
            ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
            : undefined;
    if (!bytes) {
      this.report(
        new ProtocolError('invalid-json', `${this.peer}: the stream gave a ${typeof chunk}, not bytes or text`),
      );
      return;
    }
    this.#backlog.push(bytes);
    if (this.#decoding) return;
    this.#decoding = true;
    try {
      for (let next = this.#backlog.shift(); next; next = this.#backlog.shift())
        this.#guard(() => this.#decoder.push(next));
    } finally {
      this.#decoding = false;
    }
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#internal(e);
    }
  }

  #internal(e: unknown): void {
    this.report(
      new ProtocolError(
        'internal',
        `${this.peer}: a message could not be handled: ${String((e as Error)?.message ?? e)}`,
        '',
        { cause: e },
      ),
    );
  }
}

/**
 * Runs a callback of the caller's: what it throws, or the promise it
 * returns rejects with, goes to `report` as a CallbackError, never up the
 * data path nor to Node as an unhandled rejection.
 */
export function invoke<T>(fn: (v: T) => unknown, value: T, what: string, report: (e: CallbackError) => void): void {
  try {
    watch(fn(value), () => what, report);
  } catch (e) {
    report(new CallbackError(what, e));
  }
}

/** What a callback returned: when a promise, its rejection is reported. */
export function watch(result: unknown, what: () => string, report: (e: CallbackError) => void): void {
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    (result as PromiseLike<unknown>).then(undefined, (e: unknown) => report(new CallbackError(what(), e)));
  }
}

function subscribe<T>(set: Set<T>, listener: T): Disposable {
  set.add(listener);
  return { dispose: () => void set.delete(listener) };
}
