/**
 * The Debian roots with newer QEMU binaries that scripts/setup.sh builds
 * (scripts/qemu-root.sh). A test that needs one fails when it is missing:
 * real-binary tests never skip.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOTS = process.env.QAPI_TS_ROOTS ?? '/var/cache/qapi-ts/roots';

/** The root of a Debian suite ('trixie': QEMU 10.0.x), checked to hold its QEMU. */
export function qemuRoot(suite: string): string {
  const root = path.join(ROOTS, suite);
  if (!existsSync(path.join(root, '.complete')))
    throw new Error(
      `no ${suite} root with QEMU in ${root}: run bash scripts/setup.sh (it builds it with scripts/qemu-root.sh)`,
    );
  return root;
}

/** The QEMU version line the root was built with ('QEMU emulator version 10.0.13 (Debian ...)'). */
export function rootQemuVersion(root: string): string {
  return readFileSync(path.join(root, '.complete'), 'utf8').trim();
}
