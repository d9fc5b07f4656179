/**
 * Event delivery: listeners, bounded async streams and one-shot waiters.
 *
 * Events that arrive before the handshake is done are held (up to a bound,
 * beyond which they are dropped and counted) and delivered once it is, in a
 * later turn of the event loop, after the code awaiting the connection has
 * had its chance to subscribe. A listener that throws (or returns a promise
 * that rejects) does not stop the others, nor the reading of the messages
 * after the event: it is reported as a CallbackError.
 *
 * A waiter never rejects unobserved: `waitForEvent(...)` armed before a
 * command that then fails, and never awaited, cannot crash the process
 * with an unhandled rejection; awaiting it still gives its error.
 */
import { watch, type Disposable } from '../core/connection.js';
import { deadline, type Deadline } from '../core/deadline.js';
import { checkCount, checkFunction, checkKeys, checkListener, checkSignal, checkTimeout } from '../core/options.js';
import { CallbackError, QmpAbortError, QmpTimeoutError, QmpUsageError } from '../errors.js';
import type { JsonValue } from '../wire/json.js';

export interface QmpEvent<N extends string = string, D = JsonValue> {
  event: N;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

export type { Disposable };

export interface EventStreamOptions {
  /** Events kept for a slow consumer; beyond it the oldest are dropped and counted (default 1024). */
  bufferSize?: number;
  /**
   * The same bound in size: characters of the events' text (default 4 Mi).
   * Parsed, hostile text such as `[{},{},...]` can take some 20 times that.
   */
  bufferChars?: number;
}

export interface WaitOptions {
  /** Milliseconds (default: none); 0 or Infinity waits until the connection closes. */
  timeout?: number;
  signal?: AbortSignal;
}

/** A pending waitForEvent: a promise that can also be cancelled (it then rejects with QmpAbortError). */
export type EventWait<T> = Promise<T> & { cancel(reason?: unknown): void };

/** An async iterator of events that counts what its bounded buffer dropped. */
export type EventStream<T> = AsyncIterableIterator<T> & { readonly dropped: number };

/** How subscriptions receive events: with their size, for buffers that bound it. */
type Receiver = (e: QmpEvent, size: number) => void;

interface Subscription {
  receive: Receiver;
  /** What a throw of `receive` is reported as. */
  what: string;
  /** When it was made: an emit skips subscriptions made after it began. */
  seq: number;
  /** Waits and streams end when the connection does. */
  close?(reason: Error): void;
}

export interface HubLimits {
  /** Events held before the handshake completes, at most (default 1024). */
  earlyEvents?: number;
  /** Size of the events held before the handshake completes, in characters, at most (default 1 Mi). */
  earlyChars?: number;
}

const STREAM_OPTIONS = ['bufferSize', 'bufferChars'] as const;
const WAIT_OPTIONS = ['timeout', 'signal'] as const;

/** Shared empty stand-ins until a hub's first subscription; never added to. */
const NO_NAMES: Map<string, Set<Subscription>> = new Map();
const NO_SUBSCRIPTIONS: Set<Subscription> = new Set();

export class EventHub {
  /** Events dropped because too many arrived before the handshake completed. */
  droppedEarly = 0;
  /**
   * Subscriptions by event name, and `any` for those to every event. An
   * emit walks the live sets: one disposed meanwhile is not visited (a Set
   * skips deleted entries), one made meanwhile (by a listener) is skipped by
   * its `seq`, and starts with the next event.
   */
  // Made on the first subscription: most connections never subscribe, and an empty Map or Set costs 150-300 bytes.
  private byName: Map<string, Set<Subscription>> = NO_NAMES;
  private any: Set<Subscription> = NO_SUBSCRIPTIONS;
  private seq = 0;
  private early: { e: QmpEvent; size: number }[] | undefined = [];
  private earlyChars = 0;
  /** start() was called: the held events go out on the next turn of the event loop. */
  private starting = false;
  /** The held events are going out: one that comes meanwhile (a listener's command) queues behind them. */
  private flushing = false;
  private closedWith: Error | undefined;
  private readonly limits: Required<HubLimits>;

  constructor(
    /** Receives what a listener throws. */
    private readonly onCallbackError: (err: CallbackError) => void,
    limits: HubLimits = {},
  ) {
    this.limits = { earlyEvents: limits.earlyEvents ?? 1024, earlyChars: limits.earlyChars ?? 1024 * 1024 };
  }

