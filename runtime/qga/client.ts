/**
 * The guest-agent face: qemu-ga's protocol over the shared core. The agent
 * has no greeting and answers one request at a time, and its channel (the
 * host end of a virtio-serial port) may hold what an earlier client left:
 * half a request the agent is still parsing, replies nobody read. So the
 * client resynchronises before its first command and after anything that
 * leaves the channel in doubt (a call given up on, unreadable bytes, a
 * request the agent could not parse): it sends a 0xFF byte (which resets
 * the agent's parser) and `guest-sync-delimited` with a random 64-bit id,
 * drops everything until the reply carrying exactly that id (which the
 * agent sends after a 0xFF of its own), and only then writes the next
 * command. Replies are matched by id (qemu-ga echoes it) and, for an agent
 * that does not echo, by order, which one command at a time makes safe.
 */
import type { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import {
  excerpt,
  inInt64Mode,
  makeFacade,
  prepareCall,
  replyError,
  splitParams,
  tappedRequest,
  type CallOptions,
  type Methods,
} from '../core/calls.js';
import { Connection, invoke, type AgentProblem } from '../core/connection.js';
import { deadline, type Deadline } from '../core/deadline.js';
import {
  checkBoolean,
  checkChoice,
  checkCount,
  checkFunction,
  checkKeys,
  checkSignal,
  checkTimeout,
} from '../core/options.js';
import type { Call } from '../core/requests.js';
import {
  ConnectionError,
  LibvirtError,
  ProtocolError,
  QmpAbortError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
} from '../errors.js';
import type { CommandMap, CommandName, CommandSpec, TapEntry, VersionData } from '../qmp/client.js';
import type { EventWait, QmpEvent, WaitOptions } from '../qmp/events.js';
import { maskText, redactAgentMessage, redactReturn } from '../redact.js';
import { DEFAULT_MAX_DEPTH, MAX_MESSAGE_BYTES, type JsonObject } from '../wire/framing.js';
import { stringifyJson, type ConnectOptions, type Int64Mode, type JsonValue } from '../wire/json.js';
import { checkTarget, describeTarget, openTransport, type Target } from '../wire/transport.js';
import {
  copyFromGuest,
  copyToGuest,
  runInGuest,
  type ExecOptions,
  type ExecResult,
  type FileOptions,
} from './helpers.js';
import { AGENT_TIMEOUTS, DEFAULT_AGENT_TIMEOUT } from './timeouts.js';

export type { ExecOptions, ExecResult, FileOptions };

export interface AgentOptions {
  /**
   * Reply timeout in ms for commands without their own default (10 000).
   * guest-ping and guest-info default to 3 s, guest-fsfreeze-freeze to an
   * hour, file and exec commands to 30-60 s (AGENT_TIMEOUTS).
   */
  timeout?: number;
  /** Per-command reply timeouts in ms, over the defaults; a call's own `timeout` wins over both. */
  timeouts?: Record<string, number>;
  /** Connecting plus the first sync with the agent, in ms (default 10 000). */
  connectTimeout?: number;
  /** Aborts connecting. */
  signal?: AbortSignal;
  /** Check arguments against the schema before sending (default true). */
  validate?: boolean;
  /** Largest message accepted from the agent, in bytes (default 32 MiB: file reads and exec output are base64). */
  maxMessageBytes?: number;
  /** Deepest nesting accepted in a message from the agent (default 4096). */
  maxMessageDepth?: number;
  /** Largest request sent, in bytes (default 8 MiB). */
  maxRequestBytes?: number;
  /** Every message in and out, secrets, file contents and process input and output redacted. */
  tap?: (entry: TapEntry) => void;
  /** How 64-bit integers in replies arrive (default 'exact'); see the QMP client's option. */
  int64?: Int64Mode;
}

export interface AgentStats {
  /** Commands waiting for their turn (the agent runs one at a time). */
  queued: number;
  /** Replies that came after their call timed out or was aborted (dropped). */
  lateReplies: number;
  /** Messages and unreadable bytes dropped while resynchronising: what earlier clients or given-up calls left. */
  staleMessages: number;
  /** Completed syncs with the agent, the first one included. */
  syncs: number;
  /** Everything reported through onError. */
  errors: number;
  /** Replies that matched no call. */
  unmatchedReplies: number;
}

export interface ReadyOptions {
  /** Milliseconds (default 10 000; 0 or Infinity: until the agent answers or the signal aborts). */
  timeout?: number;
  signal?: AbortSignal;
}

/**
 * A QMP client's event wait, as the power helpers use it: any release's
 * client (`connectQmp`) fits.
 */
export interface PowerEventSource {
  waitForEvent(
    name: 'SHUTDOWN' | 'SUSPEND' | 'SUSPEND_DISK',
    predicate?: undefined,
    options?: WaitOptions,
  ): EventWait<QmpEvent<string, unknown>>;
}

export interface PowerOptions {
  /**
   * The VM's QMP client. The agent never replies to a power command that
   * works, so without one the promise resolves once the command is written;
   * with one it resolves with QEMU's event (SHUTDOWN, SUSPEND or
   * SUSPEND_DISK), and rejects when the agent refuses the command.
   */
  qmp?: PowerEventSource;
  /** Milliseconds to wait for the event (default 60 000). */
  timeout?: number;
  signal?: AbortSignal;
}

/** What the request layer keeps per call. */
interface CallMeta {
  args: JsonObject | undefined;
  /** A command that never replies: told if the agent refuses it after all (the power helpers). */
  failed?: (e: Error) => void;
}

/** One guest-sync-delimited written and not answered. */
interface SyncAttempt {
  id: bigint;
  timer: Deadline;
}

/** Waits between sync attempts while the agent does not answer: it may be starting. */
const SYNC_BACKOFF_MS = [250, 500, 1000, 2000, 4000];
/** Sync ids remembered, so that late answers to earlier attempts are recognised and dropped. */
const MAX_SYNC_IDS = 64;
/** Commands that never reply, remembered after they were written: the agent replies only when they fail. */
const MAX_NO_REPLY = 16;

const AGENT_OPTIONS = [
  'timeout',
  'timeouts',
  'connectTimeout',
  'signal',
  'validate',
  'maxMessageBytes',
  'maxMessageDepth',
  'maxRequestBytes',
  'tap',
  'int64',
] as const;

type CheckedOptions = Required<Omit<AgentOptions, 'tap' | 'signal'>> & Pick<AgentOptions, 'tap'>;

type Params<C extends CommandMap<C>, K extends keyof C> = [...params: C[K]['params'], options?: CallOptions];

export class QgaClient<C extends CommandMap<C> = Record<string, CommandSpec>, M = Methods> {
  readonly #conn: Connection<CallMeta>;
  readonly #data: VersionData;
  readonly #peer: string;
  readonly #opts: CheckedOptions;
  #synced = false;
  #attempt: SyncAttempt | undefined;
  #attempts = 0;
  /** Ids of sync requests written since connecting, newest last. */
  readonly #syncIds: bigint[] = [];
  readonly #readyWaiters = new Set<{ resolve(): void; reject(e: Error): void }>();
  /** Whether the agent echoes request ids (qemu-ga does): then an id-less error is about an unreadable request. */
  #echoesIds = false;
  readonly #noReply = new Map<number, { command: string; failed?: (e: Error) => void }>();
  /** The last command without a reply, while its refusal could still come without an id (an agent that does not echo). */
  #lastNoReply: number | undefined;
  /** A sync is due, but waits for the command in flight to be answered first (its reply may carry no id). */
  #syncDeferred = false;
  #stale = 0;
  #syncs = 0;
  #unmatched = 0;
  #cmd: M | undefined;

  /** Use connectQga() (or a release's connectQga); this takes an open stream. */
  constructor(stream: Duplex, data: VersionData, options: AgentOptions, peer: string) {
    this.#data = data;
    this.#peer = peer;
    this.#opts = checkOptions(options);
    this.#conn = new Connection<CallMeta>(
      stream,
      peer,
      {
        maxMessageBytes: this.#opts.maxMessageBytes,
        maxMessageDepth: this.#opts.maxMessageDepth,
        maxInFlight: 1,
        stallAfter: 0,
        notSentHint: () => this.#notSentHint(),
        // Ids no earlier client of this channel is likely to have used.
        firstId: 1 + Math.floor(Math.random() * 2 ** 40),
      },
      {
        message: (m) => this.#onMessage(m),
        framingError: (e) => this.#onFramingError(e),
        // The agent's 0xFF precedes a sync reply; the decoder has dropped what came before it.
        sync: () => undefined,
        sending: (call) => this.#sending(call),
        written: (call) => this.#written(call),
        abandoned: () => this.#desync(),
        closing: (reason) => this.#closing(reason),
      },
    );
    // Nothing is written before the first sync.
    this.#conn.requests.hold();
  }

  /** Typed methods per command, e.g. `qga.cmd.guestPing()`; see the release's QgaMethods. Made on first use. */
  get cmd(): M {
    return (this.#cmd ??= makeFacade(this.#data.table, 'QgaMethods', (command, params) =>
      this.#call(command, params),
    ) as M);
  }

  /**
   * Runs a command and resolves with its typed return value; rejects with
   * QmpError when the agent says no (`code`: 'command-failed',
   * 'command-not-found', or 'command-disabled' for what `qemu-ga -b`
   * blocks), QmpTimeoutError when it does not answer in time. A command
   * that never replies (guest-shutdown, guest-suspend-*) resolves once written.
   */
  execute<K extends CommandName<C>>(command: K, ...params: Params<C, K>): Promise<C[K]['returns']> {
    return this.#call(command, params);
  }

  /** Any command by name, unchecked and untyped: for commands this release does not know. */
  executeRaw(command: string, args?: JsonObject, options?: CallOptions): Promise<JsonValue> {
    return this.#send(command, args, { ...options, validate: false });
  }

  /**
   * Resynchronises with the agent, retrying until it answers: for an agent
   * that starts after the client (a booting guest), or to check that it is
   * still there. Rejects with QmpTimeoutError when it does not answer in time.
   */
  waitUntilReady(options?: ReadyOptions): Promise<void> {
    const closed = this.#conn.closeReason;
    if (closed) return Promise.reject(closed);
    let limits: { timeout: number; signal: AbortSignal | undefined };
    try {
      const o = checkKeys<ReadyOptions>(options, ['timeout', 'signal'], 'waitUntilReady options');
      limits = {
        timeout: checkTimeout(o.timeout ?? 10_000, 'waitUntilReady: timeout'),
        signal: checkSignal(o.signal, 'waitUntilReady: signal'),
      };
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      let armed: Deadline | undefined;
      const waiter = {
        resolve: () => {
          armed?.dispose();
          resolve();
        },
        reject: (e: Error) => {
          armed?.dispose();
          reject(e);
        },
      };
      this.#readyWaiters.add(waiter);
      armed = deadline(limits, (why) => {
        this.#readyWaiters.delete(waiter);
        reject(
          why.kind === 'abort'
            ? new QmpAbortError('guest-sync-delimited', why.reason)
            : new QmpTimeoutError(
                'guest-sync-delimited',
                limits.timeout,
                true,
                `the guest agent did not answer within ${limits.timeout} ms: is qemu-ga running in the guest, with its channel (org.qemu.guest_agent.0) connected?`,
              ),
        );
      });
      if (this.#readyWaiters.has(waiter)) this.#desync();
    });
  }

  /**
   * Runs a program in the guest (guest-exec) and waits for it to end,
   * polling guest-exec-status with backoff. Resolves with its exit code or
   * signal and, unless `captureOutput: false`, its stdout and stderr.
   */
  exec(path: string, args: readonly string[] = [], options?: ExecOptions): Promise<ExecResult> {
    return runInGuest((c, a, o) => this.#send(c, a, o), path, args, options);
  }

  /** A guest file's contents (guest-file-open/read/close); the handle is closed whatever happens. */
  readFile(path: string, options?: FileOptions): Promise<Buffer> {
    return copyFromGuest((c, a, o) => this.#send(c, a, o), path, options);
  }

  /** Writes (or with `append`, appends to) a guest file; the handle is closed whatever happens. */
  writeFile(path: string, data: Uint8Array | string, options?: FileOptions & { append?: boolean }): Promise<void> {
    return copyToGuest((c, a, o) => this.#send(c, a, o), path, data, options);
  }

  /** guest-shutdown ('powerdown' by default); see PowerOptions for how to know it happened. */
  shutdown(mode?: 'powerdown' | 'halt' | 'reboot', options?: PowerOptions): Promise<QmpEvent<string, unknown> | void> {
    return this.#power('guest-shutdown', mode ? { mode } : undefined, 'SHUTDOWN', options);
  }

  /** guest-suspend-ram, -disk or -hybrid; see PowerOptions for how to know it happened. */
  suspend(to: 'ram' | 'disk' | 'hybrid', options?: PowerOptions): Promise<QmpEvent<string, unknown> | void> {
    return this.#power(`guest-suspend-${to}`, undefined, to === 'disk' ? 'SUSPEND_DISK' : 'SUSPEND', options);
  }

  /**
   * Problems that do not belong to a call: a message from the agent that
   * could not be used, a power command the agent refused after its promise
   * resolved (a QmpError), or a callback of yours that threw.
   */
  onError(listener: (problem: AgentProblem) => void): { dispose(): void } {
    return this.#conn.onError(listener);
  }

  /** Called once when the connection is gone, whoever closed it. */
  onClose(listener: (reason: ConnectionError) => void): { dispose(): void } {
    return this.#conn.onClose(listener);
  }

  get stats(): AgentStats {
    const r = this.#conn.requests;
    return {
      queued: r.queued,
      lateReplies: r.lateReplies,
      staleMessages: this.#stale,
      syncs: this.#syncs,
      errors: this.#conn.errors,
      unmatchedReplies: this.#unmatched,
    };
  }

  get isOpen(): boolean {
    return this.#conn.isOpen;
  }

  /** Resolves when the connection is gone, whoever closed it. */
  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  /** Closes the connection; pending calls reject with ConnectionError('closed'). */
  async close(): Promise<void> {
    this.#conn.close(new ConnectionError('closed', `${this.#peer}: closed by the client`));
    await this.#conn.closed;
  }

  [inspect.custom](): string {
    const state = !this.#conn.isOpen ? 'closed' : this.#synced ? 'ready' : 'syncing';
    return `QgaClient { peer: ${JSON.stringify(this.#peer)}, state: '${state}', queued: ${this.#conn.requests.queued} }`;
  }

  // -- sending ------------------------------------------------------------

  #call(command: string, params: unknown[]): Promise<JsonValue> {
    let split: [JsonObject | undefined, CallOptions | undefined];
    try {
      split = splitParams(command, params, this.#data.schema);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#send(command, split[0], split[1]);
  }

  /** `failed`: for a command that never replies, called if the agent refuses it after all. */
  #send(
    command: string,
    args: JsonObject | undefined,
    options: CallOptions | undefined,
    failed?: (e: Error) => void,
  ): Promise<JsonValue> {
    const closed = this.#conn.closeReason;
    if (closed) return Promise.reject(closed);
    let call;
    try {
      call = prepareCall(command, args, options, {
        schema: this.#data.schema,
        table: this.#data.table,
        validate: this.#opts.validate && 'generated',
        maxRequestBytes: this.#opts.maxRequestBytes,
        timeout: this.#opts.timeouts[command] ?? AGENT_TIMEOUTS[command] ?? this.#opts.timeout,
        oob: false,
        id: () => this.#conn.requests.allocateId(),
      });
    } catch (e) {
      return Promise.reject(e);
    }
    const result = this.#conn.requests.submit(
      call.id,
      command,
      false,
      call.text,
      { args: call.sent, failed },
      call.limits,
    );
    // A call that waits while the channel is out of sync gets the sync going (it stops when nobody waits).
    if (!this.#synced) this.#startSync();
    return result;
  }

  #sending(call: Call<CallMeta>): void {
    if (this.#opts.tap) this.#tap('out', tappedRequest(call));
  }

  /**
   * A command that never replies on success is done once written. The
   * agent still answers a refusal: by id, or for an agent that does not
   * echo ids, before the sync that follows such a command.
   */
  #written(call: Call<CallMeta>): void {
    if (!this.#data.table?.commands[call.command]?.noReply) return;
    this.#noReply.set(call.id, { command: call.command, failed: call.meta?.failed });
    if (this.#noReply.size > MAX_NO_REPLY) this.#noReply.delete(this.#noReply.keys().next().value!);
    if (!this.#echoesIds) {
      // Held before the call settles (which would write the next one); the sync follows this command.
      this.#lastNoReply = call.id;
      this.#desync();
    }
    this.#conn.requests.settle(call, { value: null });
    if (this.#syncDeferred) this.#startSync();
  }

  async #power(
    command: string,
    args: JsonObject | undefined,
    event: 'SHUTDOWN' | 'SUSPEND' | 'SUSPEND_DISK',
    options: PowerOptions | undefined,
  ): Promise<QmpEvent<string, unknown> | void> {
    const o = checkKeys<PowerOptions>(options, ['qmp', 'timeout', 'signal'], `${command}: options`);
    const limits = {
      timeout: checkTimeout(o.timeout ?? 60_000, `${command}: timeout`),
      signal: checkSignal(o.signal, `${command}: signal`),
    };
    if (!o.qmp) {
      await this.#send(command, args, { signal: limits.signal });
      return;
    }
    // Armed before the command is written, so that an event that comes at once is not missed.
    const wait = o.qmp.waitForEvent(event, undefined, limits);
    let refuse!: (e: Error) => void;
    const refused = new Promise<never>((_, reject) => (refuse = reject));
    // Raced only once the command is written: a refusal before then (a close) must not go unhandled.
    refused.catch(() => undefined);
    try {
      await this.#send(command, args, { signal: limits.signal }, refuse);
      return await Promise.race([wait, refused]);
    } finally {
      wait.cancel();
    }
  }

  // -- resynchronising --------------------------------------------------------

  /** The channel is in doubt: hold the queue and sync before the next command. */
  #desync(): void {
    this.#synced = false;
    this.#conn.requests.hold();
    this.#startSync();
  }

  /** A command written and waiting for its reply, not given up on. */
  #live(): Call<CallMeta> | undefined {
    const call = this.#conn.requests.oldestInBand();
    return call && !call.abandoned ? call : undefined;
  }

  /** Someone waits for the agent: a ready waiter, or a command. */
  #wanted(): boolean {
    return this.#readyWaiters.size > 0 || this.#conn.requests.queued > 0 || this.#live() !== undefined;
  }

  /**
   * Writes 0xFF and a guest-sync-delimited, and again with backoff while
   * someone waits for the agent. Not while a command is in flight: its
   * reply, which may carry no id, comes first, and the sync follows it.
   */
  #startSync(): void {
    if (this.#attempt || !this.#conn.isOpen) return;
    if (this.#live()) {
      this.#syncDeferred = true;
      return;
    }
    this.#syncDeferred = false;
    const id = randomSyncId();
    this.#syncIds.push(id);
    if (this.#syncIds.length > MAX_SYNC_IDS) this.#syncIds.shift();
    const wait = SYNC_BACKOFF_MS[Math.min(this.#attempts++, SYNC_BACKOFF_MS.length - 1)];
    this.#attempt = {
      id,
      timer: deadline({ timeout: wait }, () => {
        this.#attempt = undefined;
        // Nobody waiting: the next command or waitUntilReady starts it again.
        if (this.#wanted()) this.#startSync();
      }),
    };
    const request = { execute: 'guest-sync-delimited', arguments: { id } };
    if (this.#opts.tap) this.#tap('out', request);
    this.#conn.write(Buffer.concat([SYNC_BYTE, Buffer.from(stringifyJson(request))]));
  }

  /** Why a call waited in vain, for its timeout error. */
  #notSentHint(): string {
    if (this.#synced) return 'the agent runs one command at a time, and the one before is still running';
    return this.#attempts > 1
      ? 'the guest agent is not answering (guest-sync-delimited has had no reply): is qemu-ga running in the guest?'
      : 'the client was resynchronising with the agent';
  }

  #synchronised(): void {
    this.#attempt?.timer.dispose();
    this.#attempt = undefined;
    this.#attempts = 0;
    this.#synced = true;
    this.#lastNoReply = undefined;
    this.#syncs++;
    const requests = this.#conn.requests;
    // Calls given up on before the sync: their replies, if any, came before it and were dropped.
    for (const call of requests.abandoned()) requests.release(call);
    requests.resume();
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const w of waiters) w.resolve();
  }

  #closing(reason: ConnectionError): void {
    this.#attempt?.timer.dispose();
    this.#attempt = undefined;
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const w of waiters) w.reject(reason);
    for (const entry of this.#noReply.values()) entry.failed?.(reason);
    this.#noReply.clear();
  }

  // -- receiving ----------------------------------------------------------

  #onMessage(msg: JsonObject): void {
    if (!('return' in msg || 'error' in msg)) {
      this.#tapIn(msg);
      if (!this.#synced) this.#stale++;
      else
        this.#conn.report(
          new ProtocolError(
            'unknown-shape',
            `${this.#peer}: a message of unknown shape`,
            excerpt(redactAgentMessage(msg)),
          ),
        );
      return;
    }
    // A sync reply: the one being waited for ends the resync, an earlier one is stale.
    if (!('id' in msg) && typeof msg.return === 'bigint' && this.#syncIds.includes(msg.return)) {
      this.#tapIn(msg);
      if (!this.#synced && msg.return === this.#syncIds[this.#syncIds.length - 1]) this.#synchronised();
      else this.#stale++;
      return;
    }
    const call = this.#callFor(msg);
    if (this.#opts.tap) {
      this.#tapIn(
        call && 'return' in msg
          ? { ...msg, return: redactReturn(call.command, call.meta?.args, msg.return) as JsonValue }
          : msg,
      );
    }
    if (call) {
      this.#settle(call, msg);
      return;
    }
    if ('error' in msg && this.#refused(msg)) return;
    if (!this.#synced) {
      this.#stale++;
      return;
    }
    this.#unmatched++;
    this.#conn.report(
      new ProtocolError(
        'unmatched-reply',
        `${this.#peer}: ${'id' in msg ? `a reply for no request (id ${excerpt(msg.id)})` : 'a reply without id, and no command waiting'}`,
        excerpt(redactAgentMessage(msg)),
      ),
    );
  }

  /**
   * An error for a command that never replies on success: by its id, or
   * without id before the sync that follows it (an agent that does not echo
   * ids). It goes to the power helper waiting for it, else to onError.
   */
  #refused(msg: JsonObject): boolean {
    // qemu-ga answers the 0xFF this client sends to resync with an id-less "JSON parse error, stray '...'":
    // that is the echo of our own byte, never a refusal of the command before it.
    const body = typeof msg.error === 'object' && msg.error !== null && !Array.isArray(msg.error) ? msg.error : {};
    if (!('id' in msg) && typeof body.desc === 'string' && body.desc.startsWith('JSON parse error, stray'))
      return false;
    const id = 'id' in msg ? (typeof msg.id === 'number' ? msg.id : undefined) : this.#lastNoReply;
    const entry = id === undefined ? undefined : this.#noReply.get(id);
    if (!entry) return false;
    this.#noReply.delete(id!);
    if (!('id' in msg)) this.#lastNoReply = undefined;
    const err = replyError(msg, entry.command, undefined);
    if (entry.failed) entry.failed(err);
    // Through libvirt, its own failure: reported as the QmpError-shaped problem onError listeners know.
    else
      this.#conn.report(
        err instanceof LibvirtError
          ? new QmpError(`libvirt:${err.code}`, err.detail, entry.command, undefined, undefined)
          : err,
      );
    return true;
  }

  /**
   * The call a reply belongs to: by id, even while resynchronising (ids are
   * this client's, random from the start); without id, the command in
   * flight, when in sync or before the deferred sync is written.
   */
  #callFor(msg: JsonObject): Call<CallMeta> | undefined {
    if ('id' in msg) {
      this.#echoesIds = true;
      return typeof msg.id === 'number' ? this.#conn.requests.sent(msg.id) : undefined;
    }
    return this.#synced || this.#syncDeferred ? this.#live() : undefined;
  }

  #settle(call: Call<CallMeta>, msg: JsonObject): void {
    // An agent that echoes ids answers a request it could not parse without one: what follows is in
    // doubt, so the queue is held before the call settles (which would write the next one).
    const unread = 'error' in msg && !('id' in msg) && this.#echoesIds;
    if (unread) this.#desync();
    this.#conn.requests.settle(
      call,
      'error' in msg
        ? { error: replyError(msg, call.command, call.meta?.args, unread ? 'the agent' : undefined) }
        : inInt64Mode(this.#opts.int64, this.#data.schema, msg.return, { command: call.command }),
    );
    if (this.#syncDeferred) this.#startSync();
  }

  #onFramingError(e: ProtocolError): void {
    if (!this.#synced) {
      this.#stale++;
      return;
    }
    const shown = maskText(e.excerpt);
    this.#conn.report(new ProtocolError(e.code, `${this.#peer}: ${e.message}`, shown));
    this.#desync();
    // What could not be read may have been the reply of the command in flight: it fails now rather than at its timeout.
    const call = this.#live();
    if (call) {
      this.#conn.requests.settle(call, {
        error: new ProtocolError(
          e.code,
          `${call.command}: the agent sent something unreadable while it ran (${e.message}); the channel was resynchronised`,
          shown,
        ),
      });
    }
    if (this.#syncDeferred) this.#startSync();
  }

  #tap(direction: 'in' | 'out', message: JsonObject): void {
    invoke(this.#opts.tap!, { direction, message }, 'tap', (e) => this.#conn.report(e));
  }

  #tapIn(msg: JsonObject): void {
    if (this.#opts.tap) this.#tap('in', redactAgentMessage(msg));
  }
}

