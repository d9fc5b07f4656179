/**
 * Splitting the byte stream into messages. QEMU ends each message with CRLF,
 * qemu-ga with LF; neither puts a raw newline inside one. Chunks may hold part
 * of a message or several. A 0xFF byte (qemu-ga's guest-sync-delimited marker)
 * resets the stream: everything before it is noise. A line that is not a JSON
 * object is reported and skipped, so one bad message never stalls the stream;
 * a message larger than the cap is reported and discarded up to its end.
 */
import { parseJson, type JsonValue } from './json.js';

export type JsonObject = { [key: string]: JsonValue };

export interface DecoderEvents {
  message(msg: JsonObject): void;
  /** A problem with the peer's bytes; the decoder has already resynchronised. */
  error(err: FramingError): void;
  /** A 0xFF byte was read; the bytes before it were dropped. */
  sync?(): void;
}

export class FramingError extends Error {
  override name = 'FramingError';
  constructor(
    message: string,
    /** The start of the offending bytes, for logs. */
    readonly excerpt: string,
  ) {
    super(message);
  }
}

const LF = 0x0a;
const SYNC = 0xff;
const EXCERPT = 120;

export class MessageDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Dropping the rest of an oversized message, up to its newline. */
  private skipping = false;

  constructor(
    private readonly on: DecoderEvents,
    /** Largest message accepted, in bytes (default 10 MiB). */
    readonly maxMessageBytes = 10 * 1024 * 1024,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      const ff = chunk.indexOf(SYNC, start);
      if (ff >= 0 && (nl < 0 || ff < nl)) {
        this.reset();
        this.on.sync?.();
        start = ff + 1;
        continue;
      }
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skipping) {
        if (this.buffered + (end - start) > this.maxMessageBytes) {
          const head = this.take(chunk.subarray(start, Math.min(end, start + EXCERPT)));
          this.skipping = true;
          this.on.error(
            new FramingError(`message larger than the ${this.maxMessageBytes}-byte limit: discarded`, head.toString('utf8', 0, EXCERPT)),
          );
        } else if (end > start) {
          this.chunks.push(chunk.subarray(start, end));
          this.buffered += end - start;
        }
      }
      if (nl < 0) return;
      if (this.skipping) this.skipping = false;
      else this.emit(this.take());
      start = nl + 1;
    }
  }

  /** The stream ended: a partial message left over is an error. */
  end(): void {
    const rest = this.take();
    this.skipping = false;
    if (rest.toString('latin1').trim()) {
      this.on.error(new FramingError('connection closed in the middle of a message', rest.toString('utf8', 0, EXCERPT)));
    }
  }

  private reset(): void {
    this.chunks = [];
    this.buffered = 0;
    this.skipping = false;
  }

  /** The buffered bytes (plus `extra`), clearing the buffer. */
  private take(extra?: Buffer): Buffer {
    if (extra) this.chunks.push(extra);
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.reset();
    return all;
  }

  private emit(line: Buffer): void {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (!text.trim()) return;
    let value: JsonValue;
    try {
      value = parseJson(text);
    } catch (e) {
      this.on.error(new FramingError(`invalid JSON from the peer: ${(e as Error).message}`, text.slice(0, EXCERPT)));
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.on.error(new FramingError('a message must be a JSON object', text.slice(0, EXCERPT)));
      return;
    }
    this.on.message(value);
  }
}
