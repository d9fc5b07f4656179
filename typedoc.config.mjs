// The API pages: `npm run docs` writes them to pages/ (not committed). See scripts/typedoc-plugin.mjs.
// The newest release of each protocol gets pages; QAPI_TS_PAGES=all gives every release (about
// twice the build time and size).
import { entryPoints } from './scripts/typedoc-plugin.mjs';

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'qapi-ts',
  entryPoints: entryPoints(import.meta.dirname, { allReleases: process.env.QAPI_TS_PAGES === 'all' }).map(
    (e) => e.file,
  ),
  tsconfig: 'tsconfig.build.json',
  out: 'pages',
  plugin: ['./scripts/typedoc-plugin.mjs'],
  router: 'qapi',
  theme: 'qapi',
  // tsc checks the code (npm run typecheck); typedoc checking it again would double the build time.
  skipErrorChecking: true,
  // Modules are named by import specifier (qapi-ts/qemu-11.1): a flat list, not folders.
  navigation: { includeFolders: false },
  headings: { readme: false },
  // Doc text is text: QEMU's docs write 'child<subtype>' and "id=<id>", which must not become tags.
  markdownItOptions: { html: false },
  // typedoc's default languages, and the README's libvirt domain XML.
  highlightLanguages: [
    'bash',
    'console',
    'css',
    'html',
    'javascript',
    'json',
    'jsonc',
    'json5',
    'yaml',
    'tsx',
    'typescript',
    'xml',
  ],
};
