/** Where the fetched QEMU sources live (scripts/fetch-qemu.sh), and the schemas in them. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { supportedReleases } from '../../codegen/generate.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CACHE = process.env.QAPI_TS_CACHE ?? path.join(ROOT, '.cache/qemu');

/** scripts/qemu-versions, as the generator reads it. */
const RELEASES = supportedReleases(path.join(ROOT, 'scripts/qemu-versions'));

/** Releases with every schema (Debian's source package, or a local source tree), from scripts/qemu-versions. */
export const VERSIONS: string[] = RELEASES.filter((r) => r.from === 'source').map((r) => r.version);

/** Every release, those with only some schemas (from binary packages, or a binary) included. */
export const ALL_VERSIONS: string[] = RELEASES.map((r) => r.version);

/** Releases whose QMP SDK comes from a binary's introspection (Debian's binary packages, or a local binary). */
export const BINARY_VERSIONS: string[] = RELEASES.filter((r) => r.from !== 'source').map((r) => r.version);

/** Every generated SDK folder: qemu-, qga- and qsd- of each full release, qga- and qemu- of binary ones, qemu- of a local binary. */
export const SDKS: string[] = RELEASES.flatMap((r) =>
  r.from === 'binary'
    ? [`qga-${r.version}`, `qemu-${r.version}`]
    : r.from === 'introspection'
      ? [`qemu-${r.version}`]
      : ['qemu', 'qga', 'qsd'].map((p) => `${p}-${r.version}`),
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