const SYNC_BYTE = Buffer.from([0xff]);

/** A sync id beyond 2^53, so that only an exact (bigint) comparison matches it, and below 2^63 (the agent's int). */
function randomSyncId(): bigint {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (1n << 53n) + (((BigInt(hi) << 32n) | BigInt(lo)) % ((1n << 63n) - (1n << 53n)));
}

function checkOptions(options: unknown): CheckedOptions {
  const o = checkKeys<AgentOptions>(options, AGENT_OPTIONS, 'agent options');
  if (o.timeouts !== undefined && (typeof o.timeouts !== 'object' || o.timeouts === null || Array.isArray(o.timeouts)))
    throw new QmpUsageError('bad-option', 'timeouts: expected an object of command name → milliseconds');
  const timeouts: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [command, ms] of Object.entries(o.timeouts ?? {}))
    timeouts[command] = checkTimeout(ms, `timeouts['${command}']`);
  return {
    timeout: checkTimeout(o.timeout ?? DEFAULT_AGENT_TIMEOUT, 'timeout'),
    timeouts,
    connectTimeout: checkTimeout(o.connectTimeout ?? 10_000, 'connectTimeout'),
    validate: checkBoolean(o.validate, 'validate') ?? true,
    maxMessageBytes: checkCount(o.maxMessageBytes ?? 32 * 1024 * 1024, 'maxMessageBytes', false, MAX_MESSAGE_BYTES),
    maxMessageDepth: checkCount(o.maxMessageDepth ?? DEFAULT_MAX_DEPTH, 'maxMessageDepth'),
    maxRequestBytes: checkCount(o.maxRequestBytes ?? 8 * 1024 * 1024, 'maxRequestBytes'),
    tap: checkFunction<AgentOptions['tap']>(o.tap, 'tap'),
    int64: checkChoice(o.int64, ['exact', 'number', 'bigint'] as const, 'int64') ?? 'exact',
  };
}

