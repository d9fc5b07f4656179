/** `npm run bench`: every benchmark, one BENCH line per figure. Pass names to run only some. */
import { benchCore } from './core.js';
import { benchFrontend } from './frontend.js';
import { benchGenerate } from './generate.js';
import { benchLibvirt } from './libvirt.js';
import { benchPackage } from './package.js';
import { benchQga } from './qga.js';
import { benchQmp } from './qmp.js';
import { benchRoots } from './roots.js';
import { benchTypecheck } from './typecheck.js';

const BENCHES: Record<string, () => void | Promise<void>> = {
  frontend: () => benchFrontend('10.2'),
  generate: () => benchGenerate('10.2'),
  typecheck: () => benchTypecheck('qemu-10.2'),
  qmp: () => benchQmp(),
  qga: () => benchQga(),
  core: () => benchCore(),
  roots: () => benchRoots(),
  libvirt: () => benchLibvirt(),
  package: () => benchPackage(),
};

const wanted = process.argv.slice(2);
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length && !wanted.includes(name)) continue;
  await run();
}
