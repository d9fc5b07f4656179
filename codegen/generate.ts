/**
 * The generation driver: schema file → a folder of TypeScript (types.ts,
 * commands.ts, events.ts, table.ts, schema.ts, index.ts). One code path for
 * every QEMU version and protocol: loadSchema, then every emitter.
 *
 * `generateAll` does it for every supported release (scripts/qemu-versions)
 * and each of its three schemas: QMP (`qemu-V`), the guest agent (`qga-V`)
 * and the storage daemon (`qsd-V`, a QMP server).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import type { ParseOptions } from './expressions.js';
import { buildDescriptor } from './emit/descriptor.js';
import { EmitContext, type EmittedFile, type Protocol, type RuntimeType } from './emit/type-mapping.js';
import { emitCommands } from './emit/commands.js';
import { emitEvents } from './emit/events.js';
import { emitIndex } from './emit/index-file.js';
import { emitMethods } from './emit/methods.js';
import { headerComment, listFiles, type OutputFile, renderFile, writeFiles } from './emit/output.js';
import type { Statement } from './emit/printer.js';
import { buildTable } from './emit/table.js';
import { emitTypes } from './emit/types.js';
import { QapiError } from './errors.js';
import { loadSchema } from './frontend.js';
import { schemaFromIntrospection } from './introspection.js';
import { parseQmpReference } from './manpage.js';
import type { Schema } from './schema.js';
import { releaseReports, renamesOf } from './releases/docs.js';
import { ReleaseHistory } from './releases/history.js';
import type { SinceOracle } from './emit/jsdoc.js';

export type { Protocol } from './emit/type-mapping.js';

/** The package's root folder (where package.json is), from here or from dist/. */
export const PACKAGE_ROOT = findUp(path.dirname(fileURLToPath(import.meta.url)), 'package.json')!;

function findUp(dir: string, file: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, file))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/** The schema's protocol, guessed from its path: a schema under `qga/` is the guest agent's. */
export function guessProtocol(schemaFile: string): Protocol {
  return schemaFile.split(/[\\/]/).includes('qga') ? 'qga' : 'qmp';
}

/** The QEMU source tree a schema file is in: the nearest folder up with a VERSION file. */
export function qemuTreeOf(schemaFile: string): { root: string; version: string } | undefined {
  const root = findUp(path.dirname(path.resolve(schemaFile)), 'VERSION');
  if (!root) return undefined;
  return { root, version: readFileSync(path.join(root, 'VERSION'), 'utf8').trim() };
}

export interface RenderOptions {
  readonly protocol: Protocol;
  /** Where the header says the schema comes from, e.g. "qapi/qapi-schema.json of QEMU 10.2.2". */
  readonly source: string;
  /** What the header says regenerates the files. */
  readonly regenerate: string;
  readonly qemuVersion: string;
  /**
   * How generated files import the runtime's types: 'package' imports them
   * from 'qapi-ts'; a path imports them from that folder (runtime/ of this
   * package, relative to the output folder, '/'-separated).
   */
  readonly runtime: 'package' | { readonly relativeDir: string };
  /** The releases' own record of when each thing appeared, for "since" where QEMU's docs lack or misstate it. */
  readonly since?: SinceOracle;
}

/** Time spent per stage of one generation, in milliseconds. */
export interface Timings {
  /** Parsing and checking the schema. */
  load: number;
  /** Declarations, docs, table and descriptor, printed. */
  emit: number;
}

type RuntimeName = RuntimeType | 'SchemaDescriptor' | 'RuntimeTable' | 'Method' | 'Agent' | 'ClientApi' | 'AgentApi';

const RUNTIME_FILE: Record<RuntimeName, string> = {
  JsonValue: 'wire/json',
  Int64: 'wire/json',
  SchemaDescriptor: 'schema/descriptor',
  RuntimeTable: 'schema/table',
  Method: 'qmp/client',
  Agent: 'qga/client',
  ClientApi: 'client-api',
  AgentApi: 'agent-api',
};

function runtimeModule(runtime: RenderOptions['runtime'], type: RuntimeName): string {
  if (runtime === 'package') return type === 'ClientApi' || type === 'AgentApi' ? 'qapi-ts/runtime' : 'qapi-ts';
  const file = RUNTIME_FILE[type];
  return `${runtime.relativeDir}/${file}.js`;
}

