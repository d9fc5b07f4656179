/**
 * The fake QEMU's side of the bytes: requests split as QEMU's JSON streamer
 * splits them (by nesting, not by lines: clients need not end a request
 * with a newline, and this client does not), and an in-process pair of
 * streams for tests that need no socket.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { QEMU_JSON_LIMITS } from '../wire/limits.js';

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Splits the text a client writes into top-level JSON values: an object or
 * array when its brackets balance, a string when it closes, any other
 * top-level text (a number, a literal, garbage) at the next whitespace or
 * bracket. Each is handed on as text, to be parsed (or refused) by the
 * caller. A value beyond QEMU's 64 MiB is dropped and reported (the rest of
 * its text then arrives as more garbage, as QEMU's own parser would see it).
 */
export class RequestSplitter {
  readonly #decoder = new StringDecoder('utf8');
  /** Text of the value being read, carried over from earlier chunks. */
  #partial = '';
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Reading a top-level scalar or garbage, which ends at whitespace or a bracket. */
  #bare = false;

  constructor(
    private readonly onValue: (text: string) => void,
    private readonly onOversized: () => void,
  ) {}

  push(chunk: Buffer): void {
    const text = this.#decoder.write(chunk);
    // Where the value being read starts in this chunk; -1 between values.
    let from = this.#reading() ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (from < 0) {
        if (isSpace(c)) continue;
        from = i;
        if (c === 0x7b || c === 0x5b) this.#depth = 1;
        else if (c === 0x22) this.#inString = true;
        else this.#bare = true;
        continue;
      }
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === 0x5c) this.#escaped = true;
        else if (c === 0x22) {
          this.#inString = false;
          if (this.#depth === 0) from = this.#complete(text, from, i + 1);
        }
        continue;
      }
      if (this.#bare) {
        if (isSpace(c) || c === 0x7b || c === 0x5b || c === 0x22) {
          from = this.#complete(text, from, i);
          i--; // this character starts what follows
        }
        continue;
      }
      if (c === 0x22) this.#inString = true;
      else if (c === 0x7b || c === 0x5b) this.#depth++;
      else if ((c === 0x7d || c === 0x5d) && --this.#depth === 0) from = this.#complete(text, from, i + 1);
    }
    if (from >= 0) {
      this.#partial += text.slice(from);
      if (this.#partial.length > QEMU_JSON_LIMITS.maxBytes) {
        this.#reset();
        this.onOversized();
      }
    }
  }

  #reading(): boolean {
    return this.#partial.length > 0;
  }

  /** Hands on the value ending at `end`; returns -1 (between values). */
  #complete(text: string, from: number, end: number): number {
    const value = this.#partial + text.slice(from, end);
    this.#reset();
    this.onValue(value);
    return -1;
  }

  #reset(): void {
    this.#partial = '';
    this.#depth = 0;
    this.#inString = false;
    this.#escaped = false;
    this.#bare = false;
  }
}

/**
 * Two connected in-process streams: what one writes, the other reads, a
 * turn of the event loop later (as from a socket: a peer never re-enters
 * its writer). Ending or destroying either end is, for the other, a socket
 * its peer closed: the data on its way, then the end of input ('end'),
 * then its own end and 'close' (no half-open connections, as the fakes'
 * sockets have none).
 */
export function streamPair(): { client: Duplex; server: Duplex } {
  let server!: Duplex;
  /** The end of input for `p`, after the writes already on their way. */
  const eof = (p: Duplex): void =>
    void setImmediate(() => {
      if (!p.destroyed) p.push(null);
    });
  const end = (peer: () => Duplex): Duplex =>
    new Duplex({
      allowHalfOpen: false,
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        const p = peer();
        setImmediate(() => {
          if (!p.destroyed) p.push(chunk);
        });
        callback();
      },
      final(callback) {
        eof(peer());
        callback();
      },
      destroy(error, callback) {
        eof(peer());
        callback(error);
      },
    });
  const client = end(() => server);
  server = end(() => client);
  return { client, server };
}

/**
 * Where a fake takes its connections: in process (`connectStream`) or on a
 * unix socket (`listen`), each handed to `accept`, which decides what a
 * connection is. Server errors after listening go to `problems`.
 */
export class Endpoint {
  #server: Server | undefined;
  #path: string | undefined;

  constructor(
    private readonly who: string,
    private readonly accept: (stream: Duplex) => void,
    private readonly problems: Error[],
  ) {}

  /** The socket path, once listening. */
  get path(): string | undefined {
    return this.#path;
  }

  connectStream(): Duplex {
    const { client, server } = streamPair();
    this.accept(server);
    return client;
  }

  /** Resolves once it listens on `where.path` (checked first). */
  async listen(where: { path: string }): Promise<string> {
    if (this.#server) throw new TypeError(`${this.who}: already listening on ${this.#path}`);
    if (typeof where?.path !== 'string' || !where.path)
      throw new TypeError(`${this.who}: listen({ path }): a socket path`);
    const server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      this.accept(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.problems.push(e));
    this.#server = server;
    this.#path = where.path;
    return where.path;
  }

  /** Stops the server (if any); resolves when it is closed and its socket removed. */
  close(): Promise<void> {
    const server = this.#server;
    return server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  }
}
