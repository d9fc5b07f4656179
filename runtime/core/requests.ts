/**
 * The request layer, shared by every protocol face: ids, the calls waiting
 * for a reply, the local send queue behind the in-flight bound, deadlines,
 * and what happens to a reply that comes after its caller gave up.
 *
 * It knows nothing of message shapes: the face writes the text it is given
 * when a slot is free, and tells this layer which call a reply belongs to.
 * Every call settles exactly once: with its reply, its deadline, the
 * connection closing, or a face's verdict; a reply to a call that has
 * already given up is counted and dropped.
 */
import { inspect } from 'node:util';
import { QmpAbortError, QmpTimeoutError, QmpUsageError } from '../errors.js';
import type { JsonValue } from '../wire/json.js';
import { deadline, type Deadline, type DeadlineOptions } from './deadline.js';

export interface StallInfo {
  /** Requests sent and not answered. */
  inFlight: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** When the oldest unanswered request was written. */
  since: Date;
  /** Its command. */
  oldest: string;
}

export interface RequestsOptions<M = unknown> {
  /** In-band requests sent but not answered at most (Infinity: no bound). */
  maxInFlight: number;
  /** Writes a request's text to the peer. */
  write(text: string, call: Call<M>): void;
  /** How long calls may wait for a slot with no reply coming before `onStall` (ms; 0: never). */
  stallAfter: number;
  onStall(info: StallInfo): void;
  /** Appended to the error of a call that timed out before it could be sent: the face's way out, or why it waited. */
  notSentHint?: string | (() => string);
  /** The first request id (default 1). */
  firstId?: number;
  /** A sent call's caller gave up (deadline or abort): its reply may still come, or never. */
  onAbandon?(call: Call<M>): void;
}

/** One request, from submit to settlement. Holds its text only until written. */
export class Call<M = unknown> {
  readonly id: number;
  readonly command: string;
  /** Out of band: not counted against the bound, replies may come in any order. */
  readonly oob: boolean;
  /** The face's own data for the call (e.g. its arguments, for error messages); dropped once the caller gave up. */
  #meta: M | undefined;
  #text: string | undefined;
  #resolve: ((v: JsonValue) => void) | undefined;
  #reject: ((e: Error) => void) | undefined;
  #deadline: Deadline | undefined;
  /** When it was written; undefined while queued. */
  sentAt: number | undefined;
  /** The caller stopped waiting (deadline); a late reply is dropped. */
  abandoned = false;
  settled = false;

  constructor(
    id: number,
    command: string,
    oob: boolean,
    text: string,
    meta: M,
    resolve: (v: JsonValue) => void,
    reject: (e: Error) => void,
  ) {
    this.id = id;
    this.command = command;
    this.oob = oob;
    this.#text = text;
    this.#meta = meta;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  get meta(): M | undefined {
    return this.#meta;
  }

  /** @internal Nothing will read the meta of a call its caller gave up on: let it go. */
  dropMeta(): void {
    this.#meta = undefined;
  }

  /** @internal */
  takeText(): string {
    const t = this.#text!;
    this.#text = undefined;
    return t;
  }

  /** @internal */
  arm(d: Deadline): void {
    this.#deadline = d;
  }

