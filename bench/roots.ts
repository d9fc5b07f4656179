/**
 * The set-up cost of the real newer QEMUs the tests run: building a Debian
 * root with QEMU and its guest agent (scripts/qemu-root.sh, once per machine,
 * then cached), against a bare minbase debootstrap of the same suite from the
 * same mirror in the same run. Needs root; takes a minute or two.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './report.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function seconds(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

export function benchRoots(): void {
  const dir = mkdtempSync('/var/tmp/qapi-ts-roots-');
  try {
    const mirror = /^URIs:\s*(\S+)/m.exec(readFileSync('/etc/apt/sources.list.d/qapi-ts-deb-src.sources', 'utf8'))?.[1];
    if (!mirror) throw new Error('roots bench: run scripts/setup.sh first (no qapi-ts deb-src entry)');
    const ours = seconds('bash', [path.join(ROOT, 'scripts/qemu-root.sh'), 'trixie'], {
      ...process.env,
      QAPI_TS_ROOTS: path.join(dir, 'ours'),
    });
    const baseline = seconds('debootstrap', ['--variant=minbase', 'trixie', path.join(dir, 'bare'), mirror]);
    report({ name: 'setup-qemu-10.0-root', ours, baseline, unit: 's', better: 'lower', goal: 3 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
