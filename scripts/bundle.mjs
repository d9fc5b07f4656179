// Bundles the package's import entry points (after tsc has built dist/): Node's ESM loader
// spends about half a millisecond per module, and the runtime is some twenty modules, so
// an unbundled `import 'qapi-ts'` cost 17 ms where one file costs 6 (bench: qmp-import-to-first-reply).
// All entries are bundled in one build so that they share chunks: `QmpError` from `qapi-ts`
// and from `qapi-ts/qemu-7.2` must be the same class for `instanceof` to work across them.
// Types stay tsc's own declarations under dist/; only the JavaScript is bundled.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const out = path.join(dist, 'bundle');

const input = {
  main: path.join(dist, 'runtime/main.js'),
  runtime: path.join(dist, 'runtime/index.js'),
  testing: path.join(dist, 'runtime/testing/index.js'),
};
for (const dir of readdirSync(path.join(dist, 'generated'), { withFileTypes: true })) {
  if (dir.isDirectory()) input[dir.name] = path.join(dist, 'generated', dir.name, 'index.js');
}

rmSync(out, { recursive: true, force: true });
await build({
  input,
  platform: 'node',
  logLevel: 'warn',
  output: {
    dir: out,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'shared/[name]-[hash].js',
  },
});
