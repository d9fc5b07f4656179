/**
 * Checking what the caller passes as options: each bad value is a
 * QmpUsageError ('bad-option') naming the option, never a later surprise
 * (a NaN bound, a misspelt key silently ignored).
 */
import { QmpUsageError } from '../errors.js';
import { suggest } from '../suggest.js';

/** A timeout in ms, 0 meaning none (0, Infinity and undefined wait forever). */
export function checkTimeout(value: unknown, what: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw bad(what, 'a number of milliseconds >= 0 (0 or Infinity: no limit)', value);
  }
  return value === Infinity ? 0 : value;
}

/** A positive integer, at most `max` (Infinity allowed when `infinite`). */
export function checkCount(value: unknown, what: string, infinite = false, max = Number.MAX_SAFE_INTEGER): number {
  if (
    (infinite && value === Infinity) ||
    (typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= max)
  )
    return value;
  throw bad(what, `an integer from 1 to ${max}${infinite ? ' (or Infinity)' : ''}`, value);
}

export function checkSignal(value: unknown, what: string): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw bad(what, 'an AbortSignal', value);
}

export function checkBoolean(value: unknown, what: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw bad(what, 'true or false', value);
}

export function checkFunction<F>(value: unknown, what: string): F | undefined {
  if (value === undefined || typeof value === 'function') return value as F | undefined;
  throw bad(what, 'a function', value);
}

/** An options object (undefined and null count as none) with only `known` keys. */
export function checkKeys<T extends object>(value: unknown, known: readonly string[], what: string): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(what, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new QmpUsageError(
        'bad-option',
        `${what}: unknown option '${key}'${suggest(key, known)}; known: ${known.join(', ')}`,
      );
    }
  }
  return value;
}

function bad(what: string, expected: string, value: unknown): QmpUsageError {
  return new QmpUsageError('bad-option', `${what}: expected ${expected}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** One of `choices`, or undefined. */
export function checkChoice<T extends string>(value: unknown, choices: readonly T[], what: string): T | undefined {
  if (value === undefined || choices.includes(value as T)) return value as T | undefined;
  throw bad(what, choices.map((c) => `'${c}'`).join(', '), value);
}

/** A listener: a function, required. */
export function checkListener<F>(value: unknown, what: string): F {
  if (typeof value === 'function') return value as F;
  throw bad(what, 'a function', value);
}
