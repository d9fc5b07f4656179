/**
 * What every protocol face does with a call around the request layer. QMP
 * and the guest agent share the request shape (`{"execute", "arguments",
 * "id"}`), so they share this: the call options, the request written once
 * and read back (what validation, the tap and errors see), the checks
 * against the schema and QEMU's parser limits, the 64-bit integer mode
 * applied to what comes back, and the `cmd` facade of methods.
 */
import { inspect } from 'node:util';
import {
  libvirtErrorClass,
  LibvirtError,
  ProtocolError,
  QmpError,
  QmpUsageError,
  QmpValidationError,
  type LibvirtErrorCode,
} from '../errors.js';

const LIBVIRT_CODES: readonly LibvirtErrorCode[] = [
  'domain-not-found',
  'domain-not-running',
  'agent-not-connected',
  'agent-timeout',
  'permission-denied',
  'connection-failed',
  'failed',
];
import { maskUrl, redact, redactArguments, redactRequest } from '../redact.js';
import type { SchemaDescriptor } from '../schema/descriptor.js';
import type { RuntimeTable } from '../schema/table.js';
import {
  firstBigint,
  numberProblems,
  takesNoArguments,
  validate,
  widenInt64,
  type ValidationProblem,
} from '../schema/validate.js';
import { suggest } from '../suggest.js';
import { EXCERPT, type JsonObject } from '../wire/framing.js';
import { parseJson, stringifyJson, type Int64Mode, type JsonValue } from '../wire/json.js';
import { checkRequestText, QEMU_JSON_LIMITS } from '../wire/limits.js';
import { checkBoolean, checkKeys, checkSignal, checkTimeout } from './options.js';

export interface CallOptions {
  /** Milliseconds to wait for the reply; overrides the client's timeout. 0 or Infinity waits forever. */
  timeout?: number;
  signal?: AbortSignal;
  /** Check the arguments before sending (default: the client's setting; true: as the client, or the release's schema when the client does not). */
  validate?: boolean;
}

/**
 * Which schema arguments are checked against: the generated release's
 * (exact integer ranges, real type names), the running QEMU's
 * (`query-qmp-schema`: what this build has), both, or none.
 */
export type ValidateMode = 'generated' | 'live' | 'both' | false;

export const CALL_OPTIONS = ['timeout', 'signal', 'validate'] as const;

/** What a face knows when it prepares a call. */
export interface CallContext {
  /** The release's descriptor. */
  schema: SchemaDescriptor | undefined;
  /** The running QEMU's, once fetched. */
  live?: SchemaDescriptor;
  /** Which commands need arguments: a call without any to one that does not needs no validation. */
  table: RuntimeTable | undefined;
  /** The client's validate option. */
  validate: ValidateMode;
  /** The release the schema is ('7.2'), and the table of the release the types are, when another (version matching). */
  release?: string | undefined;
  typesTable?: RuntimeTable | undefined;
  maxRequestBytes: number;
  /** The timeout when the call gives none. */
  timeout: number;
  /** 'exec-oob' instead of 'execute'. */
  oob: boolean;
  /** The request's id, taken once the options are known to be good. */
  id(): number;
}

/** A call ready for the request layer. */
export interface PreparedCall {
  id: number;
  text: string;
  /** The arguments as written, read back: plain JSON values, toJSON applied, undefined members gone. */
  sent: JsonObject | undefined;
  limits: { timeout: number; signal: AbortSignal | undefined };
}

/**
 * Everything that can go wrong before sending, thrown as QmpUsageError or
 * QmpValidationError: the options, arguments that cannot be written, break
 * QEMU's parser limits, or do not match the schema. Validation sees the
 * text read back, never the caller's objects.
 */
