/**
 * A fake guest agent for tests: qemu-ga's side of the protocol for any
 * generated guest-agent release, over a unix socket or an in-process
 * stream. It checks every request against the release's schema with the
 * runtime's own validator and answers as qemu-ga 7.2 answers, byte for byte
 * where it models qemu-ga: the same error classes and texts, the same JSON
 * text (qemu-json.ts) ended by a bare '\n'. It reuses the fake QEMU's request
 * checks, JSON writer and schema walks (fake-qemu.ts and its helpers).
 *
 * What it models, checked against qemu-ga 7.2 in test/fake-agent.test.ts
 * and test/scenarios.test.ts:
 * - no greeting. guest-sync echoes its id; guest-sync-delimited does too,
 *   after a 0xFF byte;
 * - one JSON parser for the agent's whole life, as on its virtio-serial
 *   channel. A 0xFF (or 0xFE) byte from a client, its resync, drops the
 *   request being read and gets qemu-ga's error, `JSON parse error, stray
 *   '...'` (quoting the string it cut short, if any, with the byte as
 *   \uFFFD). What follows is skipped up to the next structural or control
 *   character, as QEMU's lexer recovers. What one client leaves half-written
 *   is read by the next one's bytes;
 * - one client served at a time, as qemu-ga serves its socket: a client
 *   that connects while another is served waits, and what it writes is read
 *   once the other has gone;
 * - one command at a time, in order: a handler that waits holds the ones
 *   behind it, as a busy agent does;
 * - the errors: CommandNotFound for an unknown command, "Command X has been
 *   disabled" (also CommandNotFound; the SDK's code 'command-disabled') for
 *   one blocked as `qemu-ga -b` blocks it, before its arguments are looked
 *   at; a request's shape and arguments as QEMU words them (qemu-errors.ts);
 * - commands that send no reply on success (guest-shutdown,
 *   guest-suspend-*): nothing is written unless they are refused;
 * - defaults: guest-ping, guest-info (the version and every command of the
 *   release, newest first as qemu-ga lists them, with 'enabled' and
 *   'success-response'), guest-sync*, guest-get-time (the host's clock);
 *   others answer with the least valid value of their return type, or
 *   the reply scripted with `on()`;
 * - guest-exec and guest-exec-status from a script (`exec()`): base64
 *   input, the capture-output modes, out-data/err-data only when there is
 *   output (with their -truncated flags, cut at qemu-ga's 16 MiB), exitcode
 *   or signal, a process forgotten once its exit has been reported
 *   ("Invalid parameter 'pid'" after), qemu-ga's base64 error.
 *
 * What it does not model: the guest (no files, users, disks or network of
 * its own: script them; guest-file-* in particular has no default);
 * commands the build or OS leaves out (every command of the schema exists,
 * and is enabled unless blocked; a real qemu-ga on Linux also disables
 * guest-get-devices: pass it in `blocked`); fsfreeze disabling commands
 * while frozen; the wording of JSON syntax errors other than the stray
 * byte; QEMU's JSON extensions (single-quoted strings); bytes other than
 * 0xFE and 0xFF that QEMU's lexer refuses (control characters in a string,
 * an invalid UTF-8 byte at the top level); the timing of a real process
 * (a script's result is the process's exit, all output at once; with
 * 'merged' capture, stdout then stderr); and where the runtime's validator
 * is stricter than QEMU (see fake-qemu.ts).
 */
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { entriesByName, type SchemaDescriptor, type SchemaInfoCommand } from '../schema/descriptor.js';
import type { RuntimeTable } from '../schema/table.js';
import { validate } from '../schema/validate.js';
import { suggest } from '../suggest.js';
import type { JsonObject } from '../wire/framing.js';
import { parseJson, type JsonValue } from '../wire/json.js';
import {
  FakeError,
  listProblems,
  type FakeCommandMap,
  type FakeLogEntry,
  type FakeRelease,
  type UntypedCommands,
} from './fake-qemu.js';
import { argumentError, checkRequest } from './qemu-errors.js';
import { qemuJson, qemuRead, type QemuRead } from './qemu-json.js';
import { inSchemaOrder, minimalValue } from './schema-walk.js';
import { Endpoint, RequestSplitter } from './transport.js';

// ------------------------------------------------------------------ API

