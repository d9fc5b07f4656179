/**
 * The QAPI schema lexer, a port of the tokenizer in QEMU's scripts/qapi/parser.py.
 *
 * It is a cursor over one file's text rather than a token array: the parser
 * switches between skipping comments (expressions) and returning them (doc
 * comments) from one token to the next, exactly as QEMU's does. Positions are
 * UTF-16 indexes; columns are computed in code points, as Python counts them.
 */
import { QapiParseError } from './errors.js';
import type { SourceInfo } from './source.js';

export type TokenKind = '{' | '}' | ':' | ',' | '[' | ']' | 'string' | 'bool' | 'comment' | 'eof';

/** A token with its place, for tools and tests; the parser itself reads the Lexer's fields. */
export interface Token {
  kind: TokenKind;
  /** String contents, the whole comment line from its '#', or the boolean. */
  value: string | boolean | undefined;
  line: number;
  col: number;
}

/**
 * Characters Python's str.isspace() accepts (and its `\s` matches). QEMU relies
 * on that set, so `\s` and String.prototype.trim, which differ, are not used.
 */
export const PY_WHITESPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export function isPySpace(c: number): boolean {
  if (c < 0x85) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Python's str.rstrip() with no argument. */
export function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && isPySpace(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  let start = 0;
  while (start < s.length && isPySpace(s.charCodeAt(start))) start++;
  return pyRstrip(s.slice(start));
}

/** Length of the leading whitespace (Python's `re.match(r'\s*', s).end()`). */
export function pyIndent(s: string): number {
  let i = 0;
  while (i < s.length && isPySpace(s.charCodeAt(i))) i++;
  return i;
}

/** Number of code points, which is what Python's len() counts. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * Python reads schema files in universal-newline mode: CR LF and lone CR
 * become LF. QEMU also appends a final newline when the text lacks one.
 */
export function normalizeSource(text: string): string {
  const src = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
  return src.endsWith('\n') ? src : src + '\n';
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x27;
const HASH = 0x23;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const TAB = 0x09;
const DOUBLE_QUOTE = 0x22;

export class Lexer {
  kind: TokenKind = 'eof';
  value: string | boolean | undefined = undefined;
  /** Index of the current token's first character. */
  pos = 0;
  /** The current token's line, and the index where that line starts. */
  line = 1;
  lineStart = 0;
  private cursor = 0;
  private lineInfo: SourceInfo;
  private lineInfoLine = 1;

  /**
   * @param src normalized text (see normalizeSource): it must end with a newline.
   * @param fileInfo the file's location at line 1; per-line copies are made from it.
   * @param strayStopsAtDoubleQuote QEMU up to 8.x ended the text shown for a stray token at '"' too.
   */
  constructor(
    readonly src: string,
    private readonly fileInfo: SourceInfo,
    private readonly strayStopsAtDoubleQuote = false,
  ) {
    this.lineInfo = fileInfo;
  }

  /**
   * The current token's line as a SourceInfo (without column). One object per
   * line, shared by everything found on it, like QEMU's.
   */
  get info(): SourceInfo {
    if (this.lineInfoLine !== this.line) {
      this.lineInfo = this.fileInfo.nextLine(this.line - 1);
      this.lineInfoLine = this.line;
    }
    return this.lineInfo;
  }

  /**
   * QEMU's column: 1-based, in code points from the start of the line. A tab
   * maps the column c to ((c + 7) mod 8) + 1, which is QEMU's arithmetic
   * verbatim (it wraps the column instead of advancing to the next tab stop).
   */
  column(pos = this.pos): number {
    const src = this.src;
    let col = 1;
    for (let i = this.lineStart; i < pos; i++) {
      const c = src.charCodeAt(i);
      if (c === TAB) col = ((col + 7) % 8) + 1;
      else if (c < 0xdc00 || c > 0xdfff || i === this.lineStart || !isHighSurrogate(src.charCodeAt(i - 1))) col++;
    }
    return col;
  }

  /** A parse error at the current token (or at `pos` on the current line). */
  error(msg: string, pos = this.pos): QapiParseError {
    return new QapiParseError(this.info, msg, this.column(pos));
  }

  /**
   * Advance to the next token. Comments are skipped unless skipComments is
   * false; a comment starting with '##' (a doc comment delimiter) is always
   * returned, wherever it is.
   */
  next(skipComments = true): void {
    const src = this.src;
    for (;;) {
      const pos = this.cursor;
      const c = src.charCodeAt(pos);
      this.pos = pos;
      this.cursor = pos + 1;
      this.value = undefined;
      switch (c) {
        case HASH: {
          const docDelimiter = src.charCodeAt(this.cursor) === HASH;
          this.cursor = src.indexOf('\n', this.cursor);
          if (skipComments && !docDelimiter) continue;
          this.kind = 'comment';
          this.value = src.slice(pos, this.cursor);
          return;
        }
        case OPEN_BRACE:
          this.kind = '{';
          return;
        case CLOSE_BRACE:
          this.kind = '}';
          return;
        case COLON:
          this.kind = ':';
          return;
        case COMMA:
          this.kind = ',';
          return;
        case OPEN_BRACKET:
          this.kind = '[';
          return;
        case CLOSE_BRACKET:
          this.kind = ']';
          return;
        case QUOTE:
          this.kind = 'string';
          this.value = this.readString();
          return;
        case NEWLINE:
          if (this.cursor === src.length) {
            this.kind = 'eof';
            return;
          }
          this.line++;
          this.lineStart = this.cursor;
          continue;
      }
      if (src.startsWith('true', pos)) {
        this.kind = 'bool';
        this.value = true;
        this.cursor += 3;
        return;
      }
      if (src.startsWith('false', pos)) {
        this.kind = 'bool';
        this.value = false;
        this.cursor += 4;
        return;
      }
      if (isPySpace(c)) continue;
      throw this.error(`unexpected '${this.strayText(pos)}'`);
    }
  }

  /** The string whose opening quote is at this.pos; only `\\` may be escaped, only printable ASCII allowed. */
  private readString(): string {
    const src = this.src;
    let i = this.cursor;
    let segment = i;
    let out = '';
    for (;;) {
      const c = src.charCodeAt(i);
      if (c === QUOTE) {
        this.cursor = i + 1;
        return out + src.slice(segment, i);
      }
      if (c === NEWLINE) {
        this.cursor = i + 1;
        throw this.error('string is missing its closing "\'"');
      }
      if (c === BACKSLASH) {
        const e = src.charCodeAt(i + 1);
        if (e === NEWLINE) {
          this.cursor = i + 2;
          throw this.error('string is missing its closing "\'"');
        }
        if (e !== BACKSLASH) {
          this.cursor = i + 2;
          throw this.error(`invalid escape sequence '\\${charAt(src, i + 1)}' (only '\\\\' is allowed)`);
        }
        out += src.slice(segment, i + 1);
        i += 2;
        segment = i;
        continue;
      }
      if (c < 32 || c >= 127) {
        this.cursor = i + 1;
        throw this.error('string contains a character outside printable ASCII');
      }
      i++;
    }
  }

  /** What QEMU shows of a stray token: up to the next structural, whitespace or quote character. */
  private strayText(pos: number): string {
    const src = this.src;
    let end = pos;
    for (;;) {
      const c = src.charCodeAt(end);
      if (
        c === OPEN_BRACKET ||
        c === CLOSE_BRACKET ||
        c === OPEN_BRACE ||
        c === CLOSE_BRACE ||
        c === COLON ||
        c === COMMA ||
        c === QUOTE ||
        (c === DOUBLE_QUOTE && this.strayStopsAtDoubleQuote) ||
        isPySpace(c) ||
        Number.isNaN(c)
      ) {
        break;
      }
      end++;
    }
    return src.slice(pos, end);
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** The code point at i as a string (a whole surrogate pair when there is one). */
function charAt(s: string, i: number): string {
  return String.fromCodePoint(s.codePointAt(i) ?? 0);
}

/** All tokens of a text, comments included (a convenience for tools and tests). */
export function tokenize(text: string, fileInfo: SourceInfo): Token[] {
  const lx = new Lexer(normalizeSource(text), fileInfo);
  const tokens: Token[] = [];
  do {
    lx.next(false);
    tokens.push({ kind: lx.kind, value: lx.value, line: lx.line, col: lx.column() });
  } while (lx.kind !== 'eof');
  return tokens;
}