/** Type-only import statements, grouped by module, modules and names sorted. */
function imports(
  runtime: RenderOptions['runtime'],
  runtimeNames: Iterable<RuntimeName>,
  local: Iterable<string> = [],
): Statement[] {
  const byModule = new Map<string, Set<string>>();
  const add = (from: string, name: string): void => {
    if (!byModule.has(from)) byModule.set(from, new Set());
    byModule.get(from)!.add(name);
  };
  for (const r of runtimeNames) add(runtimeModule(runtime, r), r);
  for (const n of local) add('./types.js', n);
  return [...byModule]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([from, names]) => ({ kind: 'import', from, names: [...names].sort() }));
}

/** Why the data files look as they do. */
const DATA_DOC = 'JSON text parsed on first read: calls that need no validation never parse it.';

/** The files of one SDK, formatted, in a fixed order. */
export function renderSdk(schema: Schema, options: RenderOptions): OutputFile[] {
  const ctx = new EmitContext(schema, options.protocol, options.since);
  const header = headerComment(options.source, options.regenerate);
  const files: OutputFile[] = [];
  const typed = (name: string, emitted: EmittedFile, local: boolean): void => {
    const used = local ? [] : emitted.writer.usedTypes;
    const head = imports(options.runtime, emitted.writer.usedRuntime, used);
    files.push(renderFile(name, header, [...head, ...emitted.statements]));
  };
  typed('types.ts', emitTypes(ctx), true);
  typed('commands.ts', emitCommands(ctx), false);
  typed('events.ts', emitEvents(ctx), false);
  const data = (
    name: string,
    constName: string,
    type: 'SchemaDescriptor' | 'RuntimeTable',
    value: unknown,
    json: boolean,
  ): void => {
    const head = imports(options.runtime, [type]);
    if (!json) {
      files.push(renderFile(name, header, [...head, { kind: 'data', name: constName, type, value }]));
      return;
    }
    const loader: Statement = {
      kind: 'import',
      names: ['lazyDescriptor'],
      from: runtimeModule(options.runtime, 'SchemaDescriptor'),
      typeOnly: false,
    };
    const statement: Statement = {
      kind: 'data',
      name: constName,
      type,
      value,
      encoding: 'json',
      parser: 'lazyDescriptor',
      doc: DATA_DOC,
    };
    files.push(renderFile(name, header, [loader, ...head, statement]));
  };
  data('table.ts', 'table', 'RuntimeTable', buildTable(schema, ctx.methods), false);
  // The descriptor is the bulk of an SDK's load time (a 300 KB literal for QMP).
  data('schema.ts', 'schema', 'SchemaDescriptor', buildDescriptor(schema), true);
  files.push(
    renderFile('methods.ts', header, [
      ...imports(options.runtime, ['Method']),
      { kind: 'import', from: './commands.js', names: [ctx.commandsName] },
      ...emitMethods(ctx),
    ]),
  );
  const index = emitIndex(
    ctx,
    options.qemuVersion,
    runtimeModule(options.runtime, ctx.protocol === 'qga' ? 'Agent' : 'Method'),
    runtimeModule(options.runtime, ctx.protocol === 'qga' ? 'AgentApi' : 'ClientApi'),
  );
  files.push(renderFile('index.ts', header, [{ kind: 'text', text: index }]));
  return files;
}

export interface GenerateOptions {
  readonly schemaFile: string;
  readonly outDir: string;
  /** Default: guessed from the schema's path (see guessProtocol). */
  readonly protocol?: Protocol;
  /** A name for the output in messages, e.g. 'qemu-10.2'; default: the output folder's name. */
  readonly label?: string;
  /** What the header says regenerates the files; default 'npm run gen'. */
  readonly regenerate?: string;
  /** Compare instead of writing. */
  readonly check?: boolean;
  /** Default: relative imports when the output is inside this package, else imports from 'qapi-ts'. */
  readonly runtime?: RenderOptions['runtime'];
  /** Passed to the parser (tests read schemas from memory). */
  readonly parse?: ParseOptions;
  /** The schema, already loaded from schemaFile (generateAll loads every release first). */
  readonly schema?: Schema;
  readonly since?: SinceOracle;
}

