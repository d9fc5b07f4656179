/**
 * `qapi-ts gen --from-socket SOCKET` / `--from-qemu BINARY`: an SDK from a
 * running QEMU's introspection (codegen/introspection.ts), for a build or a
 * release no schema source is at hand for. With `--source` (a release of this
 * package, '10.2', or a QAPI schema file of a nearby QEMU), types get their
 * real names and integers their real widths wherever the structure matches.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { loadSchema } from '../codegen/frontend.js';
import { generate, qemuTreeOf } from '../codegen/generate.js';
import { schemaFromIntrospection } from '../codegen/introspection.js';
import { parseQmpReference } from '../codegen/manpage.js';
import { connect } from '../runtime/qmp/client.js';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import { parseTarget } from './connect.js';
import { releaseFiles } from './drift.js';

export interface FromLiveOptions {
  socket?: string;
  qemu?: string;
  out: string;
  source?: string;
  label?: string;
  /** QEMU's QMP reference man page (qemu-qmp-ref.7 or .7.gz, in Debian's qemu-system-common): docs for the SDK. */
  docs?: string;
}

/** The descriptor of `source` (a release of this package, or a schema file) and its QEMU release ('10.2'). */
async function sourceDescriptor(source: string): Promise<{ schema: SchemaDescriptor; release?: string }> {
  const release = releaseFiles().get(source);
  if (release) return { schema: ((await import(release)) as { schema: SchemaDescriptor }).schema, release: source };
  if (!existsSync(source)) throw new Error(`--source ${source}: neither a release of this qapi-ts nor a schema file`);
  const version = qemuTreeOf(source)?.version;
  return {
    schema: buildDescriptor(loadSchema(source, { dialect: 'auto' })),
    release: version?.split('.').slice(0, 2).join('.'),
  };
}

/** Starts `binary` with no machine, for its introspection; resolves with its socket and a way to stop it. */
async function startBinary(binary: string, dir: string): Promise<{ socket: string; stop: () => void }> {
  const socket = path.join(dir, 'qmp.sock');
  const child = spawn(
    binary,
    ['-machine', 'none', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${socket},server=on,wait=off`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // What it says when it refuses to start (a storage daemon knows no -machine), kept short.
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`${binary}: ${e.message}`)));
    child.once('exit', (code) =>
      reject(new Error(`${binary} exited (${code}) before its monitor was up${stderr ? `: ${stderr.trim()}` : ''}`)),
    );
  });
  failed.catch(() => undefined);
  for (let i = 0; i < 1000 && !existsSync(socket); i++) {
    await Promise.race([new Promise((r) => setTimeout(r, 10)), failed]);
  }
  if (!existsSync(socket)) {
    child.kill('SIGKILL');
    throw new Error(`${binary}: no QMP socket after 10 s`);
  }
  return { socket, stop: () => void child.kill('SIGKILL') };
}

function readManPage(file: string): string {
  const bytes = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** A QEMU's introspection and version ('11.1.3'): from a socket, or from a binary started for it. */
export async function introspect(where: { socket?: string; qemu?: string }): Promise<{
  live: SchemaDescriptor;
  version: string;
}> {
  const work = mkdtempSync(path.join(tmpdir(), 'qapi-ts-live-'));
  let stop: (() => void) | undefined;
  try {
    let socket = where.socket;
    if (where.qemu) {
      const started = await startBinary(where.qemu, work);
      socket = started.socket;
      stop = started.stop;
    }
    const qmp = await connect(parseTarget(socket!), {}, { validate: false });
    try {
      const live = await qmp.schema();
      const q = qmp.greeting.version.qemu;
      return { live, version: `${q.major}.${q.minor}.${q.micro}` };
    } finally {
      await qmp.close();
    }
  } finally {
    stop?.();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function genFromLive(options: FromLiveOptions, out: (text: string) => void): Promise<number> {
  const work = mkdtempSync(path.join(tmpdir(), 'qapi-ts-live-'));
  try {
    const { live, version } = await introspect(options);
    const source = options.source ? await sourceDescriptor(options.source) : undefined;
    // Integer widths only from the same release: a width can change between releases, and introspection cannot show it.
    const widths = source?.release !== undefined && version.startsWith(`${source.release}.`);
    const docs = options.docs ? parseQmpReference(readManPage(options.docs)) : undefined;
    const synthesized = schemaFromIntrospection(live, source?.schema, { widths, docs });
    // A tree the generator reads like a QEMU source tree: the schema and a VERSION file.
    writeFileSync(path.join(work, 'VERSION'), `${version}\n`);
    const schemaFile = path.join(work, 'introspection.json');
    writeFileSync(schemaFile, synthesized.text);
    const r = generate({
      schemaFile,
      outDir: options.out,
      protocol: 'qmp',
      label: options.label,
      // The doc comments are written in QEMU 7.2's syntax (no rule that every member be documented).
      parse: docs ? { dialect: 'legacy' } : undefined,
      regenerate:
        `qapi-ts gen ${options.qemu ? `--from-qemu ${options.qemu}` : `--from-socket ${options.socket}`} --out ${options.out}` +
        (options.source ? ` --source ${options.source}` : '') +
        (options.docs ? ` --docs ${options.docs}` : ''),
    });
    out(
      `${r.label}: ${r.files.length} files from QEMU ${version}'s introspection` +
        (source
          ? `; ${synthesized.matched} types named as in ${options.source}, ${synthesized.derived} named from where they are used` +
            (widths ? '; integer widths from it' : `; integers left as int (${options.source} is another release)`)
          : `; ${synthesized.derived} types named from where they are used (give --source for real names)`) +
        (docs ? `; ${synthesized.documented} definitions documented from ${path.basename(options.docs!)}` : '') +
        '\n',
    );
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