export interface FakeAgentOptions {
  /** A guest-agent release's generated data: `import * as release from 'qapi-ts/qga-7.2'` (its schema and table). */
  release: FakeRelease;
  /** The version guest-info gives (default: the release's, '7.2.0'). */
  version?: string;
  /**
   * Commands disabled as `qemu-ga -b` (--block-rpcs) disables them: refused
   * with "Command X has been disabled", listed as not enabled by
   * guest-info. Each must be a command of the release.
   */
  blocked?: readonly string[];
  /**
   * Check scripted replies against the schema as strictly as arguments are
   * checked (default true). Off, a test can send what no agent would.
   */
  checkOutput?: boolean;
  /**
   * A command that returns something, nobody scripted and the fake has no
   * default for: answered with the least valid value of its return type
   * ('minimal', the default) or with an error saying so ('error').
   */
  unscripted?: 'minimal' | 'error';
}

/** What a handler knows about the request it answers. */
export interface FakeAgentContext {
  readonly command: string;
  /** The request's id, as the client sent it (undefined without one). */
  readonly id: JsonValue | undefined;
  /** The connection it came on, numbered from 1. */
  readonly connection: number;
  /** Aborted when that connection (or the fake) closes: a handler that waits should stop then. */
  readonly signal: AbortSignal;
}

/**
 * Answers one command: its return value (or a promise of it), undefined
 * for the fake's default reply, or a thrown FakeError for an error reply.
 */
export type FakeAgentHandler<A, R> = (
  args: A,
  ctx: FakeAgentContext,
) => R | undefined | void | Promise<R | undefined | void>;

/** A command that passed the agent's checks and reached its handler. */
export interface FakeAgentCall {
  connection: number;
  command: string;
  args: JsonObject;
  id: JsonValue | undefined;
}

/**
 * What guest-exec's 'capture-output' asked for: 'none' (absent or false,
 * qemu-ga's default), 'separated' (true), or a mode of the releases that
 * have them (8.0 on).
 */
export type FakeExecCapture = 'none' | 'stdout' | 'stderr' | 'separated' | 'merged';

/** The process a guest-exec started, as the exec script sees it. */
export interface FakeExecProcess {
  /** The pid guest-exec answers with. */
  readonly pid: number;
  /** The environment guest-exec passed ('NAME=value'); empty when it passed none. */
  readonly env: readonly string[];
  readonly capture: FakeExecCapture;
  /** Aborted when the fake closes: a script that waits should stop then. */
  readonly signal: AbortSignal;
}

/** How a program run by guest-exec ended. */
export interface FakeExecResult {
  /** Its exit code (default 0), unless `signal` says it was killed. */
  exitCode?: number;
  /** The signal that ended it. */
  signal?: number;
  stdout?: string | Uint8Array;
  stderr?: string | Uint8Array;
}

/**
 * Plays the programs guest-exec runs: called with the path, the arguments
 * and the decoded input-data when guest-exec arrives. Its result (or a
 * promise already settled when it returns: an async function that does not
 * wait) is the program's exit, which the first guest-exec-status reports;
 * a promise still pending is a program still running (guest-exec-status
 * says `exited: false` until it settles). A FakeError thrown at once fails
 * guest-exec itself (qemu-ga's "Failed to execute child process"); one a
 * promise rejects with later fails guest-exec-status.
 */
export type FakeExecScript = (
  path: string,
  args: readonly string[],
  input: Buffer,
  process: FakeExecProcess,
) => FakeExecResult | Promise<FakeExecResult>;

/** A guest agent for `options.release`; `listen()` or `connectStream()` to reach it, `close()` when done. */
export function createFakeAgent<C extends FakeCommandMap<C> = UntypedCommands>(
  options: FakeAgentOptions,
): FakeAgent<C> {
  return new FakeAgent<C>(options);
}

// ------------------------------------------------------------------ the fake

/** What a request comes to. */
type Outcome =
  { return: JsonValue; delimited?: boolean } | { error: { class: string; desc: string } } | { noReply: true };

type AnyHandler = (args: JsonObject, ctx: FakeAgentContext) => unknown;