  /** @internal Settles the caller's promise once; later calls are ignored. */
  finish(outcome: { value: JsonValue } | { error: Error }): void {
    this.#deadline?.dispose();
    this.#deadline = undefined;
    if (this.abandoned || this.settled) return;
    this.settled = true;
    const [resolve, reject] = [this.#resolve!, this.#reject!];
    // Nothing of the caller's promise stays reachable from a call kept for its late reply.
    this.#resolve = this.#reject = undefined;
    if ('error' in outcome) reject(outcome.error);
    else resolve(outcome.value);
  }

  [inspect.custom](): string {
    return `Call { id: ${this.id}, command: ${JSON.stringify(this.command)}, ${this.sentAt === undefined ? 'queued' : 'sent'} }`;
  }
}

/** The shared empty queue of every Requests until a call waits; never added to. */
const NO_CALLS: Set<Call<unknown>> = new Set();

export class Requests<M = unknown> {
  /** Replies that came after their call timed out or was aborted (dropped). */
  lateReplies = 0;
  private nextId: number;
  /** Every call not settled by a reply yet, by id (abandoned sent ones too, until answered). */
  private readonly pending = new Map<number, Call<M>>();
  /** Sent in-band calls not answered, in send order. */
  private readonly order = new Set<Call<M>>();
  /** Calls waiting for a slot, in submit order. */
  // Made when a call first has to wait: an empty Set costs about 160 bytes, and most connections never queue.
  private queue: Set<Call<M>> = NO_CALLS as Set<Call<M>>;
  private stall: Deadline | undefined;
  /** This stall was reported: once per stall, until a reply frees a slot or the queue empties. */
  private stallReported = false;
  private closed: Error | undefined;
  /** Held by the face (the guest agent resynchronising): nothing is written until resumed. */
  private held = false;

  constructor(private readonly options: RequestsOptions<M>) {
    this.nextId = options.firstId ?? 1;
  }

  get inFlight(): number {
    return this.order.size;
  }

  get queued(): number {
    return this.queue.size;
  }

  /** Every request written and not answered: in band, out of band, given up on by its caller. */
  get outstanding(): number {
    return this.pending.size - this.queue.size;
  }

  /** The id the next call will get (so the face can write it into the text). */
  allocateId(): number {
    return this.nextId++;
  }

  /**
   * Sends `text` now when a slot is free (oob calls always), else queues it.
   * Rejects with QmpTimeoutError / QmpAbortError per `limits`.
   */
  submit(
    id: number,
    command: string,
    oob: boolean,
    text: string,
    meta: M,
    limits: DeadlineOptions,
  ): Promise<JsonValue> {
    if (this.closed) return Promise.reject(this.closed);
    let resolve!: (v: JsonValue) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<JsonValue>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.start(new Call<M>(id, command, oob, text, meta, resolve, reject), limits);
    return promise;
  }

  /** Arms the call's deadline and sends or queues it; no closure here sees its text or meta. */
  private start(call: Call<M>, limits: DeadlineOptions): void {
    call.arm(
      deadline(limits, (why) =>
        this.expire(call, why.kind === 'abort' ? why.reason : undefined, why.kind === 'abort', limits.timeout ?? 0),
      ),
    );
    if (call.abandoned) return; // already aborted
    this.pending.set(call.id, call);
    if (call.oob || (!this.held && this.order.size < this.options.maxInFlight)) this.write(call);
    else {
      if (this.queue === NO_CALLS) this.queue = new Set();
      this.queue.add(call);
      this.watchStall();
    }
  }

  private expire(call: Call<M>, reason: unknown, aborted: boolean, timeout: number): void {
    this.abandon(call, aborted ? new QmpAbortError(call.command, reason) : this.timeoutError(call, timeout));
  }

  /** A sent call by id (undefined for unknown ids and queued calls). */
  sent(id: number): Call<M> | undefined {
    const call = this.pending.get(id);
    return call?.sentAt === undefined ? undefined : call;
  }

  /** The oldest sent in-band call still waiting for its reply. */
  oldestInBand(): Call<M> | undefined {
    for (const c of this.order) return c;
    return undefined;
  }

  /**
   * The reply (or the face's verdict) for a sent call: frees its slot and
   * settles it. Returns false when the caller had given up (a late reply).
   */
  settle(call: Call<M>, outcome: { value: JsonValue } | { error: Error }): boolean {
    if (!this.pending.delete(call.id)) return false;
    const wasInBand = this.order.delete(call);
    const late = call.abandoned;
    if (late) this.lateReplies++;
    call.finish(outcome);
    if (wasInBand) this.drain();
    return !late;
  }

