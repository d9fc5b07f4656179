/**
 * `qapi-ts diff A B`: what changed between two releases of this package, or
 * two schema files (QAPI source, or a descriptor such as a saved
 * query-qmp-schema reply), through codegen/releases/diff.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { loadSchema } from '../codegen/frontend.js';
import { diffSchemas } from '../codegen/releases/diff.js';
import { formatDiff, type DiffFormat } from '../codegen/releases/report.js';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import { releaseFiles } from './drift.js';

export type DiffProtocol = 'qmp' | 'qga' | 'qsd';

const PREFIX: Record<DiffProtocol, string> = { qmp: 'qemu', qga: 'qga', qsd: 'qsd' };
const TITLE: Record<DiffProtocol, string> = { qmp: 'QMP', qga: 'Guest agent', qsd: 'Storage daemon' };

/** A mistake in what was asked (exit 2), told apart from a schema error in a file. */
export class DiffInputError extends Error {}

/** A descriptor from a file: JSON (a descriptor, or a QMP reply holding one), else a QAPI schema source. */
function fromFile(file: string): SchemaDescriptor {
  const text = readFileSync(file, 'utf8');
  if (/^\s*[[{]/.test(text)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined; // a QAPI source file starts with '{' too, and is not JSON
    }
    const list = Array.isArray(value) ? value : (value as { return?: unknown } | undefined)?.return;
    if (Array.isArray(list)) {
      if (!list.every((e) => typeof e === 'object' && e !== null && 'meta-type' in e && 'name' in e))
        throw new DiffInputError(
          `${file}: a JSON array, but not a schema descriptor (entries need name and meta-type)`,
        );
      return list as SchemaDescriptor;
    }
  }
  return buildDescriptor(loadSchema(file, { dialect: 'auto' }));
}

/** A release of this package ('10.2') or a file. */
async function side(what: string, protocol: DiffProtocol): Promise<SchemaDescriptor> {
  if (/^\d+\.\d+$/.test(what) && !existsSync(what)) {
    const files = releaseFiles(PREFIX[protocol]);
    const file = files.get(what);
    if (!file)
      throw new DiffInputError(
        `no ${TITLE[protocol]} release ${what} in this qapi-ts (have: ${[...files.keys()].join(', ') || 'none'})`,
      );
    return ((await import(file)) as { schema: SchemaDescriptor }).schema;
  }
  if (!existsSync(what)) throw new DiffInputError(`'${what}' is neither a release (such as 10.2) nor a file`);
  return fromFile(what);
}

export interface DiffOptions {
  format: DiffFormat;
  protocol: DiffProtocol;
}

/** Prints the diff; resolves with diff(1)'s exit code: 0 when nothing changed, 1 when something did. */
export async function diffCommand(
  a: string,
  b: string,
  options: DiffOptions,
  out: (t: string) => void,
): Promise<number> {
  const [da, db] = await Promise.all([side(a, options.protocol), side(b, options.protocol)]);
  const diff = diffSchemas({ label: a, descriptor: da }, { label: b, descriptor: db });
  out(formatDiff(diff, options.format, TITLE[options.protocol]));
  const changed =
    diff.types.length +
    [diff.commands, diff.events].reduce((n, d) => n + d.added.length + d.removed.length + d.changed.length, 0);
  return changed ? 1 : 0;
}
