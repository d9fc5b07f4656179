/**
 * The qapi-ts command line. Schema errors (QapiError) are reported and exit 1;
 * usage errors exit 2; anything else is a bug in qapi-ts and crashes loudly.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { QapiError, QapiSourceError } from '../codegen/errors.js';
import { countDefinitions, loadSchema } from '../codegen/frontend.js';
import { generate, generateAll, PACKAGE_ROOT, type GenerateResult, type Protocol } from '../codegen/generate.js';
import { schemaToJson } from '../codegen/model-json.js';
import type { DocDialect } from '../codegen/expressions.js';
import type { DiffFormat } from '../codegen/releases/report.js';
import { addQemu, AddQemuError } from './add-qemu.js';
import { compatCommand } from './compat.js';
import { diffCommand, DiffInputError, type DiffProtocol } from './diff.js';
import { driftCommand } from './drift.js';
import { genFromLive } from './from-live.js';

const USAGE = `usage: qapi-ts <command> [options]

commands:
  check-schema FILE [--json] [--dialect auto|modern|legacy]
      Parse and check a QAPI schema (e.g. qapi/qapi-schema.json of a QEMU tree).
      Prints one summary line, or with --json the resolved model as JSON.
      On errors prints each as file:line:col: message and exits 1.
  gen --schema FILE --out DIR [--protocol qmp|qga] [--label NAME] [--check]
      Generate the TypeScript SDK of one schema into DIR: types.ts, commands.ts,
      events.ts, table.ts, schema.ts and index.ts. The protocol is guessed from
      the path when omitted (a schema under qga/ is the guest agent's).
  gen --from-socket SOCKET --out DIR [--source RELEASE|FILE] [--docs MANPAGE] [--label NAME]
  gen --from-qemu BINARY --out DIR [--source RELEASE|FILE] [--docs MANPAGE] [--label NAME]
      Generate a QMP SDK from a running QEMU's introspection (query-qmp-schema),
      for a build or release without schema source at hand; --from-qemu starts a
      system emulator BINARY with no machine to ask it (for qemu-storage-daemon,
      start it yourself and use --from-socket). With --source (a release of this
      package such as 10.2, or a QAPI schema file of a nearby QEMU), types take
      their real names where they agree with it, and integers their real widths
      when it is the same release. --docs reads QEMU's QMP reference man page
      (qemu-qmp-ref.7[.gz], from Debian's qemu-system-common) into the docs.
  gen --all [--out DIR] [--check]
      Generate the SDKs of every supported QEMU release (scripts/qemu-versions)
      from the fetched sources: QMP, guest agent and storage daemon each, into
      DIR (default: generated/ of this package). Files are rewritten only when
      their text changes. With --check nothing is written: the files that are
      out of date are listed and the exit code is 1 when there are any.
  drift SOCKET [--release V] [--json]
      Compare a generated QMP release with the QEMU answering on SOCKET (a unix
      socket path, or host:port), through its query-qmp-schema: what exists on
      one side only, or differs, each marked 'not built' where the release's
      build condition explains it. The release is the newest not newer than
      that QEMU unless --release says. Exits 1 when something is unexplained.
  diff A B [--format text|markdown|json] [--protocol qmp|qga|qsd]
      What changed between A and B, each a release of this package (7.2, 10.2...)
      or a file: a QAPI schema source, or a schema descriptor (a saved
      query-qmp-schema reply). Commands, events, members, enum values, branches
      and alternatives added or removed, optional/required and type changes,
      new deprecations; a type's changes once, with the commands that use it.
      Exits 0 when nothing changed, 1 when something did (like diff).
  compat [--project tsconfig.json] [--releases 7.2,10.0,...] [--errors-only] [--json]
      Will your code work on another QEMU? Type-checks your TypeScript project
      (needs ts-morph installed) with its qapi-ts/qemu-X imports retargeted to
      each release in turn, in memory, and lists per release the places that
      fail to compile or use something deprecated there, as file:line:col.
      --errors-only leaves deprecated uses out. Exits 1 when there is any (or
      a release given in --releases could not be checked), 2 on a usage error
      (an option, the tsconfig, a pinned import that does not resolve), 3 on
      an internal error; compat --help says more.
  add-qemu VERSION [--from-source DIR | --from-qemu BINARY [--docs MANPAGE]]
      In a clone of the qapi-ts repository (npm run add-qemu -- ...): add a QEMU
      release. From Debian by default (its source package, else its binary
      packages); or from a local QEMU source tree; or from a QEMU binary's
      introspection (QMP only; --docs: its qemu-qmp-ref.7 man page). Lists it in
      scripts/qemu-versions and regenerates the SDKs, latest.ts and the release
      report against the release before it (docs/releases/).
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

function reportResult(r: GenerateResult, check: boolean, io: Io): void {
  const what = check ? 'stale' : 'written';
  const ms = r.timings.load + r.timings.emit;
  io.out(`${r.label}: ${r.files.length} files, ${r.changed.length} ${what} (${ms.toFixed(0)} ms)\n`);
  const unformatted = r.files.filter((f) => f.unformatted).map((f) => f.name);
  if (unformatted.length) {
    io.err(`qapi-ts: warning: ${r.label}: not laid out as prettier would: ${unformatted.join(', ')}\n`);
  }
}

function gen(argv: string[], io: Io): number {
  const { positional, flags } = parseArgs(argv, ['schema', 'out', 'protocol', 'label']);
  const known = ['schema', 'out', 'protocol', 'label', 'all', 'check'];
  for (const f of flags.keys()) if (!known.includes(f)) throw new UsageError(`unknown option --${f}`);
  if (positional.length) throw new UsageError(`gen takes no positional arguments (got '${positional[0]}')`);
  const check = flags.has('check');
  const out = flags.get('out') as string | undefined;
  if (flags.has('all')) {
    for (const f of ['schema', 'protocol', 'label']) {
      if (flags.has(f)) throw new UsageError(`--${f} cannot be used with --all`);
    }
    if (!existsSync(path.join(PACKAGE_ROOT, 'scripts/qemu-versions'))) {
      // An installed package has neither the list of releases nor their fetched sources.
      io.err(
        'qapi-ts gen --all works in a clone of the qapi-ts repository (it reads scripts/qemu-versions and the QEMU sources\n' +
          'fetched into .cache/qemu); here, generate one schema with: qapi-ts gen --schema FILE --out DIR\n',
      );
      return 1;
    }
    const all = generateAll({ outDir: out, check, onResult: (r) => reportResult(r, check, io) });
    const stale = [...all.changed, ...all.extra.map((f) => `${f} (no longer generated)`)];
    if (check) {
      for (const f of stale) io.out(`stale: ${f}\n`);
      io.out(stale.length ? `${stale.length} generated files are out of date: run npm run gen\n` : 'up to date\n');
      return stale.length ? 1 : 0;
    }
    for (const f of all.extra) io.out(`removed: ${f}\n`);
    return 0;
  }
  const schema = flags.get('schema') as string | undefined;
  if (schema === undefined || out === undefined)
    throw new UsageError('gen needs --schema FILE and --out DIR, or --all');
  const protocol = flags.get('protocol');
  if (protocol !== undefined && protocol !== 'qmp' && protocol !== 'qga') {
    throw new UsageError(`--protocol must be qmp or qga, not '${String(protocol)}'`);
  }
  // What the header says regenerates the files: the options that decide their content.
  const regenerate =
    `qapi-ts gen --schema ${schema} --out ${out}` + (protocol ? ` --protocol ${String(protocol)}` : '');
  const r = generate({
    schemaFile: schema,
    outDir: out,
    protocol: protocol as Protocol | undefined,
    label: flags.get('label') as string | undefined,
    regenerate,
    check,
  });
  reportResult(r, check, io);
  if (check) {
    for (const f of r.changed) io.out(`stale: ${f}\n`);
    return r.changed.length ? 1 : 0;
  }
  return 0;
}

function genLive(argv: string[], io: Io): Promise<number> {
  const valued = ['from-socket', 'from-qemu', 'out', 'source', 'label', 'docs'];
  const { positional, flags } = parseArgs(argv, valued);
  for (const f of flags.keys()) if (!valued.includes(f)) throw new UsageError(`gen --from-*: unknown option --${f}`);
  if (positional.length) throw new UsageError(`gen takes no positional arguments (got '${positional[0]}')`);
  const socket = flags.get('from-socket') as string | undefined;
  const qemu = flags.get('from-qemu') as string | undefined;
  const out = flags.get('out') as string | undefined;
  if ((socket === undefined) === (qemu === undefined))
    throw new UsageError('give one of --from-socket and --from-qemu');
  if (out === undefined) throw new UsageError('gen --from-* needs --out DIR');
  return genFromLive(
    {
      socket,
      qemu,
      out,
      source: flags.get('source') as string | undefined,
      label: flags.get('label') as string | undefined,
      docs: flags.get('docs') as string | undefined,
    },
    io.out,
  ).catch((e: Error) => {
    io.err(`qapi-ts gen: ${e instanceof QapiSourceError ? e.format() : e.message}\n`);
    return 1;
  });
}

function version(): string {
  // From dist/cli or from source (cli/): the package root is found, not assumed two levels up.
  const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
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

/** Resolves with the exit code; commands that talk to QEMU return a promise. */
export function main(argv: string[], io: Io = processIo): number | Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'check-schema':
        return checkSchema(rest, io);
      case 'gen':
        if (rest.some((a) => a.startsWith('--from-socket') || a.startsWith('--from-qemu'))) return genLive(rest, io);
        return gen(rest, io);
      case 'drift': {
        const args = parseArgs(rest, ['release']);
        if (args.positional.length !== 1) throw new UsageError('drift: give one SOCKET (a path, or host:port)');
        for (const f of args.flags.keys())
          if (f !== 'release' && f !== 'json') throw new UsageError(`drift: unknown option --${f}`);
        const release = args.flags.get('release');
        return driftCommand(
          args.positional[0],
          { release: release as string | undefined, json: args.flags.has('json') },
          io.out,
        ).catch((e: Error) => {
          io.err(`qapi-ts drift: ${e.message}\n`);
          return 2;
        });
      }
      case 'diff': {
        const args = parseArgs(rest, ['format', 'protocol']);
        for (const f of args.flags.keys())
          if (f !== 'format' && f !== 'protocol') throw new UsageError(`diff: unknown option --${f}`);
        if (args.positional.length !== 2) throw new UsageError('diff: give two releases or schema files, A and B');
        const format = (args.flags.get('format') ?? 'text') as string;
        if (!['text', 'markdown', 'json'].includes(format))
          throw new UsageError(`diff: --format is text, markdown or json (not '${format}')`);
        const protocol = (args.flags.get('protocol') ?? 'qmp') as string;
        if (!['qmp', 'qga', 'qsd'].includes(protocol))
          throw new UsageError(`diff: --protocol is qmp, qga or qsd (not '${protocol}')`);
        const [a, b] = args.positional;
        return diffCommand(a, b, { format: format as DiffFormat, protocol: protocol as DiffProtocol }, io.out).catch(
          (e: unknown) => {
            if (e instanceof QapiSourceError) {
              io.err(e.format() + '\n');
              return 2;
            }
            if (e instanceof DiffInputError || e instanceof QapiError) {
              io.err(`qapi-ts diff: ${e.message}\n`);
              return 2;
            }
            throw e;
          },
        );
      }
      case 'compat':
        return compatCommand(rest, io);
      case 'add-qemu': {
        const args = parseArgs(rest, ['from-source', 'from-qemu', 'docs']);
        for (const f of args.flags.keys())
          if (!['from-source', 'from-qemu', 'docs'].includes(f))
            throw new UsageError(`add-qemu: unknown option --${f}`);
        if (args.positional.length !== 1) throw new UsageError('add-qemu: give one VERSION, such as 11.1');
        return addQemu({
          version: args.positional[0],
          fromSource: args.flags.get('from-source') as string | undefined,
          fromQemu: args.flags.get('from-qemu') as string | undefined,
          docs: args.flags.get('docs') as string | undefined,
          log: (l) => io.err(l + '\n'),
        }).then(
          (r) => {
            io.out(
              `added: ${r.written.length} files written` +
                (r.report ? `; the release report is docs/releases/${r.report}` : '') +
                '\nnext: npm run build && npm test\n',
            );
            return 0;
          },
          (e: unknown) => {
            if (e instanceof AddQemuError || e instanceof QapiError) {
              io.err(`qapi-ts add-qemu: ${e.message}\n`);
              return e instanceof AddQemuError ? 2 : 1;
            }
            throw e;
          },
        );
      }
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