export function prepareCall(
  command: string,
  args: JsonObject | undefined,
  options: CallOptions | undefined,
  ctx: CallContext,
): PreparedCall {
  const name: unknown = command; // from JavaScript, anything
  if (typeof name !== 'string')
    throw new QmpUsageError(
      'bad-command',
      `the command name must be a string, not ${name === null ? 'null' : typeof name}`,
    );
  try {
    const o = checkKeys<CallOptions>(options, CALL_OPTIONS, `${command}: call options`);
    const limits = {
      timeout: checkTimeout(o.timeout ?? ctx.timeout, `${command}: timeout`),
      signal: checkSignal(o.signal, `${command}: signal`),
    };
    const schemas = checkedAgainst(ctx, checkBoolean(o.validate, `${command}: validate`));
    if (args === undefined) {
      const fast = withoutArguments(command, ctx, schemas);
      if (fast) return { id: fast.id, text: fast.text, sent: undefined, limits };
    }
    const id = ctx.id();
    const [text, sent] = serialise(command, ctx.oob, args, id, ctx.maxRequestBytes, schemas[0]?.schema);
    if (schemas.length) {
      // null in the text may stand for a NaN, and 16 digits for a rounded integer: look at what the caller gave.
      const suspect = /null|\d{16}/.test(text) ? numberProblems(args) : [];
      const problems = suspect.length ? suspect : problemsWith(schemas, command, sent ?? {}, ctx);
      if (problems.length) throw new QmpValidationError(command, problems);
    }
    return { id, text, sent, limits };
  } catch (e) {
    if (e instanceof QmpUsageError || e instanceof QmpValidationError) throw e;
    throw new QmpUsageError(
      'unserialisable',
      `${command}: the arguments cannot be read: ${String((e as Error)?.message ?? e)}`,
      { cause: e },
    );
  }
}

interface Against {
  schema: SchemaDescriptor;
  /** The running QEMU's own: its problems say so. */
  live: boolean;
}

/** The descriptors a call is checked against, in order, for the client's mode and the call's own option. */
function checkedAgainst(ctx: CallContext, perCall: boolean | undefined): Against[] {
  if (perCall === false) return [];
  const mode = perCall && !ctx.validate ? 'generated' : ctx.validate;
  const out: Against[] = [];
  if ((mode === 'generated' || mode === 'both') && ctx.schema) out.push({ schema: ctx.schema, live: false });
  if ((mode === 'live' || mode === 'both') && ctx.live) out.push({ schema: ctx.live, live: true });
  return out;
}

/** The first descriptor's problems; when it has none, the next one's (the running QEMU's, labelled). */
function problemsWith(
  schemas: readonly Against[],
  command: string,
  value: JsonObject,
  ctx: CallContext,
): ValidationProblem[] {
  for (const { schema, live } of schemas) {
    const problems = validate(schema, { command, direction: 'arguments' }, value);
    if (!problems.length) continue;
    if (live) return problems.map(inThisQemu);
    // With version matching the types are a newer release's: a command they have may not be this QEMU's.
    const { release, typesTable } = ctx;
    if (release && typesTable && Object.hasOwn(typesTable.commands, command))
      return problems.map((p) =>
        p.path === '$' && p.message.startsWith('unknown command')
          ? {
              ...p,
              message: `${p.message}: not in QEMU ${release}, the release this QEMU is checked against (the types are a newer one's)`,
            }
          : p,
      );
    return problems;
  }
  return [];
}

function inThisQemu(p: ValidationProblem): ValidationProblem {
  return { ...p, message: `${p.message} (in the running QEMU's schema)` };
}

/** Request text up to the id, per command and kind, for calls without arguments (most queries). */
const heads = new Map<string, string>();
const MAX_HEADS = 1024;
/** What validating `{}` found for a command the schema knows: the same every time. */
const noArgumentProblems = new WeakMap<SchemaDescriptor, Map<string, ValidationProblem[]>>();

/**
 * The common case, a call without arguments, written without serialising
 * or scanning anything per call: the text before the id is made and checked
 * once per command. Undefined when it takes the general path (a command
 * whose text breaks a limit, or one the schema refuses without arguments:
 * that path makes the error).
 */
function withoutArguments(
  command: string,
  ctx: CallContext,
  schemas: readonly Against[],
): { id: number; text: string } | undefined {
  const entry = ctx.table && Object.hasOwn(ctx.table.commands, command) ? ctx.table.commands[command] : undefined;
  for (const { schema, live } of schemas) {
    // A command the release's table knows to take no required arguments is valid without any, descriptor unread.
    if (!live && entry && !entry.argsRequired) continue;
    let known = noArgumentProblems.get(schema);
    if (!known) noArgumentProblems.set(schema, (known = new Map<string, ValidationProblem[]>()));
    let problems = known.get(command);
    if (!problems) {
      problems = validate(schema, { command, direction: 'arguments' }, {});
      // Unknown commands are not kept: their number has no bound.
      if (!problems.some((p) => p.message.startsWith('unknown command'))) known.set(command, problems);
    }
    if (problems.length) return undefined;
  }
  const key = (ctx.oob ? 'o' : 'e') + command;
  let head = heads.get(key);
  if (head === undefined) {
    head = JSON.stringify(ctx.oob ? { 'exec-oob': command } : { execute: command }).slice(0, -1) + ',"id":';
    if (checkRequestText(`${head}0}`)) return undefined;
    if (heads.size < MAX_HEADS) heads.set(key, head);
  }
  const id = ctx.id();
  const text = `${head}${id}}`;
  if (text.length > ctx.maxRequestBytes / 3 && Buffer.byteLength(text) > ctx.maxRequestBytes) return undefined;
  return { id, text };
}