  /** Sent calls whose caller gave up and whose reply has not come. */
  abandoned(): Call<M>[] {
    return [...this.order].filter((c) => c.abandoned);
  }

  /**
   * Frees the slot of a sent call its caller gave up on, when the face knows
   * its reply will never be read (the guest agent after a resync).
   */
  release(call: Call<M>): void {
    if (!call.abandoned || !this.pending.delete(call.id)) return;
    this.order.delete(call);
    this.drain();
  }

  /** Writes nothing more until resume(); calls queue (their deadlines run). */
  hold(): void {
    this.held = true;
  }

  resume(): void {
    if (!this.held) return;
    this.held = false;
    this.drain();
  }

  /** The connection is gone: every call not yet settled rejects with `reason`. */
  close(reason: Error): void {
    if (this.closed) return;
    this.closed = reason;
    this.stall?.dispose();
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.order.clear();
    this.queue.clear();
    for (const c of calls) c.finish({ error: reason });
  }

  private write(call: Call<M>): void {
    // Marked sent first: a stream may deliver the reply from inside write().
    call.sentAt = Date.now();
    if (!call.oob) this.order.add(call);
    try {
      this.options.write(call.takeText(), call);
    } catch (e) {
      // Nothing went out: the call fails alone and gives its slot back.
      this.pending.delete(call.id);
      this.order.delete(call);
      call.finish({
        error: new QmpUsageError(
          'unserialisable',
          `${call.command}: the request could not be written: ${String((e as Error)?.message ?? e)}`,
          { cause: e },
        ),
      });
    }
  }

  /** The caller stops waiting; a sent request keeps its slot until the peer answers. */
  private abandon(call: Call<M>, err: Error): void {
    if (call.settled || call.abandoned) return;
    call.finish({ error: err });
    call.abandoned = true;
    call.dropMeta();
    if (call.sentAt !== undefined) this.options.onAbandon?.(call);
    else {
      this.pending.delete(call.id);
      this.queue.delete(call);
      if (!this.queue.size) {
        // Nobody is blocked any more: the next blocked call starts a fresh stallAfter.
        this.stall?.dispose();
        this.stall = undefined;
        this.stallReported = false;
      }
    }
  }

  private drain(): void {
    for (const next of this.queue) {
      if (this.held) break;
      if (this.order.size >= this.options.maxInFlight) break;
      this.queue.delete(next);
      this.write(next);
    }
    this.stall?.dispose();
    this.stall = undefined;
    this.stallReported = false;
    this.watchStall();
  }

  /** While calls wait for a slot and no reply frees one, say so after stallAfter ms. */
  private watchStall(): void {
    if (this.stall || this.stallReported || !this.queue.size || !(this.options.stallAfter > 0)) return;
    this.stall = deadline({ timeout: this.options.stallAfter }, () => {
      this.stall = undefined;
      const oldest = this.oldestInBand();
      if (!this.queue.size || !oldest) return;
      this.stallReported = true;
      this.options.onStall({
        inFlight: this.order.size,
        queued: this.queue.size,
        since: new Date(oldest.sentAt!),
        oldest: oldest.command,
      });
    });
  }

  private timeoutError(call: Call<M>, ms: number): QmpTimeoutError {
    if (call.sentAt !== undefined) return new QmpTimeoutError(call.command, ms);
    const oldest = this.oldestInBand();
    const since = oldest ? new Date(oldest.sentAt!).toISOString() : 'now';
    return new QmpTimeoutError(
      call.command,
      ms,
      false,
      `not sent within ${ms} ms: ${this.order.size} requests outstanding since ${since}` +
        (oldest ? ` (the oldest: ${oldest.command})` : '') +
        (this.options.notSentHint ? `; ${hint(this.options.notSentHint)}` : ''),
    );
  }
}

function hint(h: string | (() => string)): string {
  return typeof h === 'string' ? h : h();
}
