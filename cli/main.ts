/**
 * The qapi-ts command line: the subcommands, `help`, and how failures become
 * exit codes (cli/command.ts): a usage error exits 2, QEMU's or the agent's
 * error 1 with its class and text, an unreachable QEMU 1, a schema error 1,
 * anything else is a bug of qapi-ts: printed, exit 3.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { QapiError as SchemaError, QapiSourceError } from '../codegen/errors.js';
import { PACKAGE_ROOT } from '../codegen/generate.js';
import {
  ConnectionError,
  HmpError,
  LibvirtError,
  QmpError,
  QmpTimeoutError,
  QmpUsageError,
} from '../runtime/errors.js';
import { EXIT, UsageError, type Command, type Io } from './command.js';
import { backupCommand } from './backup-cmd.js';
import { completeCommand, completionCommand } from './completion.js';
import { eventsCommand } from './events-cmd.js';
import { qgaCommand } from './qga-cmd.js';
import { qmpCommand } from './qmp-cmd.js';
import { shellCommand } from './shell.js';
import { addQemuCmd, compatCmd, diffCmd, driftCmd } from './release-cmds.js';
import { checkSchemaCommand, genCommand } from './schema-cmds.js';

export type { Io } from './command.js';

function version(): string {
  // From dist/cli or from source (cli/): the package root is found, not assumed two levels up.
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Every subcommand, in the order `qapi-ts help` lists them. */
export const COMMANDS: readonly Command[] = [
  qmpCommand,
  qgaCommand,
  eventsCommand,
  shellCommand,
  backupCommand,
  checkSchemaCommand,
  genCommand,
  driftCmd,
  diffCmd,
  compatCmd,
  addQemuCmd,
  completionCommand,
];

function usage(): string {
  return [
    'usage: qapi-ts <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.synopsis}`),
    "  help [COMMAND]            this text, or a command's help (also: qapi-ts COMMAND --help)",
    '  version                   the qapi-ts version',
    '',
    'TARGET is a unix socket path, tcp:HOST:PORT, or libvirt:DOMAIN[@URI] (through virsh).',
    'Exit codes: 0 done; 1 the answer is no (an error from QEMU, a difference, a timeout);',
    '2 a usage error; 3 a bug of qapi-ts.',
    '',
  ].join('\n');
}

const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  stdin: process.stdin,
  // @types/node types it boolean, but it is undefined when stdout is not a terminal.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare
  isTTY: process.stdout.isTTY === true,
};

/** A failure as its exit code, told on stderr. */
function failed(e: unknown, command: string | undefined, io: Io): number {
  const prefix = `qapi-ts${command ? ` ${command}` : ''}`;
  // Nothing was sent or changed: a request the client refused to send, a backup that cannot be made as asked.
  if (e instanceof QmpUsageError || (e instanceof Error && (e.name === 'BackupError' || e.name === 'JobUsageError')))
    return failed(new UsageError(e.message), command, io);
  if (e instanceof UsageError) {
    const c = COMMANDS.find((x) => x.name === command);
    const own = command ? new RegExp(`^${command}(?: [a-z-]+)?: `) : /^$/;
    io.err(
      `${prefix}: ${e.message.replace(own, '')}\n${c ? `usage: qapi-ts ${c.synopsis}\n(qapi-ts ${c.name} --help for more)\n` : usage()}`,
    );
    return EXIT.usage;
  }
  if (e instanceof QmpError) {
    io.err(`${prefix}: ${e.errorClass}: ${e.desc}\n`);
    return EXIT.no;
  }
  if (
    e instanceof HmpError ||
    e instanceof QmpTimeoutError ||
    e instanceof ConnectionError ||
    e instanceof LibvirtError ||
    (e instanceof Error && (e.name === 'ImageError' || e.name === 'JobError'))
  ) {
    io.err(`${prefix}: ${e.message}\n`);
    return EXIT.no;
  }
  if (e instanceof QapiSourceError) {
    io.err(e.format() + '\n');
    return EXIT.no;
  }
  if (e instanceof SchemaError) {
    io.err(`${prefix}: ${e.message}\n`);
    return EXIT.no;
  }
  // The system said no (a missing folder, a permission): the answer, not a bug.
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
    io.err(`${prefix}: ${e.message}\n`);
    return EXIT.no;
  }
  io.err(`${prefix}: internal error (a bug of qapi-ts): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return EXIT.internal;
}

/** Resolves with the exit code; commands that talk to QEMU return a promise. */
export function main(argv: string[], io: Io = processIo): number | Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(usage());
    return EXIT.usage;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const c = COMMANDS.find((x) => x.name === rest[0]);
    if (rest[0] !== undefined && !c) return failed(new UsageError(`unknown command '${rest[0]}'`), undefined, io);
    io.out(c ? c.help + '\n' : usage());
    return EXIT.ok;
  }
  if (name === 'version' || name === '--version') {
    io.out(version() + '\n');
    return EXIT.ok;
  }
  // Hidden (not in COMMANDS, so not in help), and before the --help check: there --help is a word being completed.
  if (name === completeCommand.name) return completeCommand.run(rest, io);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return failed(new UsageError(`unknown command '${name}'`), undefined, io);
  // --help anywhere before `--` (after it, it is a program's argument).
  const before = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (before.includes('--help') || before.includes('-h')) {
    io.out(command.help + '\n');
    return EXIT.ok;
  }
  try {
    const r = command.run(rest, io);
    return typeof r === 'number' ? r : r.catch((e: unknown) => failed(e, name, io));
  } catch (e) {
    return failed(e, name, io);
  }
}
