/**
 * The generator's commands: `check-schema` (QEMU's front end, as QEMU's own
 * scripts/qapi checks a schema) and `gen` (an SDK from a schema file, from a
 * running QEMU's introspection, or every supported release).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { QapiSourceError } from '../codegen/errors.js';
import { countDefinitions, loadSchema } from '../codegen/frontend.js';
import { generate, generateAll, PACKAGE_ROOT, type GenerateResult } from '../codegen/generate.js';
import { schemaToJson } from '../codegen/model-json.js';
import { EXIT, optionNames, parseArgs, UsageError, type Command, type Io, type OptionKind } from './command.js';
import { genFromLive } from './from-live.js';

const CHECK_OPTIONS: Record<string, OptionKind> = { json: 'flag', dialect: 'value' };

export const checkSchemaCommand: Command = {
  name: 'check-schema',
  synopsis: 'check-schema FILE [--json] [--dialect auto|modern|legacy]',
  help: `usage: qapi-ts check-schema FILE [--json] [--dialect auto|modern|legacy]

Parses and checks a QAPI schema (e.g. qapi/qapi-schema.json of a QEMU tree)
with QEMU's own rules: includes, pragmas, doc comments, every semantic rule.
Prints one summary line, or with --json the resolved model (every entity with
its location, resolved types, flattened members, conditions, features, docs).
--dialect picks the doc-comment rules: legacy (QEMU 7.2), modern (10.2), or
auto (the default: tries each).

Exit codes: 0 the schema is good; 1 it is not (each error as
file:line:col: message on stderr); 2 a usage error.

Examples:
  qapi-ts check-schema .cache/qemu/10.2/qapi/qapi-schema.json
  qapi-ts check-schema my-fork/qapi/qapi-schema.json --json | jq '.entities | length'`,
  options: optionNames(CHECK_OPTIONS),
  run(argv, io) {
    const args = parseArgs('check-schema', argv, CHECK_OPTIONS);
    if (args.positional.length !== 1) throw new UsageError('check-schema takes exactly one schema file');
    const dialect = args.values.get('dialect') ?? 'auto';
    if (dialect !== 'auto' && dialect !== 'modern' && dialect !== 'legacy')
      throw new UsageError(`--dialect must be auto, modern or legacy, not '${dialect}'`);
    const schema = loadSchema(args.positional[0], { dialect });
    if (args.flags.has('json')) {
      io.out(JSON.stringify(schemaToJson(schema), null, 2) + '\n');
    } else {
      const c = countDefinitions(schema);
      io.out(
        `commands=${c.commands} events=${c.events} structs=${c.structs} unions=${c.unions} alternates=${c.alternates} enums=${c.enums}\n`,
      );
    }
    return EXIT.ok;
  },
};

function reportResult(r: GenerateResult, check: boolean, io: Io): void {
  const what = check ? 'stale' : 'written';
  const ms = r.timings.load + r.timings.emit;
  io.out(`${r.label}: ${r.files.length} files, ${r.changed.length} ${what} (${ms.toFixed(0)} ms)\n`);
  const unformatted = r.files.filter((f) => f.unformatted).map((f) => f.name);
  if (unformatted.length) {
    io.err(`qapi-ts: warning: ${r.label}: not laid out as prettier would: ${unformatted.join(', ')}\n`);
  }
}

/** What --json prints for generated SDKs. */
function resultJson(r: GenerateResult): Record<string, unknown> {
  return { label: r.label, outDir: r.outDir, files: r.files.map((f) => f.name), changed: r.changed };
}

const GEN_HELP = `usage: qapi-ts gen --schema FILE --out DIR [--protocol qmp|qga] [--label NAME] [--check] [--json]
       qapi-ts gen --from-socket SOCKET --out DIR [--source RELEASE|FILE] [--docs MANPAGE] [--label NAME]
       qapi-ts gen --from-qemu BINARY --out DIR [--source RELEASE|FILE] [--docs MANPAGE] [--label NAME]
       qapi-ts gen --all [--out DIR] [--check] [--json]

--schema: generates the TypeScript SDK of one schema into DIR: types.ts,
commands.ts, events.ts, methods.ts, table.ts, schema.ts and index.ts. The
protocol is guessed from the path (a schema under qga/ is the guest agent's).

--from-socket / --from-qemu: a QMP SDK from a running QEMU's introspection
(query-qmp-schema), for a build or release without schema source at hand;
--from-qemu starts BINARY with no machine to ask it. With --source (a release of
this package such as 10.2, or a QAPI schema file) types take their real names
where they agree with it, and integers their real widths when it is the same
release. --docs reads QEMU's QMP reference man page (qemu-qmp-ref.7[.gz]).

--all (in a clone of the repository): every supported release
(scripts/qemu-versions) from the fetched sources, QMP, guest agent and storage
daemon, and the release reports (docs/releases/). Files are rewritten only when
their text changes.

--check: nothing is written; the files that are out of date are listed.
--json: what was generated (or is stale), as JSON.

Exit codes: 0 done (with --check: up to date); 1 a schema error, or with
--check something is out of date; 2 a usage error.

Examples:
  qapi-ts gen --schema ~/src/qemu/qapi/qapi-schema.json --out src/qmp
  qapi-ts gen --from-socket /run/vm.qmp --out src/qmp --source 10.2
  qapi-ts gen --all --check`;

