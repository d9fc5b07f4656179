/**
 * Splitting the byte stream into messages. QEMU ends each message with CRLF,
 * qemu-ga with LF; neither puts a raw newline inside one. Chunks may hold part
 * of a message or several. A 0xFF byte (qemu-ga's guest-sync-delimited marker)
 * resets the stream: everything before it is noise.
 *
 * Nothing the peer sends can make this throw or hold more than about
 * `maxMessageBytes`: a line that is not a JSON object is reported and
 * skipped; one larger than the cap is reported (with its head and tail, so
 * the caller can tell whose reply it was) and discarded up to its end; one
 * nested deeper than `maxDepth` is reported and discarded before anything
 * recursive (JSON.stringify, the caller's code) can meet it. A partial
 * message is copied into one growing buffer, so many tiny reads cost their
 * bytes, not a Buffer each.
 */
import { ProtocolError } from '../errors.js';
import { parseJson, type JsonValue } from './json.js';
import { depthOf } from './limits.js';

export type JsonObject = { [key: string]: JsonValue };

export interface DecoderEvents {
  /** A message; `size` is its length in characters with its newline, for accounting. */
  message(msg: JsonObject, size: number): void;
  /**
   * A problem with the peer's bytes; the decoder has already moved past it.
   * For an oversized message, `tail` holds its last bytes (as text).
   */
  error(err: ProtocolError, tail?: string): void;
  /** A 0xFF byte was read; the bytes before it were dropped. */
  sync?(): void;
}

export interface DecoderOptions {
  /** Largest message accepted, in bytes (default 10 MiB). */
  maxMessageBytes?: number;
  /** Deepest nesting of arrays and objects accepted (default 4096). */
  maxDepth?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SYNC = 0xff;
/** Characters of offending text kept for messages and logs. */
export const EXCERPT = 120;
/** Bytes kept of an oversized message's end: enough for its `"id": ...}`. */
const TAIL = 256;
/** Shared by every idle decoder: nothing is ever written into a zero-length buffer. */
const EMPTY = Buffer.alloc(0);
/** A partial-message buffer larger than this is released after use. */
const KEEP_BUFFER = 64 * 1024;

export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** The most maxMessageBytes may be: a message must fit in one JavaScript string (about 512 MiB) once decoded. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 4096;

export class MessageDecoder {
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
  /** The partial message carried over from earlier chunks: buf[0, len). */
  private buf = EMPTY;
  private len = 0;
  /** Dropping the rest of an oversized message, up to its newline. */
  private skipping = false;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** The start of the oversized message being skipped, reported at its end. */
  private oversizedHead = '';

  constructor(
    private readonly on: DecoderEvents,
    options: DecoderOptions = {},
  ) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  /** Set by stop(): nothing more is read, not even the rest of the current chunk. */
  private stopped = false;

  /** Bytes held for a partial message (for tests and accounting). */
  get buffered(): number {
    return this.len;
  }

  /** Reads nothing more (the connection closed, maybe from inside a message handler). */
  stop(): void {
    this.stopped = true;
    this.reset();
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let start = 0;
    // Searched once per chunk, and again only past each 0xFF: linear in the chunk.
    let ff = chunk.indexOf(SYNC);
    const last = chunk.lastIndexOf(LF);
    while (start < chunk.length && !this.stopped) {
      if (ff >= 0 && ff < start) ff = chunk.indexOf(SYNC, start);
      if (!this.skipping && this.len === 0 && ff < 0) {
        // Nothing carried over, no 0xFF ahead, and too few bytes for any line to be oversized: every complete line in one decode.
        if (last >= start && last - start <= this.maxMessageBytes) {
          this.emitLines(chunk.toString('utf8', start, last));
          start = last + 1;
          continue;
        }
      }
      const nl = chunk.indexOf(LF, start);
      if (ff >= 0 && (nl < 0 || ff < nl)) {
        this.reset();
        this.on.sync?.();
        start = ff + 1;
        continue;
      }
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skipping && this.len + (end - start) > this.maxMessageBytes) {
        this.startSkipping(chunk.subarray(start, end));
      }
      if (this.skipping) {
        this.keepTail(chunk.subarray(start, end));
        if (nl < 0) return;
        this.finishSkipping();
      } else if (nl < 0) {
        this.append(chunk.subarray(start, end));
        return;
      } else if (this.len === 0) {
        const text = chunk.toString('utf8', start, end);
        this.emit(text, text.length + 1);
      } else {
        this.append(chunk.subarray(start, end));
        let text: string;
        try {
          text = this.buf.toString('utf8', 0, this.len);
        } finally {
          this.release();
        }
        this.emit(text, text.length + 1);
      }
      start = nl + 1;
    }
  }

