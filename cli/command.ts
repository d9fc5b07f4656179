/**
 * What every subcommand of the `qapi-ts` command line shares: its shape
 * (name, one-line synopsis, help with examples, run), the argument parser,
 * usage errors, where output goes, and the exit codes:
 *
 * - 0: done, nothing to report (or what was asked for happened);
 * - 1: done, and the answer is "no" (QEMU answered an error, a difference
 *   was found, a wait timed out) — scripts test this;
 * - 2: a usage error: nothing was done;
 * - 3: an internal error (a bug of qapi-ts), printed.
 */
import type { Readable } from 'node:stream';

/** Where a command reads and writes; tests pass their own. `out` and `err` are passed on detached. */
export interface Io {
  /** Bytes are written as they are (a guest program's binary output). */
  out: (text: string | Uint8Array) => void;
  err: (text: string | Uint8Array) => void;
  /** Standard input, for commands that read a request from it ('-'). */
  stdin?: Readable;
  /** Whether stdout is a terminal (progress bars, colours). */
  isTTY?: boolean;
}

export const EXIT = { ok: 0, no: 1, usage: 2, internal: 3 } as const;

/** Something wrong with how a command was asked for; exits 2 with the command's synopsis. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Command {
  readonly name: string;
  /** One line for `qapi-ts help`: the arguments. */
  readonly synopsis: string;
  /** `qapi-ts COMMAND --help`: what it does, its options, exit codes and examples. */
  readonly help: string;
  /** Its options as typed (`--json`), for shell completion (cli/completion.ts). */
  readonly options?: readonly string[];
  run(argv: string[], io: Io): number | Promise<number>;
}

/** How an option is given: alone, with one value, or repeatable (values collected). */
export type OptionKind = 'flag' | 'value' | 'list';

export interface ParsedArgs {
  positional: string[];
  /** What follows `--`, verbatim. */
  rest: string[];
  flags: Set<string>;
  values: Map<string, string>;
  lists: Map<string, string[]>;
}

/**
 * Parses `--name`, `--name value`, `--name=value` and `--` (the rest is
 * verbatim). A value is never taken from the next option: `--out --json` is a
 * usage error, not an output path. Unknown options are usage errors.
 */
export function parseArgs(command: string, argv: readonly string[], spec: Record<string, OptionKind>): ParsedArgs {
  const out: ParsedArgs = { positional: [], rest: [], flags: new Set(), values: new Map(), lists: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      out.positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`${command}: unknown option --${name}`);
    if (kind === 'flag') {
      if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (value === undefined || (eq < 0 && value.startsWith('--')))
      throw new UsageError(`${command}: --${name} needs a value`);
    if (kind === 'value') out.values.set(name, value);
    else out.lists.set(name, [...(out.lists.get(name) ?? []), value]);
  }
  return out;
}

/** The options of parseArgs specs as typed (`--name`): a command's `options`, kept in step with its parser. */
export function optionNames(...specs: Record<string, OptionKind>[]): string[] {
  return [...new Set(specs.flatMap((s) => Object.keys(s)))].map((n) => `--${n}`);
}

/** setTimeout's limit (about 24.8 days): a longer wait would fire at once. */
const MAX_MS = 2 ** 31 - 1;

/** A whole number option (digits only), at least `min`, or a usage error naming it. */
export function numberOption(command: string, name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${command}: --${name} is a whole number (not '${value}')`);
  const n = Number(value);
  if (n < min) throw new UsageError(`${command}: --${name} is at least ${min}`);
  if (n > MAX_MS) throw new UsageError(`${command}: --${name} is at most ${MAX_MS}`);
  return n;
}

/** What comes after `--` is only for commands that take a program: elsewhere it would be lost silently. */
export function noRest(command: string, rest: readonly string[]): void {
  if (rest.length) throw new UsageError(`${command}: nothing goes after '--' (got '${rest[0]}')`);
}
