/**
 * The guest agent's everyday multi-command tasks, done once and right:
 * running a program (guest-exec, then guest-exec-status polled with
 * backoff) and copying a file either way (guest-file-open, read or write
 * in base64 chunks, close). Binary data stays intact, a file handle is
 * closed whatever happens, and nothing the agent sends is trusted: counts
 * are checked against the data, and a read stops at `maxBytes`.
 */
import { deadline } from '../core/deadline.js';
import { checkCount, checkKeys, checkSignal, checkTimeout } from '../core/options.js';
import { ProtocolError, QmpAbortError, QmpTimeoutError, QmpUsageError } from '../errors.js';
import { excerpt, type CallOptions } from '../core/calls.js';
import type { JsonObject } from '../wire/framing.js';
import type { JsonValue } from '../wire/json.js';

/** How a helper runs one command (the client's own send: validated, timed, resynchronised). */
export type Run = (command: string, args: JsonObject | undefined, options: CallOptions) => Promise<JsonValue>;

export interface ExecOptions {
  /** Written to the program's stdin. */
  input?: Uint8Array | string;
  /** The program's environment: `['NAME=value', ...]` or `{ NAME: 'value' }` (the agent's own when absent). */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /** Capture stdout and stderr (default true). */
  captureOutput?: boolean;
  /** Milliseconds for the whole run, start to exit (default 60 000; 0 or Infinity: no limit). */
  timeout?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** The program's pid in the guest. */
  pid: number;
  /** Its exit code, when it exited normally. */
  exitCode?: number;
  /** The signal that ended it, when one did. */
  signal?: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The agent keeps at most 16 MiB of each stream: true when it cut this one. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export interface FileOptions {
  /** Bytes per guest-file-read or guest-file-write (default 1 MiB; the agent reads at most 48 MiB at once). */
  chunkSize?: number;
  /** readFile: the most bytes accepted from the guest (default 256 MiB): a larger file is an error, not a full memory. */
  maxBytes?: number;
  /** Milliseconds per command (default: the client's for each command). */
  timeout?: number;
  signal?: AbortSignal;
  /** writeFile: append instead of replacing the file. */
  append?: boolean;
}

const EXEC_OPTIONS = ['input', 'env', 'captureOutput', 'timeout', 'signal'] as const;
const FILE_OPTIONS = ['chunkSize', 'maxBytes', 'timeout', 'signal', 'append'] as const;
/** guest-exec-status polls: from quick (short commands answer in a few ms) to at most once a second. */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 1000;
const MiB = 1024 * 1024;

export async function runInGuest(
  run: Run,
  path: string,
  args: readonly string[],
  options: ExecOptions | undefined,
): Promise<ExecResult> {
  const o = checkKeys<ExecOptions>(options, EXEC_OPTIONS, 'exec options');
  const timeout = checkTimeout(o.timeout ?? 60_000, 'exec: timeout');
  const signal = checkSignal(o.signal, 'exec: signal');
  const ends = timeout > 0 ? Date.now() + timeout : Infinity;
  const left = (): CallOptions => {
    const ms = ends - Date.now();
    if (ms <= 0) throw new QmpTimeoutError('guest-exec', timeout, true, `${path} did not end within ${timeout} ms`);
    return ms === Infinity ? { signal } : { timeout: ms, signal };
  };
  const request: JsonObject = { path, arg: [...args], 'capture-output': o.captureOutput ?? true };
  if (o.env)
    request.env = Array.isArray(o.env)
      ? [...(o.env as readonly string[])]
      : Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  if (o.input !== undefined) request['input-data'] = toBuffer(o.input).toString('base64');
  const started = reply(await run('guest-exec', request, left()), 'guest-exec');
  const pid = started.pid;
  if (typeof pid !== 'number') throw shape('guest-exec', 'a reply without a pid');
  for (let wait = POLL_FIRST_MS; ; wait = Math.min(POLL_MAX_MS, wait * 2)) {
    let status: JsonObject;
    try {
      status = reply(await run('guest-exec-status', { pid }, left()), 'guest-exec-status');
    } catch (e) {
      throw stillRunning(e, path, pid, timeout);
    }
    if (status.exited === true) {
      return {
        pid,
        exitCode: typeof status.exitcode === 'number' ? status.exitcode : undefined,
        signal: typeof status.signal === 'number' ? status.signal : undefined,
        stdout: fromBase64(status['out-data'], 'guest-exec-status', 'out-data'),
        stderr: fromBase64(status['err-data'], 'guest-exec-status', 'err-data'),
        stdoutTruncated: status['out-truncated'] === true,
        stderrTruncated: status['err-truncated'] === true,
      };
    }
    try {
      await sleep(Math.min(wait, ends - Date.now()), signal);
    } catch (e) {
      throw stillRunning(e, path, pid, timeout);
    }
  }
}

/** A timeout or abort while waiting for a program: it says the program is still running, and which. */
function stillRunning(e: unknown, path: string, pid: number, timeout: number): unknown {
  if (e instanceof QmpTimeoutError)
    return new QmpTimeoutError(
      'guest-exec',
      timeout,
      true,
      `${path} (pid ${pid}) did not end within ${timeout} ms; it is still running in the guest`,
    );
  if (e instanceof QmpAbortError) return new QmpAbortError(`guest-exec ${path} (pid ${pid}, still running)`, e.reason);
  return e;
}

export async function copyFromGuest(run: Run, path: string, options: FileOptions | undefined): Promise<Buffer> {
  const o = checkKeys<FileOptions>(options, FILE_OPTIONS, 'readFile options');
  const chunk = checkCount(o.chunkSize ?? MiB, 'readFile: chunkSize', false, 48 * MiB);
  const max = checkCount(o.maxBytes ?? 256 * MiB, 'readFile: maxBytes');
  const call = callOptions(o, 'readFile');
  const handle = await run('guest-file-open', { path, mode: 'rb' }, call);
  const parts: Buffer[] = [];
  let total = 0;
  return withHandle(run, handle, async () => {
    for (;;) {
      const r = reply(await run('guest-file-read', { handle, count: chunk }, call), 'guest-file-read');
      const data = fromBase64(r['buf-b64'], 'guest-file-read', 'buf-b64');
      if (r.count !== data.length)
        throw shape('guest-file-read', `a count of ${excerpt(r.count)} with ${data.length} bytes of data`);
      total += data.length;
      if (total > max)
        throw new QmpUsageError('too-large', `readFile: ${path} is larger than maxBytes (${max}); nothing was kept`);
      parts.push(data);
      if (r.eof === true || data.length === 0) return Buffer.concat(parts, total);
    }
  });
}

export async function copyToGuest(
  run: Run,
  path: string,
  data: Uint8Array | string,
  options: FileOptions | undefined,
): Promise<void> {
  const o = checkKeys<FileOptions>(options, FILE_OPTIONS, 'writeFile options');
  const chunk = checkCount(o.chunkSize ?? MiB, 'writeFile: chunkSize', false, 48 * MiB);
  const call = callOptions(o, 'writeFile');
  const bytes = toBuffer(data);
  const handle = await run('guest-file-open', { path, mode: o.append ? 'ab' : 'wb' }, call);
  await withHandle(run, handle, async () => {
    for (let offset = 0, stuck = 0; offset < bytes.length;) {
      const piece = bytes.subarray(offset, offset + chunk);
      const r = reply(
        await run('guest-file-write', { handle, 'buf-b64': piece.toString('base64'), count: piece.length }, call),
        'guest-file-write',
      );
      const written = r.count;
      if (typeof written !== 'number' || written < 0 || written > piece.length)
        throw shape('guest-file-write', `a count of ${excerpt(written)} for ${piece.length} bytes`);
      // A short write goes on from where it stopped; one that writes nothing, again and again, is an error.
      stuck = written === 0 ? stuck + 1 : 0;
      if (stuck > 3) throw shape('guest-file-write', `no progress at offset ${offset} of ${path}`);
      offset += written;
    }
    await run('guest-file-flush', { handle }, call);
  });
}

/** Runs `body` with an open guest file; the handle is closed after, whether it succeeded or not. */
async function withHandle<T>(run: Run, handle: JsonValue, body: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await body();
  } catch (e) {
    // Not with the caller's signal (it may be what fired): the handle is closed either way.
    await run('guest-file-close', { handle }, {}).catch(() => undefined);
    throw e;
  }
  await run('guest-file-close', { handle }, {});
  return result;
}

function callOptions(o: FileOptions, what: string): CallOptions {
  const call: CallOptions = { signal: checkSignal(o.signal, `${what}: signal`) };
  if (o.timeout !== undefined) call.timeout = checkTimeout(o.timeout, `${what}: timeout`);
  return call;
}

function toBuffer(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new QmpUsageError('bad-option', `expected a Uint8Array (or Buffer) or a string, got ${typeof data}`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The agent's base64 (absent: empty), refused when it is not base64 rather than decoded into garbage. */
function fromBase64(value: JsonValue | undefined, command: string, member: string): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value))
    throw shape(command, `${member} that is not base64`);
  return Buffer.from(value, 'base64');
}

/** A reply that must be an object (when validation is off, nothing else checked it). */
function reply(value: JsonValue, command: string): JsonObject {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw shape(
    command,
    `${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value} instead of an object`,
  );
}

function shape(command: string, what: string): ProtocolError {
  return new ProtocolError('unknown-shape', `${command}: the agent sent ${what}`);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    deadline({ timeout: Math.max(1, ms), signal }, (why) =>
      why.kind === 'abort' ? reject(new QmpAbortError('guest-exec', why.reason)) : resolve(),
    );
  });
}
