/**
 * Event delivery: listeners, bounded async streams and one-shot waiters.
 *
 * Events that arrive before the handshake is done are held (up to a bound,
 * beyond which they are dropped and counted) and delivered once it is, in a
 * later turn of the event loop, after the code awaiting the connection has
 * had its chance to subscribe. A listener that throws does not stop the
 * others, nor the reading of the messages after the event.
 *
 * A waiter never rejects unobserved: `waitForEvent(...)` armed before a
 * command that then fails, and never awaited, cannot crash the process
 * with an unhandled rejection; awaiting it still gives its error.
 */
import { CallbackError, QmpAbortError, QmpTimeoutError } from '../errors.js';
import type { Disposable } from '../core/connection.js';
import { checkCount, checkSignal, checkTimeout, deadline, type Deadline } from '../core/deadline.js';
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

type Listener = (e: QmpEvent) => void;

interface Subscription {
  name: ReadonlySet<string> | undefined;
  listener: Listener;
}

export interface HubLimits {
  /** Events held before the handshake completes, at most (default 1024). */
  earlyEvents?: number;
  /** Size of the events held before the handshake completes, in characters, at most (default 4 Mi). */
  earlyBytes?: number;
}

export class EventHub {
  /** Events dropped because too many arrived before the handshake completed. */
  droppedEarly = 0;
  private readonly subs = new Set<Subscription>();
  /** The subscriptions as of the last change: emitting walks this, so a listener added meanwhile starts with the next event. */
  private snapshot: Subscription[] = [];
  private early: QmpEvent[] | undefined = [];
  private earlyBytes = 0;
  /** start() was called: the held events go out on the next turn of the event loop. */
  private starting = false;
  private closedWith: Error | undefined;
  private readonly closers = new Set<(e: Error) => void>();
  private readonly limits: Required<HubLimits>;

  constructor(
    /** Receives what a listener throws. */
    private readonly onCallbackError: (err: CallbackError) => void,
    limits: HubLimits = {},
  ) {
    this.limits = { earlyEvents: limits.earlyEvents ?? 1024, earlyBytes: limits.earlyBytes ?? 4 * 1024 * 1024 };
  }

  on(name: string | readonly string[] | undefined, listener: Listener): Disposable {
    const sub: Subscription = { name: name === undefined ? undefined : new Set(typeof name === 'string' ? [name] : name), listener };
    this.subs.add(sub);
    this.snapshot = [...this.subs];
    return {
      dispose: () => {
        if (this.subs.delete(sub)) this.snapshot = [...this.subs];
      },
    };
  }

  /** Delivers an event; `bytes` is its size in characters (for the pre-handshake bound). */
  emit(e: QmpEvent, bytes = 0): void {
    if (this.early) {
      if (this.early.length >= this.limits.earlyEvents || this.earlyBytes + bytes > this.limits.earlyBytes) {
        this.droppedEarly++;
        return;
      }
      this.early.push(e);
      this.earlyBytes += bytes;
      return;
    }
    const subs = this.snapshot;
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i];
      if ((s.name && !s.name.has(e.event)) || !this.subs.has(s)) continue;
      try {
        s.listener(e);
      } catch (err) {
        this.onCallbackError(new CallbackError(`listener of ${e.event}`, err));
      }
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
    if (!held || !this.starting) return;
    this.early = undefined;
    for (const e of held) this.emit(e);
  }

  close(reason: Error): void {
    // Events held for delivery reach the subscribers before the end.
    this.flush();
    this.early = undefined;
    this.closedWith = reason;
    for (const c of [...this.closers]) c(reason);
    this.closers.clear();
  }

  wait(name: string, predicate: ((e: QmpEvent) => boolean) | undefined, options: WaitOptions = {}): EventWait<QmpEvent> {
    let cancel: (reason?: unknown) => void = () => undefined;
    const what = `event ${name}`;
    const promise = new Promise<QmpEvent>((resolve, reject) => {
      const timeout = checkTimeout(options.timeout, `waitForEvent(${name}): timeout`);
      const signal = checkSignal(options.signal, `waitForEvent(${name}): signal`);
      if (this.closedWith) return reject(this.closedWith);
      let limit: Deadline | undefined;
      const finish = (err: Error | undefined, e?: QmpEvent): void => {
        sub.dispose();
        limit?.dispose();
        this.closers.delete(onClose);
        if (err) reject(err);
        else resolve(e!);
      };
      const sub = this.on(name, (e) => {
        let match: boolean;
        try {
          match = !predicate || predicate(e);
        } catch (err) {
          return finish(err instanceof Error ? err : new CallbackError(`predicate of waitForEvent(${name})`, err));
        }
        if (match) finish(undefined, e);
      });
      const onClose = (err: Error): void => finish(err);
      this.closers.add(onClose);
      cancel = (reason) => finish(new QmpAbortError(what, reason));
      limit = deadline({ timeout, signal }, (why) =>
        finish(
          why.kind === 'abort'
            ? new QmpAbortError(what, why.reason)
            : new QmpTimeoutError(what, timeout, false, `no ${name} event within ${timeout} ms`),
        ),
      );
    });
    // Observed here, so an armed wait that is never awaited cannot crash the process.
    promise.catch(() => undefined);
    return Object.assign(promise, { cancel: (reason?: unknown) => cancel(reason) });
  }

  stream(name: string | readonly string[] | undefined, options: EventStreamOptions = {}): EventStream<QmpEvent> {
    const size = checkCount(options.bufferSize ?? 1024, 'events(): bufferSize');
    const buffer: QmpEvent[] = [];
    let head = 0;
    /** Pending next() calls, oldest first: each gets the next event, or the end. */
    const waiters: ((r: IteratorResult<QmpEvent>) => void)[] = [];
    let finished = false;
    let dropped = 0;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      sub.dispose();
      this.closers.delete(onClose);
      for (const w of waiters.splice(0)) w({ value: undefined, done: true });
    };
    const onClose = (): void => finish();
    const sub = this.on(name, (e) => {
      const w = waiters.shift();
      if (w) return w({ value: e, done: false });
      if (buffer.length - head >= size) {
        head++;
        dropped++;
      }
      buffer.push(e);
      // Compact now and then, so the array does not grow with what was read.
      if (head > 1024 && head * 2 > buffer.length) {
        buffer.splice(0, head);
        head = 0;
      }
    });
    if (this.closedWith) finish();
    else this.closers.add(onClose);
    const it: EventStream<QmpEvent> = {
      get dropped() {
        return dropped;
      },
      next(): Promise<IteratorResult<QmpEvent>> {
        if (head < buffer.length) {
          const value = buffer[head++];
          if (head === buffer.length) {
            buffer.length = 0;
            head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => waiters.push(r));
      },
      return(): Promise<IteratorResult<QmpEvent>> {
        buffer.length = 0;
        head = 0;
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
