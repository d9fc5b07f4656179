/**
 * Build conditions ('if') as a tree. The leaves are configuration symbols
 * (CONFIG_LINUX, TARGET_I386...); a definition, member, branch, value or
 * feature is present in a QEMU build when its condition holds.
 */
import type { QapiValue } from './expressions.js';

export type IfCond =
  string | { readonly all: readonly IfCond[] } | { readonly any: readonly IfCond[] } | { readonly not: IfCond };

/** Converts a checked 'if' value (see expr.ts) to the tree; undefined means "always". */
export function ifcondFrom(value: QapiValue | undefined): IfCond | undefined {
  if (value === undefined) return undefined;
  return convert(value);
}

function convert(value: QapiValue): IfCond {
  if (typeof value === 'string') return value;
  if (!(value instanceof Map)) throw new TypeError('unchecked if condition');
  const [op, operand] = value.entries().next().value as [string, QapiValue];
  if (op === 'not') return { not: convert(operand) };
  const operands = (operand as QapiValue[]).map(convert);
  return op === 'all' ? { all: operands } : { any: operands };
}

/**
 * Renders a condition with the given spellings, parenthesizing nested
 * operators, e.g. `defined(A) && !defined(B)` or `A and (B or C)`.
 */
export function formatIfCond(
  cond: IfCond | undefined,
  style: { symbol: (s: string) => string; not: (s: string) => string; and: string; or: string },
): string {
  const go = (c: IfCond, nested: boolean): string => {
    if (typeof c === 'string') return style.symbol(c);
    if ('not' in c) return style.not(go(c.not, true));
    const text =
      'all' in c ? c.all.map((o) => go(o, true)).join(style.and) : c.any.map((o) => go(o, true)).join(style.or);
    return nested ? `(${text})` : text;
  };
  return cond === undefined ? '' : go(cond, false);
}

/** As prose for documentation: `A and (B or not C)`. */
export function ifcondToText(cond: IfCond | undefined): string {
  return formatIfCond(cond, { symbol: (s) => s, not: (s) => `not ${s}`, and: ' and ', or: ' or ' });
}
