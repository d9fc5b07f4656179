/**
 * Commands about releases and the QEMU you run: `drift` (a running QEMU
 * against its release), `diff` (two releases or schema files), `compat`
 * (your TypeScript code against other releases) and `add-qemu` (a new
 * release in a clone of the repository).
 */
import { QapiError, QapiSourceError } from '../codegen/errors.js';
import type { DiffFormat } from '../codegen/releases/report.js';
import { addQemu, AddQemuError } from './add-qemu.js';
import { EXIT, optionNames, parseArgs, UsageError, type Command, type OptionKind } from './command.js';
import { COMPAT_HELP, COMPAT_SYNOPSIS, compatCommand } from './compat.js';
import { diffCommand, DiffInputError, type DiffProtocol } from './diff.js';
import { TARGET_FORMS } from './connect.js';
import { driftCommand } from './drift.js';

const DRIFT_OPTIONS: Record<string, OptionKind> = { release: 'value', json: 'flag' };

export const driftCmd: Command = {
  name: 'drift',
  synopsis: 'drift TARGET [--release V] [--json]',
  help: `usage: qapi-ts drift TARGET [--release V] [--json]

Compares a generated QMP release with the QEMU answering on TARGET
(${TARGET_FORMS}), through its
query-qmp-schema: what exists on one side only, or differs, each marked
'not built' where the release's build condition explains it. The release is
the newest not newer than that QEMU unless --release says. --json prints the report as JSON.

Exit codes: 0 every difference is explained; 1 something is unexplained (or the
QEMU could not be reached); 2 a usage error.

Examples:
  qapi-ts drift /run/vm.qmp
  qapi-ts drift tcp:127.0.0.1:4444 --release 10.0 --json`,
  options: optionNames(DRIFT_OPTIONS),
  run(argv, io) {
    const args = parseArgs('drift', argv, DRIFT_OPTIONS);
    if (args.positional.length !== 1) throw new UsageError(`drift: give one TARGET (${TARGET_FORMS})`);
    return driftCommand(
      args.positional[0],
      { release: args.values.get('release'), json: args.flags.has('json') },
      io.out,
    );
  },
};

const DIFF_OPTIONS: Record<string, OptionKind> = { format: 'value', protocol: 'value', json: 'flag' };

export const diffCmd: Command = {
  name: 'diff',
  synopsis: 'diff A B [--format text|markdown|json] [--json] [--protocol qmp|qga|qsd]',
  help: `usage: qapi-ts diff A B [--format text|markdown|json] [--json] [--protocol qmp|qga|qsd]

What changed between A and B, each a release of this package (7.2, 10.2...) or a
file: a QAPI schema source, or a schema descriptor (a saved query-qmp-schema
reply). Commands, events, members, enum values, branches and alternatives added
or removed, optional/required and type changes, new deprecations; a type's
changes once, with the commands that use it. --json is --format json.

Exit codes: 0 nothing changed; 1 something did (like diff); 2 a usage error (an
unknown release, a file that is not a schema).

Examples:
  qapi-ts diff 7.2 10.0
  qapi-ts diff 10.0 10.2 --protocol qga --format markdown
  qapi-ts diff 10.2 saved-query-qmp-schema.json --json | jq '.commands.added'`,
  options: optionNames(DIFF_OPTIONS),
  run(argv, io) {
    const args = parseArgs('diff', argv, DIFF_OPTIONS);
    if (args.positional.length !== 2) throw new UsageError('diff: give two releases or schema files, A and B');
    const format = args.flags.has('json') ? 'json' : (args.values.get('format') ?? 'text');
    if (!['text', 'markdown', 'json'].includes(format))
      throw new UsageError(`diff: --format is text, markdown or json (not '${format}')`);
    const protocol = args.values.get('protocol') ?? 'qmp';
    if (!['qmp', 'qga', 'qsd'].includes(protocol))
      throw new UsageError(`diff: --protocol is qmp, qga or qsd (not '${protocol}')`);
    const [a, b] = args.positional;
    return diffCommand(a, b, { format: format as DiffFormat, protocol: protocol as DiffProtocol }, io.out).catch(
      (e: unknown) => {
        if (e instanceof QapiSourceError) {
          io.err(e.format() + '\n');
          return EXIT.usage;
        }
        if (e instanceof DiffInputError || e instanceof QapiError) {
          io.err(`qapi-ts diff: ${e.message}\n`);
          return EXIT.usage;
        }
        throw e;
      },
    );
  },
};

export const compatCmd: Command = {
  name: 'compat',
  synopsis: COMPAT_SYNOPSIS,
  help: COMPAT_HELP,
  // compat.ts parses its own options: these are the ones it takes.
  options: ['--project', '--releases', '--errors-only', '--json'],
  run: (argv, io) => compatCommand(argv, io),
};

const ADD_QEMU_OPTIONS: Record<string, OptionKind> = { 'from-source': 'value', 'from-qemu': 'value', docs: 'value' };

export const addQemuCmd: Command = {
  name: 'add-qemu',
  synopsis: 'add-qemu VERSION [--from-source DIR | --from-qemu BINARY [--docs MANPAGE]]',
  help: `usage: qapi-ts add-qemu VERSION [--from-source DIR | --from-qemu BINARY [--docs MANPAGE]]

In a clone of the qapi-ts repository (npm run add-qemu -- ...): adds a QEMU
release. From Debian by default (its source package, else its binary packages);
or from a local QEMU source tree; or from a QEMU binary's introspection (QMP
only; --docs: its qemu-qmp-ref.7 man page). Lists it in scripts/qemu-versions and
regenerates the SDKs, latest.ts and the release reports (docs/releases/). All or
nothing: on failure the list and the cache are as they were.

Exit codes: 0 added; 1 a schema error in what was fetched; 2 a usage error (a
version already listed, a tree of another version, a missing file).

Examples:
  npm run add-qemu -- 11.2
  npm run add-qemu -- 11.2 --from-source ~/src/qemu
  npm run add-qemu -- 11.2 --from-qemu /usr/bin/qemu-system-x86_64 --docs qemu-qmp-ref.7.gz`,
  options: optionNames(ADD_QEMU_OPTIONS),
  run(argv, io) {
    const args = parseArgs('add-qemu', argv, ADD_QEMU_OPTIONS);
    if (args.positional.length !== 1) throw new UsageError('add-qemu: give one VERSION, such as 11.1');
    return addQemu({
      version: args.positional[0],
      fromSource: args.values.get('from-source'),
      fromQemu: args.values.get('from-qemu'),
      docs: args.values.get('docs'),
      log: (l) => io.err(l + '\n'),
    }).then(
      (r) => {
        io.out(
          `added: ${r.written.length} files written` +
            (r.report ? `; the release report is docs/releases/${r.report}` : '') +
            '\nnext: npm run build && npm test\n',
        );
        return EXIT.ok;
      },
      (e: unknown) => {
        if (e instanceof AddQemuError) {
          io.err(`qapi-ts add-qemu: ${e.message}\n`);
          return EXIT.usage;
        }
        throw e;
      },
    );
  },
};