/**
 * Opens the transport and syncs with the agent; rejects with ConnectionError
 * ('agent-unresponsive' when the agent did not answer within connectTimeout),
 * QmpUsageError on a bad option.
 */
export async function connectAgent<C extends CommandMap<C> = Record<string, CommandSpec>, M = Methods>(
  target: Target,
  data: VersionData,
  options?: AgentOptions,
): Promise<QgaClient<C, M>> {
  const checked = checkTarget(target);
  const { connectTimeout } = checkOptions(options);
  const signal = checkSignal(options?.signal, 'signal');
  const started = Date.now();
  const stream = await openTransport(checked, { timeout: connectTimeout, signal, protocol: 'qga' });
  const client = new QgaClient<C, M>(stream, data, options ?? {}, describeTarget(checked));
  const remaining = connectTimeout > 0 ? Math.max(1, connectTimeout - (Date.now() - started)) : 0;
  try {
    await client.waitUntilReady({ timeout: remaining, signal });
  } catch (e) {
    await client.close();
    if (e instanceof ConnectionError) throw e;
    throw new ConnectionError(
      e instanceof QmpAbortError ? 'handshake-failed' : 'agent-unresponsive',
      `${describeTarget(checked)}: ${e instanceof QmpAbortError ? 'aborted' : `connected, but ${(e as Error).message.replace(/^guest-sync-delimited: /, '')}`}`,
      { cause: e instanceof QmpAbortError ? signal?.reason : e },
    );
  }
  return client;
}

/** A release's connectQga: the client typed with its maps and checking with its descriptor. */
export function bindConnectAgent<C extends CommandMap<C>, M>(data: VersionData): ConnectQga<C, M> {
  return (target, ...options) => connectAgent<C, M>(target, data, options[0]);
}

/** A release's connectQga (a named type, as ConnectQmp is). */
export type ConnectQga<C extends CommandMap<C>, M> = (
  target: Target,
  ...options: ConnectOptions<AgentOptions>
) => Promise<QgaClient<C, M>>;