export interface GenerateResult {
  readonly label: string;
  readonly outDir: string;
  readonly files: readonly OutputFile[];
  /** Files written (or with `check`, stale), relative to outDir. */
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  readonly timings: Timings;
}

/** How an output folder imports the runtime: relatively from inside this package, else from 'qapi-ts'. */
export function defaultRuntime(outDir: string): RenderOptions['runtime'] {
  const rel = path.relative(PACKAGE_ROOT, path.resolve(outDir));
  if (rel.startsWith('..') || path.isAbsolute(rel) || rel.split(path.sep).includes('node_modules')) return 'package';
  const relativeDir = path.relative(path.resolve(outDir), path.join(PACKAGE_ROOT, 'runtime')).split(path.sep).join('/');
  return { relativeDir: relativeDir.startsWith('.') ? relativeDir : `./${relativeDir}` };
}

/** Loads one schema and writes (or checks) its SDK. */
export function generate(options: GenerateOptions): GenerateResult {
  const timings: Timings = { load: 0, emit: 0 };
  const t0 = performance.now();
  const schema = options.schema ?? loadSchema(options.schemaFile, { dialect: 'auto', ...options.parse });
  timings.load = performance.now() - t0;
  const tree = options.parse?.readFile ? undefined : qemuTreeOf(options.schemaFile);
  const relative = tree
    ? path.relative(tree.root, path.resolve(options.schemaFile)).split(path.sep).join('/')
    : path.basename(options.schemaFile);
  const t1 = performance.now();
  const files = renderSdk(schema, {
    protocol: options.protocol ?? guessProtocol(options.schemaFile),
    source: tree ? `${relative} of QEMU ${tree.version}` : relative,
    regenerate: options.regenerate ?? 'npm run gen',
    qemuVersion: tree?.version ?? 'unknown',
    runtime: options.runtime ?? defaultRuntime(options.outDir),
    since: options.since,
  });
  timings.emit = performance.now() - t1;
  const { changed, unchanged } = writeFiles(options.outDir, files, options.check);
  return {
    label: options.label ?? path.basename(path.resolve(options.outDir)),
    outDir: options.outDir,
    files,
    changed,
    unchanged,
    timings,
  };
}

// ---------------------------------------------------------------- every supported version

/** The schemas of a QEMU tree that get an SDK, by output prefix. */
export const SCHEMAS: readonly { readonly prefix: string; readonly path: string; readonly protocol: Protocol }[] = [
  { prefix: 'qemu', path: 'qapi/qapi-schema.json', protocol: 'qmp' },
  { prefix: 'qga', path: 'qga/qapi-schema.json', protocol: 'qga' },
  { prefix: 'qsd', path: 'storage-daemon/qapi/qapi-schema.json', protocol: 'qmp' },
];

export interface SupportedRelease {
  /** Short version, '10.2'. */
  version: string;
  /**
   * 'source': every schema (Debian's source package, QEMU's release tarball
   * the line pins, or a local QEMU tree); 'binary': Debian's binary packages,
   * the guest agent's schema as qemu-guest-agent ships it and QMP from introspection;
   * 'introspection': QMP only, from a local binary's introspection (add-qemu --from-qemu).
   */
  from: 'source' | 'binary' | 'introspection';
  /** Debian's package version ('1:10.0.13+ds-0+deb13u1'), or for a local release its QEMU version. */
  package: string;
  /** The third column as written ('bin:sid', 'local:source'), if any. */
  column?: string;
  /**
   * QEMU's release tarball the line pins (`upstream:X.Y.Z#sha256=HEX`), which
   * scripts/fetch-qemu.sh takes where Debian's source package cannot be had.
   */
  upstream?: { version: string; sha256: string };
}

/** Where fetch-qemu.sh keeps a binary release's QMP introspection and reference, in its cache folder. */
export const INTROSPECTION = 'qapi/introspection.json';
export const QMP_REFERENCE = 'qapi/qemu-qmp-ref.7.gz';
/** The schema written back from them, next to them, which the SDK is generated from (its header names it). */
const WRITTEN_BACK = 'qapi/introspection-schema.json';

