/**
 * `qapi-ts diff A B`: what changed between two releases of this package, or
 * two schema files (QAPI source, or a descriptor such as a saved
 * query-qmp-schema reply), through codegen/releases/diff.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
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

/** What is wrong with a descriptor read from a file, or undefined: each entry's shape and every type it names. */
export function descriptorProblem(list: readonly unknown[]): string | undefined {
  const names = new Set<string>();
  for (const [i, e] of list.entries()) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return `entry ${i} is not an object`;
    const { name, 'meta-type': meta } = e as { name?: unknown; 'meta-type'?: unknown };
    if (typeof name !== 'string' || typeof meta !== 'string') return `entry ${i} has no name and meta-type`;
    names.add(name);
  }
  const entries = list as SchemaDescriptor;
  for (const e of entries) {
    const refs: unknown[] = [];
    const where = `'${e.name}' (${e['meta-type']})`;
    switch (e['meta-type']) {
      case 'command':
        refs.push(e['arg-type'], e['ret-type']);
        break;
      case 'event':
        refs.push(e['arg-type']);
        break;
      case 'array':
        refs.push(e['element-type']);
        break;
      case 'object':
        if (!Array.isArray(e.members)) return `${where} has no members list`;
        refs.push(...e.members.map((m) => m?.type), ...(e.variants ?? []).map((v) => v?.type));
        break;
      case 'alternate':
        if (!Array.isArray(e.members)) return `${where} has no members list`;
        refs.push(...e.members.map((m) => m?.type));
        break;
      case 'enum':
        if (!Array.isArray(e.members) && !Array.isArray(e.values)) return `${where} has no values`;
        break;
      case 'builtin':
        break;
      default:
        return `${where}: unknown meta-type`;
    }
    for (const r of refs) {
      if (typeof r !== 'string') return `${where} names a type that is not a string`;
      if (!names.has(r)) return `${where} names type '${r}', which is not in the file`;
    }
  }
  return undefined;
}

/** A side from a file: JSON (a descriptor, or a QMP reply holding one), else a QAPI schema source. */
function fromFile(file: string): { descriptor: SchemaDescriptor; build?: boolean } {
  if (statSync(file).isDirectory()) throw new DiffInputError(`${file} is a folder, not a schema file`);
  const text = readFileSync(file, 'utf8');
  let value: unknown;
  let json = false;
  try {
    value = JSON.parse(text);
    json = true;
  } catch {
    // A QAPI source file is not JSON (single quotes, comments).
  }
  if (json) {
    const list = Array.isArray(value) ? value : (value as { return?: unknown } | null)?.return;
    if (!Array.isArray(list))
      throw new DiffInputError(`${file}: JSON, but not a schema descriptor (an array, or a reply {"return": [...]})`);
    const problem = descriptorProblem(list);
    if (problem) throw new DiffInputError(`${file}: not a schema descriptor: ${problem}`);
    return { descriptor: list as SchemaDescriptor };
  }
  // A whole schema from source, never one build's introspection, whatever its integers.
  return { descriptor: buildDescriptor(loadSchema(file, { dialect: 'auto' })), build: false };
}

const byVersion = (x: string, y: string): number => {
  const [a, b] = [x, y].map((v) => v.split('.').map(Number));
  return a[0] - b[0] || a[1] - b[1];
};

/** A release of this package ('10.2') or a file. */
async function side(what: string, protocol: DiffProtocol): Promise<{ descriptor: SchemaDescriptor; build?: boolean }> {
  if (/^\d+\.\d+$/.test(what) && !existsSync(what)) {
    const files = releaseFiles(PREFIX[protocol]);
    const file = files.get(what);
    if (!file)
      throw new DiffInputError(
        `no ${TITLE[protocol]} release ${what} in this qapi-ts (have: ${[...files.keys()].sort(byVersion).join(', ') || 'none'})`,
      );
    return { descriptor: ((await import(file)) as { schema: SchemaDescriptor }).schema };
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
  const diff = diffSchemas({ label: a, ...da }, { label: b, ...db });
  out(formatDiff(diff, options.format, TITLE[options.protocol]));
  const changed =
    diff.types.length +
    [diff.commands, diff.events].reduce((n, d) => n + d.added.length + d.removed.length + d.changed.length, 0);
  return changed ? 1 : 0;
}
