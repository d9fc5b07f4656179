import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A fetched QEMU source tree (scripts/fetch-qemu.sh). */
export function qemuTree(version: string): string {
  const dir = path.join(process.env.QAPI_TS_CACHE ?? path.join(ROOT, '.cache/qemu'), version);
  if (!existsSync(path.join(dir, '.complete')))
    throw new Error(`QEMU ${version} sources missing in ${dir}: run npm run fetch`);
  return dir;
}
