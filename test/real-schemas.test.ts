/** QEMU's real schemas of every supported release load, with QEMU's own definition counts. */
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { requireSources, schemaFile, type SchemaKind } from './support/qemu-sources.js';

// commands events structs unions alternates enums, as QEMU's generator counts them.
const EXPECTED: Record<string, Partial<Record<SchemaKind, string>>> = {
  '7.2': {
    qmp: 'commands=220 events=52 structs=418 unions=39 alternates=6 enums=155',
    qga: 'commands=42 events=0 structs=32 unions=3 alternates=1 enums=7',
  },
  '10.0': {
    qmp: 'commands=240 events=56 structs=468 unions=43 alternates=6 enums=181',
    qga: 'commands=44 events=0 structs=34 unions=3 alternates=2 enums=8',
  },
  '10.2': {
    qmp: 'commands=244 events=57 structs=479 unions=43 alternates=6 enums=182',
    qga: 'commands=44 events=0 structs=34 unions=3 alternates=2 enums=8',
  },
};

const run = runCli;

describe.each(Object.keys(EXPECTED))('QEMU %s', (version) => {
  requireSources(version);
  for (const kind of ['qmp', 'qga', 'qsd'] as const) {
    it(`${kind} schema: qapi-ts check-schema prints QEMU's counts`, () => {
      const r = run(['check-schema', schemaFile(version, kind)]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const want = EXPECTED[version][kind];
      if (want) expect(r.out).toBe(want + '\n');
      else expect(r.out).toMatch(/^commands=\d+ events=\d+ structs=\d+ unions=\d+ alternates=\d+ enums=\d+\n$/);
    });
  }
});