  /** A listener of the caller's, for events named `name` (one, several, or every event when undefined). */
  on(name: unknown, listener: unknown): Disposable {
    const names = checkNames(name, 'on');
    const fn = checkListener<(e: QmpEvent) => unknown>(listener, 'on: listener');
    return this.subscribe(names, { receive: (e) => fn(e) as undefined, what: 'event listener', seq: 0 });
  }

  private subscribe(names: readonly string[] | undefined, sub: Subscription): Disposable {
    sub.seq = ++this.seq;
    if (names && this.byName === NO_NAMES) this.byName = new Map();
    if (!names && this.any === NO_SUBSCRIPTIONS) this.any = new Set();
    const sets = names ? names.map((n) => this.byName.get(n) ?? this.byName.set(n, new Set()).get(n)!) : [this.any];
    for (const set of sets) set.add(sub);
    return {
      dispose: () => {
        for (const set of sets) set.delete(sub);
        if (names) for (const n of names) if (this.byName.get(n)?.size === 0) this.byName.delete(n);
      },
    };
  }

  /** Delivers an event; `size` is its length in characters (for the bounds on held and buffered events). */
  emit(e: QmpEvent, size = 0): void {
    if (this.early) {
      if (this.flushing) {
        this.early.push({ e, size });
        return;
      }
      if (this.early.length >= this.limits.earlyEvents || this.earlyChars + size > this.limits.earlyChars) {
        this.droppedEarly++;
        return;
      }
      this.early.push({ e, size });
      this.earlyChars += size;
      return;
    }
    this.deliverAll(e, size);
  }

  private deliverAll(e: QmpEvent, size: number): void {
    const last = this.seq;
    const named = this.byName.get(e.event);
    if (named) for (const s of named) if (s.seq <= last) this.deliver(s, e, size);
    for (const s of this.any) if (s.seq <= last) this.deliver(s, e, size);
  }

  private deliver(s: Subscription, e: QmpEvent, size: number): void {
    // invoke() inlined: this runs per event per subscription.
    try {
      const r = s.receive(e, size) as unknown;
      if (r !== undefined) watch(r, () => `${s.what} of ${e.event}`, this.onCallbackError);
    } catch (err) {
      this.onCallbackError(new CallbackError(`${s.what} of ${e.event}`, err));
    }
  }

  /**
   * The handshake is done: deliver what was held, and what comes meanwhile,
   * once the caller has had the connection and a chance to subscribe.
   */
  start(): void {
    if (!this.early || this.starting) return;
    this.starting = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    const held = this.early;
    if (!held || !this.starting || this.flushing) return;
    this.flushing = true;
    try {
      for (let i = 0; i < held.length; i++) {
        const { e, size } = held[i];
        this.deliverAll(e, size);
      }
    } finally {
      this.early = undefined;
      this.flushing = false;
    }
  }

  /** The connection closed: held events go out first, then every stream ends, every wait rejects, and listeners are dropped. */
  close(reason: Error): void {
    if (this.closedWith) return;
    this.flush();
    this.early = undefined;
    this.closedWith = reason;
    const subs = new Set<Subscription>([...this.any, ...[...this.byName.values()].flatMap((set) => [...set])]);
    this.byName.clear();
    this.any.clear();
    for (const sub of subs) sub.close?.(reason);
  }