  /** The stream ended: a partial message left over is an error. */
  end(): void {
    if (this.stopped) return;
    if (this.skipping) {
      this.finishSkipping();
      return;
    }
    const rest = this.buf.toString('utf8', 0, this.len);
    this.reset();
    if (rest.trim())
      this.on.error(
        new ProtocolError('truncated', 'the connection closed in the middle of a message', rest.slice(0, EXCERPT)),
      );
  }

  private reset(): void {
    this.release();
    this.skipping = false;
    this.tail = [];
    this.tailBytes = 0;
  }

  private release(): void {
    this.len = 0;
    if (this.buf.length > KEEP_BUFFER) this.buf = EMPTY;
  }

  private append(part: Buffer): void {
    const need = this.len + part.length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(need, this.buf.length * 2, 256), this.maxMessageBytes + 1));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    part.copy(this.buf, this.len);
    this.len = need;
  }

  private startSkipping(part: Buffer): void {
    const head = Buffer.concat([this.buf.subarray(0, Math.min(this.len, EXCERPT)), part.subarray(0, EXCERPT)]);
    this.oversizedHead = head.toString('utf8', 0, Math.min(head.length, EXCERPT));
    this.keepTail(this.buf.subarray(Math.max(0, this.len - TAIL), this.len));
    this.release();
    this.skipping = true;
  }

  private keepTail(part: Buffer): void {
    if (part.length === 0) return;
    // Copied: a view would pin the whole chunk it came from.
    this.tail.push(Buffer.from(part.subarray(Math.max(0, part.length - TAIL))));
    this.tailBytes += Math.min(part.length, TAIL);
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= TAIL)
      this.tailBytes -= this.tail.shift()!.length;
  }

  private finishSkipping(): void {
    let tail = Buffer.concat(this.tail).toString('utf8');
    if (tail.endsWith('\r')) tail = tail.slice(0, -1);
    const head = this.oversizedHead;
    this.reset();
    this.oversized(head, tail);
  }

  private oversized(head: string, tail: string): void {
    this.on.error(
      new ProtocolError(
        'oversized',
        `a message larger than the ${this.maxMessageBytes}-byte limit was discarded`,
        head,
      ),
      tail.slice(-TAIL),
    );
  }

  /** Complete lines, the last one without its LF. */
  private emitLines(text: string): void {
    let at = 0;
    for (;;) {
      const nl = text.indexOf('\n', at);
      const line = nl < 0 ? text.slice(at) : text.slice(at, nl);
      this.emit(line, line.length + 1);
      if (nl < 0 || this.stopped) return;
      at = nl + 1;
    }
  }

  private emit(line: string, size: number): void {
    const text = line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
    // Blank lines (JSON whitespace only) carry nothing; anything else is a message or an error.
    if (text.length === 0 || (text.charCodeAt(0) <= 0x20 && /^[ \t\r]*$/.test(text))) return;
    // Fewer characters than 2 * maxDepth cannot nest deeper than maxDepth.
    if (text.length > 2 * this.maxDepth && depthOf(text) > this.maxDepth) {
      this.on.error(
        new ProtocolError(
          'too-deep',
          `a message nested deeper than ${this.maxDepth} levels was discarded`,
          text.slice(0, EXCERPT),
        ),
      );
      return;
    }
    let value: JsonValue;
    try {
      value = parseJson(text);
    } catch (e) {
      this.on.error(
        new ProtocolError(
          'invalid-json',
          `invalid JSON from the peer: ${(e as Error).message}`,
          text.slice(0, EXCERPT),
        ),
      );
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.on.error(new ProtocolError('not-an-object', 'a message must be a JSON object', text.slice(0, EXCERPT)));
      return;
    }
    this.on.message(value, size);
  }
}
