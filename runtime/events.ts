/**
 * Event delivery: listeners, bounded async streams and one-shot waiters.
 * Events that arrive before the handshake is done are held and delivered
 * once it is, so nothing QEMU says early is lost: in a later turn of the
 * event loop, after the code awaiting the connection has had its chance to
 * subscribe. A listener that throws does not stop the others, nor the
 * reading of the messages after the event.
 */
import type { JsonValue } from './json.js';

export interface QmpEvent<N extends string = string, D = JsonValue> {
  event: N;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

export interface Disposable {
  dispose(): void;
}

export interface EventStreamOptions {
  /** Events kept for a slow consumer; beyond it the oldest are dropped and counted (default 1024). */
  bufferSize?: number;
}

type Listener = (e: QmpEvent) => void;

interface Subscription {
  name: ReadonlySet<string> | undefined;
  listener: Listener;
}

export class EventHub {
  private readonly subs = new Set<Subscription>();
  private early: QmpEvent[] | undefined = [];
  /** start() was called: the held events go out on the next turn of the event loop. */
  private starting = false;
  private closedWith: Error | undefined;
  private readonly closers = new Set<(e: Error) => void>();

  /** `onListenerError` receives what a listener throws (default: ignored). */
  constructor(private readonly onListenerError: (err: Error) => void = () => undefined) {}

  on(name: string | readonly string[] | undefined, listener: Listener): Disposable {
    const sub: Subscription = { name: name === undefined ? undefined : new Set(typeof name === 'string' ? [name] : name), listener };
    this.subs.add(sub);
    return { dispose: () => void this.subs.delete(sub) };
  }

  emit(e: QmpEvent): void {
    if (this.early) {
      this.early.push(e);
      return;
    }
    for (const s of [...this.subs]) {
      if (!this.subs.has(s) || (s.name && !s.name.has(e.event))) continue;
      try {
        s.listener(e);
      } catch (err) {
        this.onListenerError(err instanceof Error ? err : new Error(String(err)));
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
    this.closedWith = reason;
    for (const c of [...this.closers]) c(reason);
    this.closers.clear();
  }

  wait(
    name: string,
    predicate: ((e: QmpEvent) => boolean) | undefined,
    options: { timeout?: number; signal?: AbortSignal } = {},
  ): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      if (this.closedWith) return reject(this.closedWith);
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        sub.dispose();
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.closers.delete(onClose);
      };
      const sub = this.on(name, (e) => {
        let match: boolean;
        try {
          match = !predicate || predicate(e);
        } catch (err) {
          done();
          return reject(err as Error);
        }
        if (match) {
          done();
          resolve(e);
        }
      });
      const onClose = (err: Error) => {
        done();
        reject(err);
      };
      this.closers.add(onClose);
      const onAbort = () => {
        done();
        reject(Object.assign(new Error(`waiting for ${name}: aborted`, { cause: options.signal?.reason }), { name: 'AbortError' }));
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeout && options.timeout > 0) {
        timer = setTimeout(() => {
          done();
          reject(Object.assign(new Error(`no ${name} event within ${options.timeout} ms`), { name: 'TimeoutError' }));
        }, options.timeout);
      }
    });
  }

  stream(name: string | readonly string[] | undefined, options: EventStreamOptions = {}): AsyncIterableIterator<QmpEvent> & { readonly dropped: number } {
    const size = Math.max(1, options.bufferSize ?? 1024);
    const buffer: QmpEvent[] = [];
    let waiter: ((r: IteratorResult<QmpEvent>) => void) | undefined;
    let finished = false;
    let dropped = 0;
    const finish = () => {
      if (finished) return;
      finished = true;
      sub.dispose();
      this.closers.delete(onClose);
      waiter?.({ value: undefined, done: true });
      waiter = undefined;
    };
    const onClose = () => finish();
    const sub = this.on(name, (e) => {
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w({ value: e, done: false });
        return;
      }
      if (buffer.length >= size) {
        buffer.shift();
        dropped++;
      }
      buffer.push(e);
    });
    if (this.closedWith) finish();
    else this.closers.add(onClose);
    const it = {
      get dropped() {
        return dropped;
      },
      next(): Promise<IteratorResult<QmpEvent>> {
        if (buffer.length) return Promise.resolve({ value: buffer.shift()!, done: false });
        if (finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => (waiter = r));
      },
      return(): Promise<IteratorResult<QmpEvent>> {
        buffer.length = 0;
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