/**
 * A method's parameters as [arguments, call options]. A command that takes
 * no arguments has the call options as its only parameter; anything else
 * there is refused rather than sent or ignored.
 */
export function splitParams(
  command: string,
  params: unknown[],
  schema: SchemaDescriptor | undefined,
): [JsonObject | undefined, CallOptions | undefined] {
  if (params.length >= 2) return [params[0] as JsonObject | undefined, params[1] as CallOptions | undefined];
  if (params.length === 1 && schema && takesNoArguments(schema, command)) {
    const only = params[0];
    if (only !== undefined && (typeof only !== 'object' || only === null || Array.isArray(only))) {
      throw new QmpUsageError(
        'unexpected-arguments',
        `${command} takes no arguments; expected call options, got ${only === null ? 'null' : Array.isArray(only) ? 'an array' : typeof only}`,
      );
    }
    const unknown = only ? Object.keys(only).filter((k) => !(CALL_OPTIONS as readonly string[]).includes(k)) : [];
    if (unknown.length) {
      throw new QmpUsageError(
        'unexpected-arguments',
        `${command} takes no arguments, and its only parameter is the call options (${CALL_OPTIONS.join(', ')}); got ${unknown.map((k) => `'${k}'${suggest(k, CALL_OPTIONS)}`).join(', ')}`,
      );
    }
    return [undefined, only];
  }
  return [params[0] as JsonObject | undefined, undefined];
}

/**
 * The request's text, checked against what QEMU's parser reads, and its
 * arguments read back from it. Throws QmpUsageError, or QmpValidationError
 * when arguments that cannot be written (a cycle) also fail validation
 * against `schema` (which names the path).
 */
