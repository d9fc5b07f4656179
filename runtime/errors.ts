/**
 * What a call, a connection or a peer can fail with. Every class has a
 * `code`: match on it (or on the class), never on the message text.
 * QmpError is QEMU's own answer; the others are local: the connection, a
 * deadline, the caller's arguments, or a peer breaking the protocol.
 */
import { inspect } from 'node:util';
import type { JsonValue } from './wire/json.js';

/**
 * What every error of this package shares: a `code`, and a JSON form for
 * loggers (`JSON.stringify(err)`): name, code, message and the error's own
 * fields, 64-bit integers as strings.
 */
export abstract class QapiError extends Error {
  abstract readonly code: string;

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [k, v] of Object.entries(this)) {
      if (k in out) continue;
      try {
        // Each field on its own: one that has no JSON form (a cyclic abort reason) is left out, not fatal.
        out[k] = JSON.parse(
          JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null',
        );
      } catch {
        out[k] = inspect(v, { depth: 0 });
      }
    }
    return out;
  }
}

export type QmpErrorCode =
  /** The command ran and failed (or its arguments were refused): see errorClass and desc. */
  | 'command-failed'
  /** No such command in this QEMU or agent (class CommandNotFound). */
  | 'command-not-found'
  /** The command exists but is disabled: qemu-ga's `-b`/`--block-rpcs`, or frozen filesystems. */
  | 'command-disabled';

/** QEMU (or the guest agent) answered with {"error": {"class", "desc"}}. */
export class QmpError extends QapiError {
  override name = 'QmpError';
  readonly code: QmpErrorCode;
  constructor(
    /** QEMU's error class: GenericError, CommandNotFound, DeviceNotFound, ... */
    readonly errorClass: string,
    /** QEMU's human-readable description. */
    readonly desc: string,
    readonly command: string,
    readonly id: JsonValue | undefined,
    /** The arguments sent, secrets redacted. */
    readonly args: JsonValue | undefined,
  ) {
    super(`${command}: ${desc} (${errorClass})`);
    // Both say CommandNotFound; only the text tells a disabled command (qapi/qmp-dispatch.c) from a missing one.
    this.code =
      errorClass !== 'CommandNotFound'
        ? 'command-failed'
        : /has been disabled/.test(desc)
          ? 'command-disabled'
          : 'command-not-found';
  }

  /** QEMU's error class, under the name QMP uses. */
  get class(): string {
    return this.errorClass;
  }
}

export type ConnectionErrorCode =
  | 'connect-failed'
  | 'connect-timeout'
  | 'greeting-timeout'
  | 'handshake-failed'
  | 'closed'
  | 'protocol'
  /** Connected, but the guest agent did not answer guest-sync-delimited in time (not running in the guest?). */
  | 'agent-unresponsive';

