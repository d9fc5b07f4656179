/**
 * The one place where a wait meets its timeout and its AbortSignal: calls,
 * event waits, connecting, the handshake and the stall watch all arm a
 * deadline here and disarm it when they settle.
 *
 * Two traps of Node's own primitives are handled once, here: setTimeout
 * fires after 1 ms for any delay beyond 2^31-1 ms (so long delays are
 * chained), and an AbortSignal shared by more than ten waits warns about a
 * listener leak (so each signal gets a single listener, fanned out).
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
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const fire = (why: Expiry): void => {
    if (done) return;
    dispose();
    onExpire(why);
  };
  let unlisten: (() => void) | undefined;
  function dispose(): void {
    done = true;
    clearTimeout(timer);
    unlisten?.();
  }
  if (options.signal) unlisten = onAbort(options.signal, () => fire({ kind: 'abort', reason: options.signal!.reason }));
  const arm = (remaining: number): void => {
    if (remaining > MAX_TIMER_MS) timer = setTimeout(() => arm(remaining - MAX_TIMER_MS), MAX_TIMER_MS);
    else timer = setTimeout(() => fire({ kind: 'timeout' }), remaining);
  };
  if (!done && options.timeout && options.timeout > 0 && options.timeout !== Infinity) arm(options.timeout);
  return { dispose };
}

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