function serialise(
  command: string,
  oob: boolean,
  args: JsonObject | undefined,
  id: number,
  maxBytes: number,
  schema: SchemaDescriptor | undefined,
): [string, JsonObject | undefined] {
  const message: JsonObject = oob ? { 'exec-oob': command } : { execute: command };
  if (args !== undefined) message.arguments = args;
  message.id = id;
  let text: string;
  try {
    text = stringifyJson(message);
  } catch (e) {
    if (schema) {
      const problems = validate(schema, { command, direction: 'arguments' }, args ?? {});
      if (problems.length) throw new QmpValidationError(command, problems);
    }
    if (e instanceof RangeError) {
      throw new QmpUsageError(
        'too-deep',
        `${command}: the arguments are nested too deeply to write (QEMU reads at most ${QEMU_JSON_LIMITS.maxDepth} levels)`,
        { cause: e },
      );
    }
    throw new QmpUsageError(
      'unserialisable',
      `${command}: the arguments cannot be written as JSON: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const problem = checkRequestText(text, maxBytes);
  if (problem) throw new QmpUsageError(problem.code, `${command}: ${problem.message}; nothing was sent`);
  return [text, args === undefined ? undefined : ((parseJson(text) as JsonObject).arguments as JsonObject | undefined)];
}

/** A received value in the client's 64-bit integer mode, or the error that says why it cannot be. */
export function inInt64Mode(
  mode: Int64Mode,
  schema: SchemaDescriptor | undefined,
  value: JsonValue,
  target: { command: string } | { event: string },
): { value: JsonValue } | { error: ProtocolError } {
  if (mode === 'bigint' && schema) return { value: widenInt64(schema, target, value) as JsonValue };
  if (mode !== 'number') return { value };
  const big = firstBigint(value);
  if (!big) return { value };
  const what = 'command' in target ? target.command : `event ${target.event}`;
  return {
    error: new ProtocolError(
      'unsafe-integer',
      `${what}: ${big.path} is ${big.value}, beyond 2^53, and this client reads integers as numbers (int64: 'number'); use int64: 'exact' or 'bigint'`,
    ),
  };
}

/** The untyped facade: method name → call. */
export type Methods = Record<string, (...params: unknown[]) => Promise<unknown>>;

const methodIndexes = new WeakMap<RuntimeTable, Map<string, string>>();

/** Method name → wire name, once per table. */
function methodIndex(table: RuntimeTable | undefined): Map<string, string> {
  if (!table) return new Map();
  let index = methodIndexes.get(table);
  if (!index) {
    index = new Map(Object.entries(table.commands).map(([wire, info]) => [info.method, wire]));
    methodIndexes.set(table, index);
  }
  return index;
}

/**
 * `cmd`: a method per command, each made when first used and kept; the
 * index from method name to command is shared by every client of a
 * release, so an idle client costs no closure per command.
 */
export function makeFacade(
  table: RuntimeTable | undefined,
  label: string,
  call: (command: string, params: unknown[]) => Promise<unknown>,
): Methods {
  const byMethod = methodIndex(table);
  const made = new Map<string, (...params: unknown[]) => Promise<unknown>>();
  const method = (name: string): ((...params: unknown[]) => Promise<unknown>) | undefined => {
    const wire = byMethod.get(name);
    if (wire === undefined) return undefined;
    let fn = made.get(name);
    if (!fn) made.set(name, (fn = (...params: unknown[]) => call(wire, params)));
    return fn;
  };
  // An ordinary object underneath: toString, hasOwnProperty and util.inspect behave as on any object.
  const target = { [inspect.custom]: () => `${label} { ${byMethod.size} methods }` } as unknown as Methods;
  const isMethod = (key: string | symbol): key is string => typeof key === 'string' && byMethod.has(key);
  return new Proxy(target, {
    get: (t, key, receiver): unknown => (isMethod(key) ? method(key) : Reflect.get(t, key, receiver)),
    has: (t, key) => isMethod(key) || Reflect.has(t, key),
    ownKeys: (t) => [...byMethod.keys(), ...Reflect.ownKeys(t)],
    getOwnPropertyDescriptor: (t, key) =>
      isMethod(key)
        ? { value: method(key), enumerable: true, configurable: true, writable: false }
        : Reflect.getOwnPropertyDescriptor(t, key),
    // Its methods are not properties that could be frozen.
    preventExtensions: () => false,
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}

/** A request as the tap shows it: the message written, its arguments redacted. */
export function tappedRequest(call: {
  command: string;
  oob: boolean;
  id: number;
  meta?: { args?: JsonObject };
}): JsonObject {
  const message: JsonObject = call.oob ? { 'exec-oob': call.command } : { execute: call.command };
  if (call.meta?.args !== undefined) message.arguments = call.meta.args;
  message.id = call.id;
  return redactRequest(message);
}

/**
 * The QmpError for an error reply. `unread` says who could not read the
 * request when the reply has no id ("QEMU", "the agent"): the peer answers
 * a request it could not parse without one.
 */
export function replyError(
  msg: JsonObject,
  command: string,
  args: JsonObject | undefined,
  unread?: string,
): QmpError | LibvirtError {
  const err = msg.error;
  const body = typeof err === 'object' && err !== null && !Array.isArray(err) ? err : {};
  const cls = typeof body.class === 'string' ? body.class : 'GenericError';
  // The libvirt bridge's own failures (runtime/libvirt/bridge.ts): libvirt's, not QEMU's.
  const libvirtClass = libvirtErrorClass();
  if (libvirtClass && cls.startsWith(libvirtClass) && typeof body.desc === 'string') {
    const code = cls.slice(libvirtClass.length);
    const codes: readonly string[] = LIBVIRT_CODES;
    return new LibvirtError(codes.includes(code) ? (code as LibvirtErrorCode) : 'failed', maskUrl(body.desc), command);
  }
  // QEMU quotes what it could not open, URL passwords included.
  const desc = maskUrl(typeof body.desc === 'string' ? body.desc : excerpt(redact(err)));
  return new QmpError(
    cls,
    unread ? `${unread} could not read the request: ${desc}` : desc,
    command,
    msg.id,
    redactArguments(command, args),
  );
}

/** A short, safe rendering of a value from the peer, for messages. */
export function excerpt(value: JsonValue | undefined): string {
  if (value === undefined) return 'nothing'; // a missing member, not JSON's null
  try {
    return (stringifyJson(value ?? null) ?? '').slice(0, EXCERPT);
  } catch {
    return '(unprintable)';
  }
}
