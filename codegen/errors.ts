/**
 * One error hierarchy for the whole front end. Anything else thrown is a bug.
 * Messages are printed as `file:line:col: message`, preceded by context lines
 * (the include chain and the definition being checked) when there are any.
 */
import type { SourceInfo } from './source.js';

export class QapiError extends Error {
  override name = 'QapiError';
}

/** An error with a place in a schema file. */
export class QapiSourceError extends QapiError {
  override name = 'QapiSourceError';
  constructor(
    readonly info: SourceInfo | undefined,
    readonly msg: string,
    readonly col?: number,
  ) {
    super(info ? `${info.loc(col ?? info.col)}: ${msg}` : msg);
  }

  /** The line users see: `file:line[:col]: message`. */
  get location(): string {
    return this.info ? this.info.loc(this.col ?? this.info.col) : '';
  }

  /** Everything, context lines first, as QEMU's own tools print it. */
  format(): string {
    return [...(this.info?.context() ?? []), this.message].join('\n');
  }
}

/** The text is not well-formed QAPI (lexing, parsing, includes, pragmas). */
export class QapiParseError extends QapiSourceError {
  override name = 'QapiParseError';
  /** Broken only by a doc line-format rule QEMU 10.0 did not have (line length, sentence spacing). */
  lineFormat = false;
}

/** The text is well-formed but breaks a rule of the language or the doc comments. */
export class QapiSemanticError extends QapiSourceError {
  override name = 'QapiSemanticError';
}
