/**
 * `qapi-ts drift SOCKET`: a generated release against a running QEMU's own
 * schema (runtime/schema/drift.ts), as a report a person or a script reads.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ifcondToText } from '../codegen/ifcond.js';
import { nearestRelease } from '../runtime/qmp/releases.js';
import { connect } from '../runtime/qmp/client.js';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import { drift, type DriftItem } from '../runtime/schema/drift.js';
import { parseTarget } from './connect.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where the generated releases of one kind ('qemu', 'qga', 'qsd') are: the
 * bundle of an installed package, or generated/ of a build; by version.
 */
export function releaseFiles(prefix = 'qemu'): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of [path.join(HERE, '../bundle'), path.join(HERE, '../generated')]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const m = new RegExp(`^${prefix}-(\\d+\\.\\d+)(\\.js)?$`).exec(name);
      if (!m) continue;
      const file = m[2] ? path.join(dir, name) : path.join(dir, name, 'index.js');
      if (existsSync(file) && !out.has(m[1])) out.set(m[1], file);
    }
    if (out.size) break;
  }
  return out;
}

export interface DriftOptions {
  release?: string;
  json?: boolean;
}

/** Runs the comparison; resolves with the exit code (1 when something is unexplained). */
export async function driftCommand(where: string, options: DriftOptions, out: (text: string) => void): Promise<number> {
  const files = releaseFiles();
  if (!files.size) throw new Error('no generated QMP release found next to this qapi-ts');
  const qmp = await connect(parseTarget(where), {}, { validate: false });
  try {
    const q = qmp.greeting.version.qemu;
    const release = options.release ?? nearestRelease([q.major, q.minor, q.micro], [...files.keys()]);
    const file = files.get(release);
    if (!file) throw new Error(`no generated release ${release} (have: ${[...files.keys()].join(', ')})`);
    const { schema } = (await import(file)) as { schema: SchemaDescriptor };
    const report = drift(schema, await qmp.schema());
    const version = `${q.major}.${q.minor}.${q.micro}`;
    if (options.json) {
      const { matched: _, ...shown } = report;
      out(JSON.stringify({ qemu: version, package: qmp.greeting.version.package, release, ...shown }, null, 2) + '\n');
    } else {
      out(
        `QEMU ${version}${qmp.greeting.version.package ? ` (${qmp.greeting.version.package.trim()})` : ''} against the generated ${release} release: ` +
          `${report.items.length} differences, ${report.unexplained.length} unexplained\n`,
      );
      for (const item of report.items) out(line(item));
      if (report.truncated) out(`  ... and more: only the first ${report.items.length} differences are listed\n`);
    }
    return report.unexplained.length ? 1 : 0;
  } finally {
    await qmp.close();
  }
}

function line(item: DriftItem): string {
  const where =
    item.side === 'generated' ? 'only in the release' : item.side === 'live' ? 'only in this QEMU' : 'differs';
  const why =
    item.condition !== undefined
      ? `not built: ${ifcondToText(item.condition)}`
      : item.deprecated
        ? 'hidden: deprecated'
        : 'UNEXPLAINED';
  return `  ${why.padEnd(28)} ${item.what.padEnd(11)} ${item.path}  (${where}${item.side === 'both' ? `: ${item.detail}` : ''})\n`;
}