/**
 * A QMP SDK from a release's introspection (codegen/introspection.ts), named
 * after a source release where the structure agrees, documented from the
 * release's own QMP reference man page.
 */
export function generateFromIntrospection(options: {
  dir: string;
  source: string;
  outDir: string;
  label: string;
  check?: boolean;
  runtime?: RenderOptions['runtime'];
}): GenerateResult {
  return generate({
    schemaFile: writeBackIntrospection(options.dir, options.source),
    outDir: options.outDir,
    protocol: 'qmp',
    label: options.label,
    check: options.check,
    runtime: options.runtime,
    parse: INTROSPECTED,
  });
}

/** How a schema written back from introspection parses. */
const INTROSPECTED: ParseOptions = { dialect: 'legacy' };

/** Writes (when it changed) the schema of a binary release's introspection, named after `source`; returns its path. */
function writeBackIntrospection(dir: string, source: string): string {
  const live = JSON.parse(readFileSync(path.join(dir, INTROSPECTION), 'utf8')) as SchemaDescriptor;
  // The QMP reference man page is optional (a local binary may come without one): no docs then.
  const reference = path.join(dir, QMP_REFERENCE);
  const docs = existsSync(reference)
    ? parseQmpReference(gunzipSync(readFileSync(reference)).toString('utf8'))
    : undefined;
  const named = buildDescriptor(loadSchema(source, { dialect: 'auto' }));
  const { text } = schemaFromIntrospection(live, named, { docs });
  const schemaFile = path.join(dir, WRITTEN_BACK);
  if (!existsSync(schemaFile) || readFileSync(schemaFile, 'utf8') !== text) writeFileSync(schemaFile, text);
  return schemaFile;
}

/**
 * The releases of scripts/qemu-versions, the single list of supported releases.
 * TypeScript's one reader of its format (the shell's is fetch-qemu.sh's `read_releases`, with the
 * same rules and messages): `VERSION PACKAGE [FROM] [upstream:X.Y.Z#sha256=HEX]` per line, `#`
 * starting a comment line, a trailing `\r` (CRLF) ignored. A malformed line, or a VERSION
 * (MAJOR.MINOR, a folder name in the cache) listed twice, is an error naming `file:line`.
 */
export function supportedReleases(file = path.join(PACKAGE_ROOT, 'scripts/qemu-versions')): SupportedRelease[] {
  const seen = new Map<string, number>();
  const releases: SupportedRelease[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      // Fields are separated by blanks and tabs, as awk separates them.
      if (line.startsWith('#') || !/[^ \t]/.test(line)) return;
      const fields = line.replace(/^[ \t]+|[ \t]+$/g, '').split(/[ \t]+/);
      const bad = (message: string): QapiError => new QapiError(`${file}:${i + 1}: ${message}`);
      const release = releaseLine(fields, (message) => bad(`QEMU ${fields[0]}: ${message}`), bad);
      const also = seen.get(release.version);
      if (also !== undefined) throw bad(`QEMU ${release.version}: listed twice (also on line ${also})`);
      seen.set(release.version, i + 1);
      releases.push(release);
    });
  return releases;
}

function releaseLine(
  [version, pkg, ...fields]: string[],
  bad: (message: string) => QapiError,
  badLine: (message: string) => QapiError,
): SupportedRelease {
  if (!/^\d+\.\d+$/.test(version)) throw badLine(`bad version '${version}' (expected MAJOR.MINOR, such as 10.2)`);
  if (pkg === undefined || !/^(\d+:)?\d[0-9A-Za-z.+~-]*$/.test(pkg))
    throw bad(`bad or missing package version '${pkg ?? ''}' (expected a Debian version, such as 1:10.2.2+ds-1)`);
  let column: string | undefined;
  let upstream: SupportedRelease['upstream'];
  for (const field of fields) {
    if (field.startsWith('upstream:')) {
      const pin = /^upstream:(\d+\.\d+\.\d+)#sha256=([0-9a-f]{64})$/.exec(field);
      if (upstream || !pin || !pin[1].startsWith(`${version}.`))
        throw bad(`bad upstream pin '${field}' (expected upstream:${version}.N#sha256=<64 hex digits>, once)`);
      upstream = { version: pin[1], sha256: pin[2] };
    } else if (column !== undefined) throw bad(`unexpected '${field}' after '${column}'`);
    else if (!/^(bin:[0-9A-Za-z.-]+|local:source|local:qemu)$/.test(field))
      throw bad(`unknown source '${field}' (expected bin:SUITE, local:source or local:qemu)`);
    else column = field;
  }
  if (upstream && column !== undefined)
    throw bad(`an upstream pin goes with Debian's source package, not with ${column}`);
  return { version, from: releaseKind(column), package: pkg, column, ...(upstream && { upstream }) };
}

