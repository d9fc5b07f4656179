/** Where the fetched QEMU sources live (scripts/fetch-qemu.sh), and the schemas in them. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CACHE = process.env.QAPI_TS_CACHE ?? path.join(ROOT, '.cache/qemu');

const LINES = readFileSync(path.join(ROOT, 'scripts/qemu-versions'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => l.split(/\s+/));

/** What a line's third column says (codegen/generate.ts releaseKind): 'source', 'binary' or 'introspection'. */
const kind = (l: string[]): string =>
  !l[2] || l[2] === 'local:source' ? 'source' : l[2].startsWith('bin:') ? 'binary' : 'introspection';

/** Releases with every schema (Debian's source package, or a local source tree), from scripts/qemu-versions. */
export const VERSIONS: string[] = LINES.filter((l) => kind(l) === 'source').map((l) => l[0]);

/** Every release, those with only some schemas (from binary packages, or a binary) included. */
export const ALL_VERSIONS: string[] = LINES.map((l) => l[0]);

/** Releases whose QMP SDK comes from a binary's introspection (Debian's binary packages, or a local binary). */
export const BINARY_VERSIONS: string[] = LINES.filter((l) => kind(l) !== 'source').map((l) => l[0]);

/** Every generated SDK folder: qemu-, qga- and qsd- of each full release, qga- and qemu- of binary ones, qemu- of a local binary. */
export const SDKS: string[] = LINES.flatMap((l) =>
  kind(l) === 'binary'
    ? [`qga-${l[0]}`, `qemu-${l[0]}`]
    : kind(l) === 'introspection'
      ? [`qemu-${l[0]}`]
      : ['qemu', 'qga', 'qsd'].map((p) => `${p}-${l[0]}`),
);

export type SchemaKind = 'qmp' | 'qga' | 'qsd';

const SCHEMA_PATH: Record<SchemaKind, string> = {
  qmp: 'qapi/qapi-schema.json',
  qga: 'qga/qapi-schema.json',
  qsd: 'storage-daemon/qapi/qapi-schema.json',
};

export function schemaFile(version: string, kind: SchemaKind): string {
  return path.join(CACHE, version, SCHEMA_PATH[kind]);
}

/** Fail loudly rather than skip: the sources are part of the test setup (scripts/setup.sh). */
export function requireSources(version: string): string {
  const dir = path.join(CACHE, version);
  if (!existsSync(path.join(dir, '.complete'))) {
    throw new Error(`QEMU ${version} sources are missing from ${dir}: run scripts/setup.sh (or npm run fetch)`);
  }
  return dir;
}
