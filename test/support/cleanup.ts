/** What the fake-peer tests share: per-test cleanup, and QMP errors as plain values to compare. */
import { afterEach } from 'vitest';
import { QmpError } from '../../runtime/errors.js';

/**
 * Registers (at a test file's top level) an afterEach that undoes what a test made, whatever
 * happened, last made first; returns the function that records one undo.
 */
export function cleanupAfterEach(): (undo: () => unknown) => void {
  const undos: (() => unknown)[] = [];
  afterEach(async () => {
    for (const undo of undos.splice(0).reverse()) await undo();
  });
  return (undo) => void undos.push(undo);
}

/** A rejection's QmpError as class, desc and the SDK's code, to compare. */
export async function errorOf(p: Promise<unknown>): Promise<{ class: string; desc: string; code: string }> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof QmpError)) throw new Error(`expected a QmpError, got ${String(e)}`);
  return { class: e.class, desc: e.desc, code: e.code };
}