/** The kind of a release from the third column of scripts/qemu-versions. */
export function releaseKind(column: string | undefined): SupportedRelease['from'] {
  if (column === undefined || column === '' || column === 'local:source') return 'source';
  if (column.startsWith('bin:')) return 'binary';
  if (column === 'local:qemu') return 'introspection';
  throw new QapiError(
    `scripts/qemu-versions: unknown source '${column}' (expected bin:SUITE, local:source or local:qemu)`,
  );
}

/** Short versions from scripts/qemu-versions. */
export function supportedVersions(file?: string): string[] {
  return supportedReleases(file).map((r) => r.version);
}

export const GENERATED_README = `# Generated SDKs — do not edit

Everything in this folder is generated by qapi-ts from the QAPI schemas of
the supported QEMU releases (\`scripts/qemu-versions\`), one folder per
release and schema:

- \`qemu-<version>/\`: QMP, the QEMU monitor protocol (\`qapi/qapi-schema.json\`);
- \`qga-<version>/\`: the guest agent, qemu-ga (\`qga/qapi-schema.json\`; for a release from
  binary packages, the copy \`qemu-guest-agent\` ships);
- \`qsd-<version>/\`: the storage daemon, a QMP server (\`storage-daemon/qapi/qapi-schema.json\`).

Each holds \`types.ts\` (every named type), \`commands.ts\` and \`events.ts\`
(the command and event maps), \`methods.ts\` (the client's per-command methods),
\`table.ts\` and \`schema.ts\` (data for the runtime), and \`index.ts\`, which
re-exports them all with the client API and binds \`connectQmp\` (QMP, the
storage daemon) or \`connectQga\` (the guest agent) to them. \`latest.ts\`
re-exports the newest release, and its guest agent's \`connectQga\`.

Do not edit these files: change the generator (\`codegen/\`) instead and regenerate:

\`\`\`sh
npm run gen            # rewrite what changed
npm run gen -- --check # exit 1 and list the files that are out of date
\`\`\`

\`npm run gen\` reads the QEMU sources fetched by \`npm run fetch\` (into \`.cache/qemu/\`).
A test (\`test/generated-fresh.test.ts\`) fails when this folder is out of date.
`;

export interface GenerateAllOptions {
  /** Default: generated/ of this package. */
  readonly outDir?: string;
  /** Default: $QAPI_TS_CACHE or .cache/qemu of this package. */
  readonly cacheDir?: string;
  /** Default: supportedVersions(). */
  readonly versions?: readonly string[];
  readonly check?: boolean;
  /** How the files import the runtime; default: see defaultRuntime (per SDK folder). */
  readonly runtime?: RenderOptions['runtime'];
  /** Called after each SDK, for progress output. */
  readonly onResult?: (result: GenerateResult) => void;
  /** The list of releases; default: scripts/qemu-versions of this package. */
  readonly versionsFile?: string;
  /** Where the release reports go (docs/releases/ of this package when outDir is the default; else none). */
  readonly docsDir?: string;
}

/** The release reports' folder in this package. */
export const DOCS = 'docs/releases';

export interface GenerateAllResult {
  readonly results: readonly GenerateResult[];
  /** Files written (or stale, with `check`), relative to outDir. */
  readonly changed: readonly string[];
  /** Files in outDir's SDK folders that are no longer generated: removed, or with `check`, reported. */
  readonly extra: readonly string[];
}

