/**
 * What the command line prints: JSON, pretty or on one line, with 64-bit
 * integers exact (a bigint is written as the integer it is, never rounded
 * and never a string).
 */
import { randomUUID } from 'node:crypto';
import { stringifyJson } from '../runtime/wire/json.js';

/** `value` as JSON text: indented (the default) or on one line (`compact`). */
export function formatJson(value: unknown, compact = false): string {
  if (compact) return stringifyJson(value);
  // Bigints go through JSON.stringify as marked strings, then lose their quotes; the marker is new
  // each time, so no string from QEMU can look like one.
  const mark = `bigint-${randomUUID()}:`;
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${mark}${v}` : v), 2) ?? 'null';
  return text.replace(new RegExp(`"${mark}(-?\\d+)"`, 'g'), '$1');
}
