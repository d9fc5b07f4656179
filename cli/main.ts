/**
 * The qapi-ts command line. Schema errors (QapiError) are reported and exit 1;
 * usage errors exit 2; anything else is a bug in qapi-ts and crashes loudly.
 */
import { readFileSync } from 'node:fs';
import { QapiError, QapiSourceError } from '../codegen/errors.js';
import { countDefinitions, loadSchema } from '../codegen/frontend.js';
import { schemaToJson } from '../codegen/ir.js';
import type { DocDialect } from '../codegen/ast.js';

const USAGE = `usage: qapi-ts <command> [options]

commands:
  check-schema FILE [--json] [--dialect auto|modern|legacy]
      Parse and check a QAPI schema (e.g. qapi/qapi-schema.json of a QEMU tree).
      Prints one summary line, or with --json the resolved model as JSON.
      On errors prints each as file:line:col: message and exits 1.
  help                      this text
  version                   the qapi-ts version
`;

class UsageError extends Error {}

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[], valued: readonly string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (valued.includes(name)) {
      const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else if (eq < 0) {
      flags.set(name, true);
    } else {
      throw new UsageError(`--${name} takes no value`);
    }
  }
  return { positional, flags };
}

function checkSchema(argv: string[], io: Io): number {
  const { positional, flags } = parseArgs(argv, ['dialect']);
  for (const f of flags.keys()) if (f !== 'json' && f !== 'dialect') throw new UsageError(`unknown option --${f}`);
  if (positional.length !== 1) throw new UsageError('check-schema takes exactly one schema file');
  const dialect = flags.get('dialect') ?? 'auto';
  if (dialect !== 'auto' && dialect !== 'modern' && dialect !== 'legacy') {
    throw new UsageError(`--dialect must be auto, modern or legacy, not '${String(dialect)}'`);
  }
  const schema = loadSchema(positional[0], { dialect: dialect as DocDialect | 'auto' });
  if (flags.has('json')) {
    io.out(JSON.stringify(schemaToJson(schema), null, 2) + '\n');
  } else {
    const c = countDefinitions(schema);
    io.out(
      `commands=${c.commands} events=${c.events} structs=${c.structs} unions=${c.unions} alternates=${c.alternates} enums=${c.enums}\n`,
    );
  }
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Where the CLI writes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

export function main(argv: string[], io: Io = processIo): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check-schema':
        return checkSchema(rest, io);
      case 'version':
      case '--version':
        io.out(version() + '\n');
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`qapi-ts: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof QapiSourceError) {
      io.err(e.format() + '\n');
      return 1;
    }
    if (e instanceof QapiError) {
      io.err(`qapi-ts: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

