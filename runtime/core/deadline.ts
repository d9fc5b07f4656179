/**
 * The one place where a wait meets its timeout and its AbortSignal: calls,
 * event waits, connecting, the handshake and the stall watch all arm a
 * deadline here and disarm it when they settle.
 *
 * Three traps of Node's own primitives are handled once, here: setTimeout
 * fires after 1 ms for any delay beyond 2^31-1 ms (so long delays wait in
 * steps), a timer per request costs more than the request (so all deadlines
 * share one timer), and an AbortSignal shared by more than ten waits warns
 * about a listener leak (so each signal gets a single listener, fanned out).
 */
export interface DeadlineOptions {
  /** Milliseconds; 0 or Infinity (or undefined) waits forever. */
  timeout?: number;
  signal?: AbortSignal;
}

export type Expiry = { kind: 'timeout' } | { kind: 'abort'; reason: unknown };

export interface Deadline {
  /** Disarms the timer and the abort listener; idempotent. */
  dispose(): void;
}

/** setTimeout's largest delay; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpire` once when the timeout passes or the signal aborts
 * (synchronously, if it already has), unless disposed first.
 */
export function deadline(options: DeadlineOptions, onExpire: (why: Expiry) => void): Deadline {
  let entry: Entry | undefined;
  let done = false;
  const fire = (why: Expiry): void => {
    if (done) return;
    dispose();
    onExpire(why);
  };
  let unlisten: (() => void) | undefined;
  function dispose(): void {
    done = true;
    if (entry) timers.cancel(entry);
    entry = undefined;
    unlisten?.();
  }
  if (options.signal) unlisten = onAbort(options.signal, () => fire({ kind: 'abort', reason: options.signal!.reason }));
  if (!done && options.timeout && options.timeout > 0 && options.timeout !== Infinity)
    entry = timers.add(performance.now() + options.timeout, () => fire({ kind: 'timeout' }));
  return { dispose };
}

interface Entry {
  at: number;
  fire: (() => void) | undefined;
}

/**
 * Every deadline of the process on one Node timer, armed for the earliest.
 * A call that settles before its deadline (nearly all of them) only marks
 * its entry: arming and clearing a Node timer per request cost more than
 * the rest of a guest-agent round trip's client code (bench: qga-ping).
 * The timer holds the process open only while some deadline is live.
 */
class TimerQueue {
  /** A binary min-heap on `at`; cancelled entries stay until they surface or the heap is rebuilt. */
  private heap: Entry[] = [];
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  add(at: number, fire: () => void): Entry {
    const entry: Entry = { at, fire };
    this.push(entry);
    if (this.live++ === 0) this.timer?.ref();
    if (at < this.timerAt) this.arm();
    return entry;
  }

  cancel(entry: Entry): void {
    if (!entry.fire) return;
    entry.fire = undefined;
    if (--this.live === 0) this.timer?.unref();
    // Mostly cancelled entries: keep the heap the size of what is live.
    if (this.heap.length > 64 && this.heap.length > 4 * this.live) {
      this.heap = this.heap.filter((e) => e.fire);
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
    }
  }

  private arm(): void {
    while (this.heap.length && !this.heap[0].fire) this.pop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.heap.length) return;
    this.timerAt = this.heap[0].at;
    // A delay beyond setTimeout's range fires at once: wait in steps, and look again.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(this.timerAt - performance.now())));
    this.timer = setTimeout(() => this.run(), delay);
    if (this.live === 0) this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    while (this.heap.length && this.heap[0].at <= now) {
      const entry = this.pop();
      const fire = entry.fire;
      if (!fire) continue;
      entry.fire = undefined;
      this.live--;
      try {
        fire();
      } catch {
        // An expiry handler never throws into the timer; what it reports, it reports itself.
      }
    }
    this.arm();
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (h[parent].at <= h[i].at) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].at < h[m].at) m = l;
      if (r < h.length && h[r].at < h[m].at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
}

const timers = new TimerQueue();

/** One 'abort' listener per signal, fanned out to every wait that uses it. */
const waiters = new WeakMap<AbortSignal, Set<() => void>>();

function onAbort(signal: AbortSignal, callback: () => void): (() => void) | undefined {
  if (signal.aborted) {
    callback();
    return undefined;
  }
  let set = waiters.get(signal);
  if (!set) {
    const callbacks = new Set<() => void>();
    set = callbacks;
    waiters.set(signal, callbacks);
    signal.addEventListener(
      'abort',
      () => {
        waiters.delete(signal);
        for (const c of [...callbacks]) c();
      },
      { once: true },
    );
  }
  set.add(callback);
  return () => {
    set.delete(callback);
  };
}