const fail = (cls: string, desc: string): Outcome => ({ error: { class: cls, desc } });

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** GUEST_EXEC_MAX_OUTPUT (qga/commands.c): what qemu-ga keeps of each output stream. */
const MAX_OUTPUT = 16 * 1024 * 1024;
/** qbase64_decode()'s test (util/base64.c), before the lenient decoding. */
const BASE64_CHARS = /^[A-Za-z0-9+/=\n]*$/;
/** The first pid the fake gives out. */
const FIRST_PID = 1000;

/** A guest-exec'd program. */
interface Process {
  readonly capture: FakeExecCapture;
  state: 'running' | 'exited' | 'failed';
  result?: { exitCode?: number; signal?: number; stdout: Buffer; stderr: Buffer };
  error?: FakeError;
}

export class FakeAgent<C extends FakeCommandMap<C> = UntypedCommands> {
  /**
   * Every message in and out, on every connection, in order: requests as
   * read, a stray byte as '\u00ff' (or '\u00fe'), replies with their '\n'
   * (a guest-sync-delimited reply with the 0xFF before it, as '\u00ff').
   * It grows for the fake's life: one fake per test.
   */
  readonly log: FakeLogEntry[] = [];
  /** Commands that reached their handler, in order. */
  readonly calls: FakeAgentCall[] = [];
  /**
   * Mistakes in the test's script, which the client also sees as error
   * replies: handlers and exec scripts that threw something else than a
   * FakeError, replies the schema refuses.
   */
  readonly problems: Error[] = [];
  /** guest-info's version. */
  readonly version: string;
  /** The commands blocked, as `qemu-ga -b` blocks them. */
  readonly blocked: readonly string[];

  readonly #schema: SchemaDescriptor;
  readonly #table: RuntimeTable;
  readonly #blocked: ReadonlySet<string>;
  readonly #checkOutput: boolean;
  readonly #unscripted: 'minimal' | 'error';
  readonly #handlers = new Map<string, AnyHandler>();
  /** Open connections in the order they came: the first is served, the others wait their turn. */
  readonly #sessions: AgentSession[] = [];
  readonly #input: AgentInput;
  readonly #queue: (() => Promise<void>)[] = [];
  readonly #processes = new Map<number, Process>();
  readonly #abort = new AbortController();
  #busy = false;
  #script: FakeExecScript | undefined;
  #nextPid = FIRST_PID;
  #nextConnection = 1;
  readonly #endpoint = new Endpoint('fake-agent', (stream) => this.#accept(stream), this.problems);
  #closing: Promise<void> | undefined;

