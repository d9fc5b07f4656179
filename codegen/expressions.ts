/**
 * What the parser hands to the checks: expressions as ordered dictionaries,
 * each with its location and the doc comment that precedes it.
 */
import type { QapiDoc } from './doc.js';
import type { SourceInfo } from './source.js';

/** The QAPI language has strings, booleans, lists and dictionaries: no numbers, no null. */
export type QapiValue = string | boolean | QapiValue[] | QapiDict;
/** Keys in source order (a Map, because object keys that look like integers get reordered). */
export type QapiDict = Map<string, QapiValue>;

export interface QapiExpression {
  /** The top-level dictionary, e.g. {'struct': 'Foo', 'data': {...}}. */
  readonly expr: QapiDict;
  /** Where the expression starts; set_defn()'d by the checks once the name is known. */
  readonly info: SourceInfo;
  /** The definition doc comment right before it, if any. */
  readonly doc: QapiDoc | undefined;
}

/** Doc-comment dialect: QEMU up to 8.x ('Note:', 'Example:', '= Heading') or 9.x+ (rST, 'Errors:', 70 columns). */
export type DocDialect = 'legacy' | 'modern';

export interface ParseOptions {
  /** Default 'modern'; 'auto' picks 'legacy' when the main file uses the old doc syntax. */
  dialect?: DocDialect | 'auto';
  /** Reads a file; defaults to fs.readFileSync(path, 'utf8'). Lets tests parse from memory. */
  readFile?: (path: string) => string;
}

export interface ParseResult {
  /** Definitions and `{include: FILE}` directives, in source order with includes expanded after their directive. */
  readonly exprs: QapiExpression[];
  /** Every doc comment, free-form ones included, in source order. */
  readonly docs: QapiDoc[];
  /** Files read, main file first (for --check staleness and the generated header). */
  readonly files: string[];
  readonly dialect: DocDialect;
}
