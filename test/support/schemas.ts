/** Small inline schemas for tests: written to a private temp dir, loaded, removed. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSchema } from '../../codegen/frontend.js';
import type { Schema } from '../../codegen/schema.js';
import { tempDir } from './qemu.js';

export function schemaFrom(text: string): Schema {
  const dir = tempDir('qs');
  const file = path.join(dir, 's.json');
  writeFileSync(file, text);
  try {
    return loadSchema(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