  constructor(options: FakeAgentOptions) {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.release?.schema))
      throw new TypeError("createFakeAgent: options.release must be a guest-agent release's data ({ schema, table })");
    const { schema, table, qemuVersion, release } = options.release;
    if (typeof table !== 'object' || table === null || typeof table.commands !== 'object')
      throw new TypeError(
        "createFakeAgent: the release data has no table (which commands send no reply): pass the release module (import * as release from 'qapi-ts/qga-7.2')",
      );
    this.#schema = schema;
    this.#table = table;
    if (!this.#commandInfo('guest-sync-delimited'))
      throw new TypeError(
        "createFakeAgent: the release is not a guest agent's (it has no guest-sync-delimited): for QEMU itself, createFakeQemu",
      );
    const version = options.version ?? qemuVersion ?? (release === undefined ? undefined : `${release}.0`);
    if (typeof version !== 'string' || !version)
      throw new TypeError(
        "createFakeAgent: the release data does not say its QEMU version: pass the release module (import * as release from 'qapi-ts/qga-7.2'), or `version`",
      );
    this.version = version;
    const blocked = options.blocked ?? [];
    if (!Array.isArray(blocked)) throw new TypeError('createFakeAgent: blocked must be an array of command names');
    for (const name of blocked) this.#command(String(name), 'blocked: ');
    this.blocked = Object.freeze([...new Set(blocked.map(String))]);
    this.#blocked = new Set(this.blocked);
    this.#checkOutput = options.checkOutput ?? true;
    this.#unscripted = options.unscripted ?? 'minimal';
    this.#input = new AgentInput({
      value: (from, text) => this.#received(from, text),
      stray: (from, byte, token) => this.#stray(from, byte, token),
      oversized: (from) =>
        this.#enqueue(async () =>
          this.#reply(
            from,
            undefined,
            fail('GenericError', 'JSON parse error, message exceeds the 64 MiB qemu-ga reads'),
          ),
        ),
    });
  }

  /** The socket path `listen()` bound, if any. */
  get path(): string | undefined {
    return this.#endpoint.path;
  }

  /** Connections open now: the one served and those waiting their turn. */
  get connections(): number {
    return this.#sessions.length;
  }

  /**
   * Scripts the reply to `command` (replacing an earlier handler and the
   * default): return the value, undefined for the default, or throw a
   * FakeError. Arguments arrive checked against the schema. A command that
   * sends no reply on success still sends nothing unless the handler throws.
   */
  on<K extends keyof C & string>(command: K, handler: FakeAgentHandler<C[K]['args'], C[K]['returns']>): this {
    this.#command(command, 'on');
    if (typeof handler !== 'function')
      throw new TypeError(`fake-agent: on('${command}'): the handler is not a function`);
    this.#handlers.set(command, handler);
    return this;
  }

  /** Back to the default reply for `command`. */
  off<K extends keyof C & string>(command: K): this {
    this.#handlers.delete(command);
    return this;
  }

  /**
   * Emulates guest-exec and guest-exec-status with `script` (undefined: no
   * more; guest-exec is then refused unless a handler answers it). A
   * handler set with `on()` for either command comes first.
   */
  exec(script: FakeExecScript | undefined): this {
    if (script !== undefined && typeof script !== 'function')
      throw new TypeError('fake-agent: exec(script): the script is not a function');
    this.#script = script;
    return this;
  }

  /** A new connection, in process: a stream to give `connectQga({ stream })`. */
  connectStream(): Duplex {
    this.#open('connectStream');
    return this.#endpoint.connectStream();
  }

  /** Listens on a unix socket; connections are accepted until `close()`, which removes the socket. */
  async listen(where: { path: string }): Promise<string> {
    this.#open('listen');
    return this.#endpoint.listen(where);
  }

  /**
   * Closes every connection and the socket; commands not yet run are
   * dropped, and what handlers and exec scripts still wait for is
   * abandoned (their signal aborts).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#queue.length = 0;
      this.#abort.abort(new Error('fake-agent: closed'));
      for (const s of [...this.#sessions]) s.close();
      await this.#endpoint.close();
    })();
    return this.#closing;
  }

  // -- connections ----------------------------------------------------------

  #open(what: string): void {
    if (this.#closing) throw new TypeError(`fake-agent: ${what}() after close()`);
  }

  #accept(stream: Duplex): void {
    if (this.#closing) {
      stream.destroy();
      return;
    }
    this.#sessions.push(new AgentSession(this.#nextConnection++, stream, this.#host));
  }

  /** What sessions call back into. */
  readonly #host: SessionHost = {
    log: (entry) => this.log.push(entry),
    data: (session, chunk) => {
      // Only the client served is read; the others' bytes wait in their socket, as qemu-ga leaves them.
      if (session === this.#sessions[0]) this.#input.feed(session, chunk);
      else session.unread.push(chunk);
    },
    closed: (session) => {
      const at = this.#sessions.indexOf(session);
      if (at < 0) return;
      this.#sessions.splice(at, 1);
      if (at !== 0 || this.#closing) return;
      // The next client's turn: what it wrote meanwhile goes into the same parser, after what the last one left.
      const next = this.#sessions[0];
      if (next) for (const chunk of next.unread.splice(0)) this.#input.feed(next, chunk);
    },
  };

  // -- input ------------------------------------------------------------------

  #received(session: AgentSession, text: string): void {
    let msg: JsonValue | undefined;
    let parseError: string | undefined;
    try {
      msg = parseJson(text);
    } catch (e) {
      parseError = (e as Error).message;
    }
    this.log.push({ direction: 'in', connection: session.id, time: Date.now(), message: msg, text });
    this.#enqueue(async () => {
      // No id: qemu-ga cannot tell whose request it could not read.
      if (parseError !== undefined)
        this.#reply(session, undefined, fail('GenericError', `JSON parse error, ${parseError}`));
      else if (!isObject(msg)) this.#reply(session, undefined, fail('GenericError', 'QMP input must be a JSON object'));
      else await this.#request(session, qemuRead(text));
    });
  }

  /** A byte QEMU's JSON lexer refuses wherever it comes: the request being read is dropped, with an error. */
  #stray(session: AgentSession, byte: number, token: string): void {
    this.log.push({
      direction: 'in',
      connection: session.id,
      time: Date.now(),
      message: undefined,
      text: String.fromCharCode(byte),
    });
    // The token as QEMU quotes it: its bytes, the stray one not UTF-8 and so written as U+FFFD.
    const desc = `JSON parse error, stray '${token}\uFFFD'`;
    this.#enqueue(async () => this.#reply(session, undefined, fail('GenericError', desc)));
  }

  /** qemu-ga runs one command at a time, in the order it read them. */
  #enqueue(task: () => Promise<void>): void {
    this.#queue.push(task);
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      for (let task = this.#queue.shift(); task && !this.#closing; task = this.#queue.shift()) {
        try {
          await task();
        } catch (e) {
          // The fake's own slip (or a value no JSON writer takes): reported, and the agent goes on.
          this.problems.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  /** A request object, as qemu-ga read it (see QemuRead: what it holds, and what its arguments are checked as). */
  async #request(session: AgentSession, read: QemuRead): Promise<void> {
    const request = read.value as JsonObject;
    const id = Object.hasOwn(request, 'id') ? request.id : undefined;
    // qemu-ga dispatches as QEMU's monitor does, with out-of-band execution never enabled.
    const shape = checkRequest(request, false);
    if (typeof shape === 'string') {
      this.#reply(session, id, fail('GenericError', shape));
      return;
    }
    const args = (request.arguments ?? {}) as JsonObject;
    const checked = ((read.checked as JsonObject).arguments ?? {}) as JsonObject;
    this.#reply(session, id, await this.#execute(session, shape.command, args, checked, id));
  }

  /** A reply as qemu-ga writes it: 'return' or 'error', then the id when the request had one; '\n' after. */
  #reply(session: AgentSession, id: JsonValue | undefined, outcome: Outcome): void {
    if ('noReply' in outcome) return;
    const message: JsonObject =
      'error' in outcome
        ? { error: { class: outcome.error.class, desc: outcome.error.desc } }
        : { return: outcome.return };
    if (id !== undefined) message.id = id;
    const text = `${qemuJson(message)}\n`;
    session.write(message, 'return' in outcome && outcome.delimited ? `\u00ff${text}` : text);
  }

  // -- commands ---------------------------------------------------------------

  async #execute(
    session: AgentSession,
    command: string,
    args: JsonObject,
    checked: JsonObject,
    id: JsonValue | undefined,
  ): Promise<Outcome> {
    // qapi/qmp-dispatch.c: unknown, then disabled (before the arguments are looked at), then the arguments.
    const info = this.#commandInfo(command);
    if (!info) return fail('CommandNotFound', `The command ${command} has not been found`);
    if (this.#blocked.has(command)) return fail('CommandNotFound', `Command ${command} has been disabled`);
    const bad = argumentError(this.#schema, command, checked);
    if (bad !== undefined) return fail('GenericError', bad);
    this.calls.push({ connection: session.id, command, args, id });

    const ctx: FakeAgentContext = { command, id, connection: session.id, signal: session.signal };
    let result: unknown;
    try {
      result = await this.#handlers.get(command)?.(args, ctx);
      if (result === undefined) result = await this.#builtin(command, args);
    } catch (e) {
      if (e instanceof FakeError) return fail(e.errorClass, e.desc);
      const problem = new Error(`fake-agent: the handler for ${command} threw: ${(e as Error)?.message ?? String(e)}`, {
        cause: e,
      });
      this.problems.push(problem);
      return fail('GenericError', problem.message);
    }
    const retType = info['ret-type'];
    if (result === undefined) {
      if (this.#isEmptyObject(retType)) result = {};
      else if (this.#unscripted === 'error')
        return fail(
          'GenericError',
          `fake-agent: no reply scripted for ${command}: fake.on('${command}', (args) => reply)`,
        );
      else result = minimalValue(this.#schema, retType);
    }
    if (this.#checkOutput) {
      const problems = validate(this.#schema, { type: retType }, result);
      if (problems.length) {
        const problem = new Error(
          `fake-agent: the reply scripted for ${command} does not match its return type ${retType}: ${listProblems(problems)}`,
        );
        this.problems.push(problem);
        return fail('GenericError', problem.message);
      }
    }
    if (this.#table.commands[command]?.noReply) return { noReply: true };
    // In schema order, as QEMU's output visitor inserts the members: it decides the order qemu-ga writes them.
    const value = inSchemaOrder(this.#schema, retType, result as JsonValue);
    // qemu-ga sends 0xFF before the reply of a guest-sync-delimited that ran (qga/main.c send_response).
    return command === 'guest-sync-delimited' ? { return: value, delimited: true } : { return: value };
  }

  /** The fake's own replies. */
  async #builtin(command: string, args: JsonObject): Promise<JsonValue | undefined> {
    switch (command) {
      case 'guest-sync':
      case 'guest-sync-delimited':
        return args.id;
      case 'guest-info':
        return {
          version: this.version,
          // qemu-ga lists the commands newest first: the reverse of the order they were registered in, the schema's.
          supported_commands: this.#commandNames()
            .reverse()
            .map((name) => ({
              name,
              enabled: !this.#blocked.has(name),
              'success-response': this.#table.commands[name]?.noReply !== true,
            })),
        };
      case 'guest-get-time':
        // Nanoseconds, from a clock of microseconds as qemu-ga's (g_get_real_time).
        return BigInt(Date.now()) * 1_000_000n;
      case 'guest-exec':
        return this.#startProcess(args);
      case 'guest-exec-status':
        return this.#processStatus(args);
      default:
        return undefined;
    }
  }

  /** guest-exec (qga/commands.c qmp_guest_exec), the program played by the exec script. */
  async #startProcess(args: JsonObject): Promise<JsonValue> {
    const script = this.#script;
    if (!script)
      throw new FakeError(
        'GenericError',
        "fake-agent: guest-exec is not emulated: fake.exec((path, args, input) => ({ exitCode, stdout, stderr })), or fake.on('guest-exec', ...)",
      );
    let input = Buffer.alloc(0);
    const data = args['input-data'];
    if (typeof data === 'string') {
      if (!BASE64_CHARS.test(data)) throw new FakeError('GenericError', 'Base64 data contains invalid characters');
      input = Buffer.from(data, 'base64');
    }
    const pid = this.#nextPid++;
    const program: FakeExecProcess = {
      pid,
      env: Object.freeze(((args.env ?? []) as string[]).map(String)),
      capture: captureMode(args['capture-output']),
      signal: this.#abort.signal,
    };
    const argv = Object.freeze(((args.arg ?? []) as string[]).map(String));
    const proc: Process = { capture: program.capture, state: 'running' };
    let played: unknown;
    try {
      played = script(args.path as string, argv, input, program); // a str: checked against the schema
    } catch (e) {
      throw this.#scriptFailure(e);
    }
    if (isThenable(played)) {
      const running = Promise.resolve(played);
      const pending = Symbol('pending');
      let first: unknown;
      try {
        // A promise already settled wins the race: its reactions are queued before the sentinel's.
        first = await Promise.race([running, Promise.resolve(pending)]);
      } catch (e) {
        throw this.#scriptFailure(e);
      }
      if (first === pending)
        running.then(
          (r) => this.#exited(proc, r),
          (e: unknown) => {
            proc.state = 'failed';
            proc.error = this.#scriptFailure(e);
          },
        );
      else this.#exited(proc, first);
    } else this.#exited(proc, played);
    this.#processes.set(pid, proc);
    return { pid };
  }

  /** The script's result, checked: the program's exit. */
  #exited(proc: Process, r: unknown): void {
    const bytes = (v: unknown): Buffer | undefined =>
      v === undefined
        ? Buffer.alloc(0)
        : typeof v === 'string'
          ? Buffer.from(v, 'utf8')
          : v instanceof Uint8Array
            ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
            : undefined;
    const int = (v: unknown): boolean => v === undefined || Number.isSafeInteger(v);
    const o = isObject(r) ? (r as { [k: string]: unknown }) : undefined;
    const stdout = bytes(o?.stdout);
    const stderr = bytes(o?.stderr);
    if (!o || !stdout || !stderr || !int(o.exitCode) || !int(o.signal)) {
      proc.state = 'failed';
      proc.error = this.#scriptFailure(
        new TypeError(
          'the exec script must give { exitCode?: integer, signal?: integer, stdout?: string | Uint8Array, stderr?: string | Uint8Array }',
        ),
      );
      return;
    }
    proc.state = 'exited';
    proc.result = {
      exitCode: o.exitCode as number | undefined,
      signal: o.signal as number | undefined,
      stdout,
      stderr,
    };
  }

  /** guest-exec-status (qga/commands.c qmp_guest_exec_status): once it has said a process exited, it forgets it. */
  #processStatus(args: JsonObject): JsonValue {
    const pid = Number(args.pid);
    const proc = this.#processes.get(pid);
    if (!proc) throw new FakeError('GenericError', "Invalid parameter 'pid'");
    if (proc.state === 'running') return { exited: false };
    this.#processes.delete(pid);
    if (proc.error || !proc.result) throw proc.error ?? new FakeError('GenericError', 'fake-agent: no result');
    const { exitCode, signal, stdout, stderr } = proc.result;
    const status: JsonObject = { exited: true };
    if (signal !== undefined) status.signal = signal;
    else status.exitcode = exitCode ?? 0;
    const out =
      proc.capture === 'separated' || proc.capture === 'stdout'
        ? stdout
        : proc.capture === 'merged'
          ? Buffer.concat([stdout, stderr])
          : undefined;
    const err = proc.capture === 'separated' || proc.capture === 'stderr' ? stderr : undefined;
    // Only what there is: no member for an empty stream; -truncated beside the data, cut at 16 MiB.
    if (out?.length) {
      status['out-data'] = out.subarray(0, MAX_OUTPUT).toString('base64');
      status['out-truncated'] = out.length > MAX_OUTPUT;
    }
    if (err?.length) {
      status['err-data'] = err.subarray(0, MAX_OUTPUT).toString('base64');
      status['err-truncated'] = err.length > MAX_OUTPUT;
    }
    return status;
  }

  /** A FakeError from the exec script as it is; anything else is the script's mistake, reported. */
  #scriptFailure(e: unknown): FakeError {
    if (e instanceof FakeError) return e;
    const problem = new Error(`fake-agent: the exec script failed: ${(e as Error)?.message ?? String(e)}`, {
      cause: e,
    });
    this.problems.push(problem);
    return new FakeError('GenericError', problem.message);
  }

  #commandNames(): string[] {
    return this.#schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name);
  }

  #commandInfo(command: string): SchemaInfoCommand | undefined {
    const info = entriesByName(this.#schema).get(command);
    return info?.['meta-type'] === 'command' ? info : undefined;
  }

  #command(command: string, what: string): SchemaInfoCommand {
    const info = this.#commandInfo(command);
    if (!info) {
      const where = what.endsWith(': ') ? `createFakeAgent: ${what}'${command}'` : `fake-agent: ${what}('${command}')`;
      throw new TypeError(`${where}: the release has no such command${suggest(command, this.#commandNames())}`);
    }
    return info;
  }

  /** The empty object type: arguments of a command that takes none, return of one that returns nothing. */
  #isEmptyObject(type: string): boolean {
    const info = entriesByName(this.#schema).get(type);
    return info?.['meta-type'] === 'object' && info.members.length === 0 && info.tag === undefined;
  }
}