/** Every supported version × {QMP, guest agent, storage daemon}, plus README.md. */
export function generateAll(options: GenerateAllOptions = {}): GenerateAllResult {
  const outDir = options.outDir ?? path.join(PACKAGE_ROOT, 'generated');
  const cacheDir = options.cacheDir ?? process.env.QAPI_TS_CACHE ?? path.join(PACKAGE_ROOT, '.cache/qemu');
  const listed = supportedReleases(options.versionsFile);
  const known = new Map(listed.map((r) => [r.version, r.from]));
  /** A release's Debian package version, for notes (Debian may backport); none for a local release. */
  const debian = (version: string): string | undefined => {
    const r = listed.find((x) => x.version === version);
    return r && !/^local:/.test(r.column ?? '') ? r.package : undefined;
  };
  const releases = (options.versions ?? [...known.keys()]).map((version) => {
    const from = known.get(version);
    return {
      version,
      // QMP from introspection: named after the newest release with every schema.
      binary: from === 'binary' || from === 'introspection',
      schemas: from === 'binary' ? SCHEMAS.filter((x) => x.prefix === 'qga') : from === 'introspection' ? [] : SCHEMAS,
    };
  });
  const versions = releases.filter((r) => !r.binary).map((r) => r.version);
  // Binary releases' QMP SDKs come from introspection, named and typed after the newest full release.
  const introspected = releases.filter((r) => r.binary).map((r) => r.version);
  for (const version of introspected) {
    for (const file of [INTROSPECTION]) {
      if (!existsSync(path.join(cacheDir, version, file)))
        throw new QapiError(
          `QEMU ${version}'s ${file} is missing from ${path.join(cacheDir, version)}: run npm run fetch`,
        );
    }
  }
  // Every source first: nothing is written (latest.ts included) when one is missing.
  for (const { version, schemas } of releases) {
    for (const s of schemas) {
      if (!existsSync(path.join(cacheDir, version, s.path))) {
        throw new QapiError(
          `QEMU ${version} sources are missing from ${path.join(cacheDir, version)}: run npm run fetch`,
        );
      }
    }
  }
  if (!versions.length) throw new QapiError('scripts/qemu-versions lists no release with every schema (QMP)');
  const results: GenerateResult[] = [];
  const changed: string[] = [];
  const expected = new Set<string>(['README.md', 'latest.ts']);
  // The newest release (the last line of scripts/qemu-versions) is what `import ... from 'qapi-ts'` gives:
  // its QMP SDK from the newest with every schema, its guest agent from the newest of all.
  const newest = versions[versions.length - 1];
  const newestAgent = [...releases].reverse().find((r) => r.schemas.some((x) => x.prefix === 'qga'))!.version;
  const latest = [
    headerComment('scripts/qemu-versions', 'npm run gen'),
    `import { bindMatching } from '../runtime/qmp/releases.js';`,
    `import { schema, table, type QmpCommands, type QmpEvents, type QmpMethods } from './qemu-${newest}/index.js';`,
    '',
    `/** The newest supported QEMU release: what \`import ... from 'qapi-ts'\` gives. */`,
    `export * from './qemu-${newest}/index.js';`,
    `export { connectQga, type QgaCommands, type QgaMethods } from './qga-${newestAgent}/index.js';`,
    '',
    '/**',
    ` * Connects to a QMP monitor, like \`qapi-ts/qemu-${newest}\`'s connectQmp, with ${newest}'s types; arguments are`,
    ' * checked against the newest release not newer than the QEMU that answered (`qmp.release`),',
    ' * whose schema is loaded then.',
    ' */',
    `export const connectQmp = bindMatching<QmpCommands, QmpEvents, QmpMethods>({ schema, table, release: '${newest}' }, [`,
    ...[...versions.slice(0, -1), ...introspected].map(
      (v) => `  { release: '${v}', load: () => import('./qemu-${v}/index.js') },`,
    ),
    ']);',
    '',
  ].join('\n');
  const readme = writeFiles(
    outDir,
    [
      { name: 'README.md', text: GENERATED_README },
      { name: 'latest.ts', text: latest },
    ],
    options.check,
  );
  changed.push(...readme.changed);
  const record = (label: string, result: GenerateResult): void => {
    results.push(result);
    for (const f of result.files) expected.add(`${label}/${f.name}`);
    changed.push(...result.changed.map((f) => `${label}/${f}`));
    options.onResult?.(result);
  };
  // Every schema is loaded before any is rendered: each release's docs say when things first
  // appeared among all of them (codegen/releases/history.ts), and docs/releases/ compares them.
  interface Job {
    label: string;
    prefix: string;
    version: string;
    schemaFile: string;
    protocol: Protocol;
    parse?: ParseOptions;
    schema?: Schema;
    load: number;
  }
  const jobs: Job[] = [];
  for (const { version, schemas } of releases) {
    for (const s of schemas) {
      const schemaFile = path.join(cacheDir, version, s.path);
      jobs.push({
        label: `${s.prefix}-${version}`,
        prefix: s.prefix,
        version,
        schemaFile,
        protocol: s.protocol,
        load: 0,
      });
    }
  }
  for (const version of introspected) {
    const schemaFile = writeBackIntrospection(
      path.join(cacheDir, version),
      path.join(cacheDir, newest, SCHEMAS[0].path),
    );
    jobs.push({
      label: `qemu-${version}`,
      prefix: 'qemu',
      version,
      schemaFile,
      protocol: 'qmp',
      parse: INTROSPECTED,
      load: 0,
    });
  }
  for (const job of jobs) {
    const t0 = performance.now();
    job.schema = loadSchema(job.schemaFile, { dialect: 'auto', ...job.parse });
    job.load = performance.now() - t0;
  }
  const oldestFirst = (x: Job, y: Job): number => {
    const [a, b] = [x.version, y.version].map((v) => v.split('.').map(Number));
    return a[0] - b[0] || a[1] - b[1];
  };
  const histories = new Map<string, ReleaseHistory>();
  for (const { prefix } of SCHEMAS) {
    const mine = jobs
      .filter((j) => j.prefix === prefix)
      .sort(oldestFirst)
      .map((j) => ({
        version: j.version,
        full: qemuTreeOf(j.schemaFile)?.version,
        package: debian(j.version),
        schema: j.schema!,
        build: j.parse === INTROSPECTED,
      }));
    const renamed = renamesOf(mine);
    histories.set(prefix, new ReleaseHistory(mine.map((r, i) => ({ ...r, renamed: renamed[i] }))));
  }
  for (const job of jobs) {
    const result = generate({
      schemaFile: job.schemaFile,
      schema: job.schema,
      since: histories.get(job.prefix)!.forSchema(job.schema!),
      outDir: path.join(outDir, job.label),
      protocol: job.protocol,
      label: job.label,
      check: options.check,
      runtime: options.runtime,
    });
    record(job.label, { ...result, timings: { ...result.timings, load: job.load } });
  }
  const docsExtra: string[] = [];
  const docsDir = options.docsDir ?? (options.outDir === undefined ? path.join(PACKAGE_ROOT, DOCS) : undefined);
  if (docsDir !== undefined) {
    const byVersion = [...new Set(jobs.sort(oldestFirst).map((j) => j.version))].map((version) => ({
      version,
      qmp: jobs.find((j) => j.version === version && j.prefix === 'qemu')?.schema,
      qga: jobs.find((j) => j.version === version && j.prefix === 'qga')?.schema,
    }));
    const reports = releaseReports(byVersion);
    const written = writeFiles(docsDir, reports, options.check);
    changed.push(...written.changed.map((f) => `${DOCS}/${f}`));
    // Reports of pairs that are no longer consecutive (a release added between them) go.
    const names = new Set(reports.map((r) => r.name));
    for (const f of listFiles(docsDir).filter((f) => f.endsWith('.md') && !names.has(f))) {
      docsExtra.push(`${DOCS}/${f}`);
      if (!options.check) rmSync(path.join(docsDir, f));
    }
  }
  // Only the folders this function manages: anything else in outDir is left alone.
  const managed = new RegExp(`^(${SCHEMAS.map((s) => s.prefix).join('|')})-[^/]+/`);
  const extra = listFiles(outDir).filter((f) => managed.test(f) && !expected.has(f));
  if (!options.check) {
    for (const f of extra) rmSync(path.join(outDir, f));
    // An SDK folder left empty (a release no longer generated, or no longer with that schema) goes too.
    for (const dir of new Set(extra.map((f) => f.split('/')[0])))
      if (!listFiles(path.join(outDir, dir)).length) rmSync(path.join(outDir, dir), { recursive: true, force: true });
  }
  return { results, changed, extra: [...extra, ...docsExtra] };
}