const GEN_OPTIONS: Record<string, OptionKind> = {
  schema: 'value',
  out: 'value',
  protocol: 'value',
  label: 'value',
  all: 'flag',
  check: 'flag',
  json: 'flag',
};

/** gen --from-socket / --from-qemu's. */
const LIVE_OPTIONS: Record<string, OptionKind> = {
  'from-socket': 'value',
  'from-qemu': 'value',
  out: 'value',
  source: 'value',
  label: 'value',
  docs: 'value',
};

export const genCommand: Command = {
  name: 'gen',
  synopsis: 'gen --schema FILE --out DIR | --from-socket SOCKET --out DIR | --from-qemu BINARY --out DIR | --all',
  help: GEN_HELP,
  options: optionNames(GEN_OPTIONS, LIVE_OPTIONS),
  run(argv, io) {
    if (argv.some((a) => a.startsWith('--from-socket') || a.startsWith('--from-qemu'))) return genLive(argv, io);
    const args = parseArgs('gen', argv, GEN_OPTIONS);
    if (args.positional.length) throw new UsageError(`gen takes no positional arguments (got '${args.positional[0]}')`);
    const check = args.flags.has('check');
    const json = args.flags.has('json');
    const out = args.values.get('out');
    const quiet: Io = json ? { out: () => undefined, err: io.err } : io;
    if (args.flags.has('all')) {
      for (const f of ['schema', 'protocol', 'label'])
        if (args.values.has(f)) throw new UsageError(`--${f} cannot be used with --all`);
      if (!existsSync(path.join(PACKAGE_ROOT, 'scripts/qemu-versions'))) {
        // An installed package has neither the list of releases nor their fetched sources.
        io.err(
          'qapi-ts gen --all works in a clone of the qapi-ts repository (it reads scripts/qemu-versions and the QEMU sources\n' +
            'fetched into .cache/qemu); here, generate one schema with: qapi-ts gen --schema FILE --out DIR\n',
        );
        return EXIT.no;
      }
      const all = generateAll({ outDir: out, check, onResult: (r) => reportResult(r, check, quiet) });
      const stale = [...all.changed, ...all.extra.map((f) => `${f} (no longer generated)`)];
      if (json) {
        io.out(
          JSON.stringify(
            { check, results: all.results.map(resultJson), changed: all.changed, extra: all.extra },
            null,
            2,
          ) + '\n',
        );
        return check && stale.length ? EXIT.no : EXIT.ok;
      }
      if (check) {
        for (const f of stale) io.out(`stale: ${f}\n`);
        io.out(stale.length ? `${stale.length} generated files are out of date: run npm run gen\n` : 'up to date\n');
        return stale.length ? EXIT.no : EXIT.ok;
      }
      for (const f of all.extra) io.out(`removed: ${f}\n`);
      return EXIT.ok;
    }
    const schema = args.values.get('schema');
    if (schema === undefined || out === undefined)
      throw new UsageError('gen needs --schema FILE and --out DIR, or --all');
    const protocol = args.values.get('protocol');
    if (protocol !== undefined && protocol !== 'qmp' && protocol !== 'qga')
      throw new UsageError(`--protocol must be qmp or qga, not '${protocol}'`);
    // What the header says regenerates the files: the options that decide their content.
    const regenerate = `qapi-ts gen --schema ${schema} --out ${out}` + (protocol ? ` --protocol ${protocol}` : '');
    const r = generate({
      schemaFile: schema,
      outDir: out,
      protocol,
      label: args.values.get('label'),
      regenerate,
      check,
    });
    if (json) {
      io.out(JSON.stringify({ check, results: [resultJson(r)] }, null, 2) + '\n');
      return check && r.changed.length ? EXIT.no : EXIT.ok;
    }
    reportResult(r, check, io);
    if (check) {
      for (const f of r.changed) io.out(`stale: ${f}\n`);
      return r.changed.length ? EXIT.no : EXIT.ok;
    }
    return EXIT.ok;
  },
};

function genLive(argv: string[], io: Io): Promise<number> {
  const args = parseArgs('gen', argv, LIVE_OPTIONS);
  if (args.positional.length) throw new UsageError(`gen takes no positional arguments (got '${args.positional[0]}')`);
  const socket = args.values.get('from-socket');
  const qemu = args.values.get('from-qemu');
  const out = args.values.get('out');
  if ((socket === undefined) === (qemu === undefined))
    throw new UsageError('give one of --from-socket and --from-qemu');
  if (out === undefined) throw new UsageError('gen --from-* needs --out DIR');
  return genFromLive(
    {
      socket,
      qemu,
      out,
      source: args.values.get('source'),
      label: args.values.get('label'),
      docs: args.values.get('docs'),
    },
    io.out,
  ).catch((e: unknown) => {
    io.err(`qapi-ts gen: ${e instanceof QapiSourceError ? e.format() : e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.no;
  });
}