/** guest-exec's 'capture-output': a bool (every release), or a mode (8.0 on). */
function captureMode(value: JsonValue | undefined): FakeExecCapture {
  if (value === true) return 'separated';
  if (typeof value === 'string' && ['none', 'stdout', 'stderr', 'separated', 'merged'].includes(value))
    return value as FakeExecCapture;
  return 'none';
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

// ------------------------------------------------------------------ the agent's parser

/** Bytes QEMU's JSON lexer refuses in any state: a client's resync sends 0xFF. */
const isStray = (b: number): boolean => b >= 0xfe;

/**
 * Where QEMU's lexer ends its error recovery (qobject/json-lexer.c
 * IN_RECOVERY): a structural character, or an ASCII control character other
 * than tab (the stray bytes too, which the caller splits on).
 */
const resyncs = (b: number): boolean =>
  (b < 0x20 && b !== 0x09) || b === 0x5b || b === 0x5d || b === 0x7b || b === 0x7d || b === 0x3a || b === 0x2c;

/** What the parser hands on, with the connection whose bytes completed it. */
interface InputSink {
  value(from: AgentSession, text: string): void;
  stray(from: AgentSession, byte: number, token: string): void;
  oversized(from: AgentSession): void;
}

/**
 * qemu-ga's one JSON parser, fed by whichever client is served: requests
 * split as QEMU splits them (transport.ts RequestSplitter), and the stray
 * bytes as QEMU's lexer takes them. It keeps the text the splitter holds
 * (which a stray byte drops), to quote the string it cut short.
 */
class AgentInput {
  readonly #decoder = new StringDecoder('utf8');
  #splitter: RequestSplitter;
  /** Text given to the splitter and not yet handed on as part of a value. */
  #pending = '';
  /** After a stray byte: skipping to where QEMU's lexer starts again. */
  #recovering = false;
  #from: AgentSession | undefined;

  constructor(private readonly sink: InputSink) {
    this.#splitter = this.#newSplitter();
  }

  feed(from: AgentSession, chunk: Buffer): void {
    this.#from = from;
    for (let at = 0; at < chunk.length;) {
      let end = at;
      while (end < chunk.length && !isStray(chunk[end])) end++;
      let start = at;
      if (this.#recovering) {
        while (start < end && !resyncs(chunk[start])) start++;
        if (start < end) this.#recovering = false;
      }
      if (start < end) this.#push(chunk.subarray(start, end));
      if (end < chunk.length) this.#stray(chunk[end]);
      at = end + 1;
    }
  }

  #push(bytes: Buffer): void {
    const text = this.#decoder.write(bytes);
    if (!text) return;
    this.#pending += text;
    this.#splitter.push(Buffer.from(text, 'utf8'));
  }

  #newSplitter(): RequestSplitter {
    return new RequestSplitter(
      (text) => {
        // The value, after the whitespace the splitter skipped before it.
        const lead = /^[ \t\n\r]*/.exec(this.#pending)![0].length;
        this.#pending = this.#pending.slice(lead + text.length);
        this.sink.value(this.#from!, text);
      },
      () => {
        this.#pending = '';
        this.sink.oversized(this.#from!);
      },
    );
  }

  /**
   * json-lexer.c on a stray byte: a number or word at the top level ends
   * there (and is parsed); anything else being read is dropped, and the
   * error quotes the token the byte cut short (a string from its quote, or
   * nothing between tokens).
   */
  #stray(byte: number): void {
    const text = (this.#pending + this.#decoder.end()).replace(/^[ \t\n\r]+/, '');
    this.#pending = '';
    this.#splitter = this.#newSplitter();
    let token = '';
    if (text && !'{["'.includes(text[0])) this.sink.value(this.#from!, text);
    else token = openString(text);
    this.#recovering = true;
    this.sink.stray(this.#from!, byte, token);
  }
}

/** The string `text` ends inside of, from its opening quote; '' when it ends between tokens. */
function openString(text: string): string {
  let start = -1;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (start < 0) {
      if (c === '"') start = i;
    } else if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === '"') start = -1;
  }
  return start < 0 ? '' : text.slice(start);
}

// ------------------------------------------------------------------ a connection

interface SessionHost {
  log(entry: FakeLogEntry): void;
  data(session: AgentSession, chunk: Buffer): void;
  closed(session: AgentSession): void;
}

/** One client's connection. */
class AgentSession {
  /** What it wrote while another client was served: read when its turn comes. */
  readonly unread: Buffer[] = [];
  readonly #abort = new AbortController();
  #closed = false;

  constructor(
    readonly id: number,
    private readonly stream: Duplex,
    private readonly host: SessionHost,
  ) {
    stream.on('data', (chunk: Buffer | string) => {
      if (!this.#closed) host.data(this, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    });
    stream.on('end', () => this.close());
    stream.on('close', () => this.close());
    // A reset connection is a closed one; nothing to report.
    stream.on('error', () => this.close());
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** `text` is ASCII (qemuJson escapes the rest) but for a leading '\u00ff', the 0xFF byte: written as latin1. */
  write(message: JsonValue, text: string): void {
    if (this.#closed) return;
    this.host.log({ direction: 'out', connection: this.id, time: Date.now(), message, text });
    this.stream.write(Buffer.from(text, 'latin1'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.unread.length = 0;
    this.#abort.abort(new Error('fake-agent: the connection closed'));
    this.stream.destroy();
    this.host.closed(this);
  }
}
