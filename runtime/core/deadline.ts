/**
 * The one place where a wait meets its timeout and its AbortSignal: calls,
 * event waits, connecting and the handshake all arm a deadline here and
 * disarm it when they settle.
 *
 * Two traps of Node's own primitives are handled once, here: setTimeout
 * fires after 1 ms for any delay beyond 2^31-1 ms (so long delays are
 * chained), and an AbortSignal shared by more than ten waits warns about a
 * listener leak (so each signal gets a single listener, fanned out).
 */
import { QmpUsageError } from '../errors.js';

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
 * The caller's timeout as a number of ms, 0 meaning none; throws
 * QmpUsageError (naming `what`) for a negative number, NaN or a non-number.
 */
export function checkTimeout(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new QmpUsageError('bad-option', `${what}: expected a number of milliseconds >= 0 (0 or Infinity: no limit), got ${describe(value)}`);
  }
  return value === Infinity ? 0 : value;
}

/** A positive integer option (Infinity allowed when `infinite`), else QmpUsageError. */
export function checkCount(value: unknown, what: string, infinite = false): number {
  if ((infinite && value === Infinity) || (typeof value === 'number' && Number.isInteger(value) && value > 0)) return value as number;
  throw new QmpUsageError('bad-option', `${what}: expected an integer >= 1${infinite ? ' (or Infinity)' : ''}, got ${describe(value)}`);
}

/** An AbortSignal or undefined, else QmpUsageError. */
export function checkSignal(value: unknown, what: string): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new QmpUsageError('bad-option', `${what}: expected an AbortSignal, got ${describe(value)}`);
}

function describe(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined ? String(value) : typeof value;
}

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