/** The connection could not be made, broke, or was closed: every pending call rejects with one. */
export class ConnectionError extends QapiError {
  override name = 'ConnectionError';
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A call, or a wait for an event, passed its deadline. A call that was sent
 * leaves the connection usable (its late reply is dropped); one that was
 * never sent (`sent: false`) waited behind requests QEMU had not answered.
 */
export class QmpTimeoutError extends QapiError {
  override name = 'QmpTimeoutError';
  readonly code = 'timeout' as const;
  constructor(
    /** The command, or 'event NAME' for a wait. */
    readonly command: string,
    readonly timeoutMs: number,
    /** Whether the request had been written; always false for event waits. */
    readonly sent = true,
    detail?: string,
  ) {
    super(detail ? `${command}: ${detail}` : `${command}: no reply within ${timeoutMs} ms`);
  }
}

/** The caller's AbortSignal fired (or the wait was cancelled) before the reply or event came. */
export class QmpAbortError extends QapiError {
  override name = 'AbortError';
  readonly code = 'aborted' as const;
  constructor(
    /** The command, or 'event NAME' for a wait. */
    readonly command: string,
    readonly reason: unknown,
  ) {
    super(`${command}: aborted`, { cause: reason });
  }
}

export interface ArgumentProblem {
  path: string;
  message: string;
  expected?: string;
  allowed?: string[];
}

/** The arguments do not match the schema; nothing was sent. */
export class QmpValidationError extends QapiError {
  override name = 'QmpValidationError';
  readonly code = 'invalid-arguments' as const;
  constructor(
    readonly command: string,
    readonly problems: readonly ArgumentProblem[],
  ) {
    super(
      `${command}: invalid arguments:\n` +
        problems
          .map(
            (p) =>
              `  ${p.path}: ${p.message}` +
              (p.expected ? ` (expected ${p.expected})` : '') +
              (p.allowed?.length ? ` [allowed: ${p.allowed.join(', ')}]` : ''),
          )
          .join('\n'),
    );
  }
}

export type UsageErrorCode =
  /** An option of the client or of a call is not a valid value. */
  | 'bad-option'
  /** The command name is not a string (from JavaScript, or an `as` cast). */
  | 'bad-command'
  /** exec-oob without the 'oob' capability, or for a command that does not allow it. */
  | 'oob-unavailable'
  /** Arguments with no JSON form (cycles, a throwing getter or toJSON). */
  | 'unserialisable'
  /** Beyond what QEMU's JSON parser reads, or beyond the client's maxRequestBytes. */
  | 'too-large'
  | 'too-deep'
  | 'too-many-tokens'
  /** A string QEMU's parser refuses: an unpaired surrogate or a Unicode noncharacter. */
  | 'unsupported-string'
  /** Arguments given to a command that takes none. */
  | 'unexpected-arguments'
  /** The request uses something deprecated, and the client's `deprecated` option is 'reject'. */
  | 'deprecated';

/** The request cannot be sent as asked; nothing was sent. */
export class QmpUsageError extends QapiError {
  override name = 'QmpUsageError';
  constructor(
    readonly code: UsageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ProtocolErrorCode =
  /** A message larger than maxMessageBytes: discarded. */
  | 'oversized'
  /** Nested deeper than maxMessageDepth: discarded. */
  | 'too-deep'
  | 'invalid-json'
  | 'not-an-object'
  /** The connection ended in the middle of a message. */
  | 'truncated'
  /** Valid JSON, but not a message this protocol has. */
  | 'unknown-shape'
  /** A reply whose id matches no request, or a reply without id that cannot be attributed. */
  | 'unmatched-reply'
  /** A 0xFF byte, which QMP never sends: the partial message before it was dropped. */
  | 'sync-byte'
  /** An integer beyond 2^53 for a client that reads integers as numbers (int64: 'number'). */
  | 'unsafe-integer'
  /** The client failed to handle a message (a bug of ours): reported, and reading goes on. */
  | 'internal';

/**
 * The peer sent something this client does not accept. Reported through
 * `onError` (and rejects a call only when the message was provably its reply).
 */
export class ProtocolError extends QapiError {
  override name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    /** The start of the offending text, for logs (at most 120 characters). */
    readonly excerpt = '',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

let libvirtClass: string | undefined;

/**
 * The class prefix of the libvirt bridge's own error replies: random per
 * process, so that no QEMU, guest or other peer can make a LibvirtError.
 * Made when the bridge first loads; until then there is none, and no reply
 * is ever a LibvirtError.
 */
export function libvirtErrorClass(): string | undefined {
  return libvirtClass;
}

/**
 * The bridge makes it, once, from a random value of its own (node:crypto is
 * loaded by the bridge only: importing it costs every program about 3 ms).
 * @internal
 */
export function makeLibvirtErrorClass(random: string): string {
  return (libvirtClass ??= `libvirt-${random}:`);
}

export type LibvirtErrorCode =
  | 'domain-not-found'
  | 'domain-not-running'
  | 'agent-not-connected'
  | 'agent-timeout'
  | 'permission-denied'
  | 'connection-failed'
  | 'failed';

/**
 * A call through libvirt ({ libvirt: { domain } }) that libvirt itself
 * refused or could not make: not QEMU's (or the agent's) answer, so not a
 * QmpError.
 */
export class LibvirtError extends QapiError {
  override name = 'LibvirtError';
  constructor(
    readonly code: LibvirtErrorCode,
    /** What virsh said. */
    readonly detail: string,
    readonly command: string,
  ) {
    super(`${command}: libvirt: ${detail}`);
  }
}

/**
 * An HMP command (human-monitor-command) that QEMU ran but whose text
 * output is an error: HMP has no error replies, only text. Thrown by
 * `qmp.hmp(line, { check: true })` and `qemuIo()`.
 */
export class HmpError extends QapiError {
  override name = 'HmpError';
  readonly code = 'hmp-failed' as const;
  constructor(
    /** The HMP command (its first word, and for qemu-io the node): arguments may hold secrets. */
    readonly command: string,
    /** The error line of the output. */
    readonly error: string,
  ) {
    super(`HMP ${command}: ${error}`);
  }
}

/** A listener, tap or predicate of the caller's threw; the protocol went on. */
export class CallbackError extends QapiError {
  override name = 'CallbackError';
  readonly code = 'callback-threw' as const;
  constructor(
    /** Which callback: 'tap', 'event listener', 'error listener', ... */
    readonly callback: string,
    cause: unknown,
  ) {
    super(`a ${callback} threw: ${describeThrown(cause)}`, { cause });
  }
}

/** What a callback threw, for a message; whatever it is, this does not throw. */
export function describeThrown(cause: unknown): string {
  try {
    return cause instanceof Error ? String(cause.message) : inspect(cause, { depth: 0 });
  } catch {
    return 'a value that cannot be shown';
  }
}