  wait(name: unknown, predicate: unknown, options: unknown): EventWait<QmpEvent> {
    let cancel: (reason?: unknown) => void = () => undefined;
    const promise = new Promise<QmpEvent>((resolve, reject) => {
      const [event] = checkNames(name, 'waitForEvent', true)!;
      const what = `event ${event}`;
      const test = checkFunction<(e: QmpEvent) => unknown>(predicate, `waitForEvent(${event}): predicate`);
      const o = checkKeys<WaitOptions>(options, WAIT_OPTIONS, `waitForEvent(${event}): options`);
      const timeout = checkTimeout(o.timeout, `waitForEvent(${event}): timeout`);
      const signal = checkSignal(o.signal, `waitForEvent(${event}): signal`);
      if (this.closedWith) return reject(this.closedWith);
      let limit: Deadline | undefined;
      let sub: Disposable | undefined;
      const finish = (err: Error | undefined, e?: QmpEvent): void => {
        sub?.dispose();
        limit?.dispose();
        if (err) reject(err);
        else resolve(e!);
      };
      sub = this.subscribe([event], {
        receive: (e) => {
          let match: unknown;
          try {
            match = !test || test(e);
          } catch (err) {
            return finish(new CallbackError(`predicate of waitForEvent(${event})`, err));
          }
          if (
            match !== null &&
            typeof match === 'object' &&
            typeof (match as PromiseLike<unknown>).then === 'function'
          ) {
            // A promise is truthy: matching on it would be wrong every time.
            (match as PromiseLike<unknown>).then(undefined, () => undefined);
            return finish(
              new QmpUsageError(
                'bad-option',
                `waitForEvent(${event}): the predicate returned a promise; it must decide synchronously`,
              ),
            );
          }
          if (match) finish(undefined, e);
        },
        what: 'waiter',
        seq: 0,
        close: (err) => finish(err),
      });
      cancel = (reason) => finish(new QmpAbortError(what, reason));
      limit = deadline({ timeout, signal }, (why) =>
        finish(
          why.kind === 'abort'
            ? new QmpAbortError(what, why.reason)
            : new QmpTimeoutError(what, timeout, false, `no ${event} event within ${timeout} ms`),
        ),
      );
    });
    // Observed here, so an armed wait that is never awaited cannot crash the process.
    promise.catch(() => undefined);
    return Object.assign(promise, { cancel: (reason?: unknown) => cancel(reason) });
  }

  stream(name: unknown, options: unknown): EventStream<QmpEvent> {
    const names = checkNames(name, 'events');
    const o = checkKeys<EventStreamOptions>(options, STREAM_OPTIONS, 'events(): options');
    const maxEvents = checkCount(o.bufferSize ?? 1024, 'events(): bufferSize');
    const maxChars = checkCount(o.bufferChars ?? 4 * 1024 * 1024, 'events(): bufferChars');
    /** A ring: slots are cleared as they are read or dropped, so nothing read stays reachable. */
    let ring: ({ e: QmpEvent; size: number } | undefined)[] = new Array<undefined>(Math.min(maxEvents, 64));
    let head = 0;
    let count = 0;
    let chars = 0;
    /** Pending next() calls, oldest first: each gets the next event, or the end. */
    const waiters: ((r: IteratorResult<QmpEvent>) => void)[] = [];
    let finished = false;
    let dropped = 0;
    const take = (): QmpEvent => {
      const slot = ring[head]!;
      ring[head] = undefined;
      head = (head + 1) % ring.length;
      count--;
      chars -= slot.size;
      return slot.e;
    };
    const put = (e: QmpEvent, size: number): void => {
      while (count && (count >= maxEvents || chars + size > maxChars)) {
        take();
        dropped++;
      }
      if (count === ring.length) {
        // Grow (up to maxEvents) keeping the order.
        const grown = new Array<{ e: QmpEvent; size: number } | undefined>(Math.min(maxEvents, ring.length * 2));
        for (let i = 0; i < count; i++) grown[i] = ring[(head + i) % ring.length];
        ring = grown;
        head = 0;
      }
      ring[(head + count) % ring.length] = { e, size };
      count++;
      chars += size;
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      sub.dispose();
      for (const w of waiters.splice(0)) w({ value: undefined, done: true });
    };
    const sub = this.subscribe(names, {
      receive: (e, size) => {
        const w = waiters.shift();
        if (w) w({ value: e, done: false });
        else put(e, size);
      },
      what: 'event stream',
      seq: 0,
      close: () => finish(),
    });
    if (this.closedWith) finish();
    const it: EventStream<QmpEvent> = {
      get dropped() {
        return dropped;
      },
      next(): Promise<IteratorResult<QmpEvent>> {
        if (count) return Promise.resolve({ value: take(), done: false });
        if (finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => waiters.push(r));
      },
      return(): Promise<IteratorResult<QmpEvent>> {
        ring.fill(undefined);
        count = chars = 0;
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }
}

/** An event name, a list of them, or (unless `one`) undefined for every event. */
function checkNames(name: unknown, what: string, one = false): string[] | undefined {
  if (name === undefined && !one) return undefined;
  if (typeof name === 'string') return [name];
  if (!one && Array.isArray(name) && name.every((n) => typeof n === 'string')) return name;
  throw new QmpUsageError(
    'bad-option',
    `${what}: expected an event name${one ? '' : ', a list of them, or nothing for every event'}, got ${Array.isArray(name) ? 'an array' : typeof name}`,
  );
}
