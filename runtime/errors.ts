/**
 * What a QMP call can fail with. QmpError is QEMU's own answer; the others
 * are local: the connection, a timeout or abort, a validation failure, or a
 * peer breaking the protocol.
 */
import type { JsonValue } from './json.js';

/** QEMU answered with {"error": {"class", "desc"}}. */
export class QmpError extends Error {
  override name = 'QmpError';
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
  | 'protocol';

/** The connection could not be made, broke, or was closed: every pending call rejects with one. */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A call got no reply in time; the connection stays usable and a late reply is dropped. */
export class QmpTimeoutError extends Error {
  override name = 'QmpTimeoutError';
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(`${command}: no reply within ${timeoutMs} ms`);
  }
}

/** The caller's AbortSignal fired before the reply came. */
export class QmpAbortError extends Error {
  override name = 'AbortError';
  constructor(
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
export class QmpValidationError extends Error {
  override name = 'QmpValidationError';
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

/** The command cannot be sent as asked (e.g. exec-oob for a command that does not allow it). */
export class QmpUsageError extends Error {
  override name = 'QmpUsageError';
}
