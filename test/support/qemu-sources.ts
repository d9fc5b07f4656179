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

/** Releases with every schema (from Debian's source package), from scripts/qemu-versions. */
export const VERSIONS: string[] = LINES.filter((l) => !l[2]?.startsWith('bin:')).map((l) => l[0]);

/** Every release, those with only the guest agent's schema (from binary packages) included. */
export const ALL_VERSIONS: string[] = LINES.map((l) => l[0]);

/** Releases from binary packages: the guest agent's schema, and QMP from the binary's introspection. */
export const BINARY_VERSIONS: string[] = LINES.filter((l) => l[2]?.startsWith('bin:')).map((l) => l[0]);

/** Every generated SDK folder: qemu-, qga- and qsd- of each full release, qga- and qemu- of the others. */
export const SDKS: string[] = LINES.flatMap((l) =>
  l[2]?.startsWith('bin:') ? [`qga-${l[0]}`, `qemu-${l[0]}`] : ['qemu', 'qga', 'qsd'].map((p) => `${p}-${l[0]}`),
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
