/**
 * SDKs generated from a running QEMU's introspection (`qapi-ts gen
 * --from-socket` / `--from-qemu`): the schema written back from
 * introspection describes exactly what the QEMU reported (drift: nothing),
 * takes real names and integer widths from a nearby release, and the SDK
 * compiles and talks to the QEMU it came from. On Debian's 7.2 and sid's
 * 11.1.3 (chrooted).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptor } from '../codegen/emit/descriptor.js';
import { loadSchema } from '../codegen/frontend.js';
import { schemaFromIntrospection } from '../codegen/introspection.js';
import { parseQmpReference } from '../codegen/manpage.js';
import { schema as schema102 } from '../generated/qemu-10.2/index.js';
import { schema as schema72 } from '../generated/qemu-7.2/index.js';
import { connect, type SchemaDescriptor } from '../runtime/index.js';
import { drift } from '../runtime/schema/drift.js';
import { startQemu, type QemuProcess } from './support/qemu.js';
import { ROOT } from './support/qemu-sources.js';
import { qemuRoot } from './support/roots.js';

let qemu72: QemuProcess;
let qemu111: QemuProcess;
const temps: string[] = [];
beforeAll(async () => {
  qemu72 = await startQemu();
  qemu111 = await startQemu({ root: qemuRoot('sid') });
});
afterAll(async () => {
  await qemu72?.kill();
  await qemu111?.kill();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

async function liveOf(qemu: QemuProcess): Promise<SchemaDescriptor> {
  const qmp = await connect({ path: qemu.qmpPath }, {}, {});
  try {
    return await qmp.schema();
  } finally {
    await qmp.close();
  }
}

/** The written-back schema through the whole front end, as a descriptor. */
function roundTrip(
  live: SchemaDescriptor,
  source?: SchemaDescriptor,
  widths = false,
): { descriptor: SchemaDescriptor; text: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-intro-'));
  temps.push(dir);
  const { text } = schemaFromIntrospection(live, source, { widths });
  writeFileSync(path.join(dir, 'introspection.json'), text);
  return { descriptor: buildDescriptor(loadSchema(path.join(dir, 'introspection.json'))), text };
}

const integerWidths = (d: SchemaDescriptor): number =>
  d.flatMap((e) => (e['meta-type'] === 'object' ? e.members : [])).filter((m) => /^u?int\d+$|^size$/.test(m.type))
    .length;

describe('a schema from introspection', () => {
  it('QEMU 7.2: describes exactly what it reported, with or without a source release', async () => {
    const live = await liveOf(qemu72);
    for (const source of [schema72, undefined]) {
      const { descriptor, text } = roundTrip(live, source, true);
      expect(drift(descriptor, live).items).toEqual([]);
      // Empty branches are left out (QAPI's default), and the empty object is never named.
      expect(text).not.toMatch(/'data': \{ \}/);
    }
  });

  it('takes real type names where types agree with the source, and integer widths from the same release only', async () => {
    const live = await liveOf(qemu72);
    const named = roundTrip(live, schema72, true);
    expect(named.text).toMatch(/'union': 'BlockdevOptions'/);
    expect(integerWidths(named.descriptor)).toBeGreaterThan(50);
    const anonymous = roundTrip(live);
    expect(anonymous.text).toMatch(/'union': 'BlockdevAddArg'/);
    expect(integerWidths(anonymous.descriptor)).toBe(0);
    // Another release names types but leaves integers alone: memsave's val was int in 7.2, uint64 in 10.2.
    const other = roundTrip(live, schema102);
    expect(integerWidths(other.descriptor)).toBe(0);
    expect(other.text).toMatch(/'command': 'memsave', 'data': '\w+'/);
    // A type that changed is not given the other release's name for it: 7.2's ChardevCommon is no 10.2 ChardevPty.
    expect(other.text).not.toMatch(/'struct': 'ChardevPty'/);
  });

  it('QEMU 11.1.3 with 10.2 as the source: exact as well', async () => {
    const live = await liveOf(qemu111);
    const { descriptor, text } = roundTrip(live, schema102);
    expect(drift(descriptor, live).items).toEqual([]);
    expect(text).toMatch(/'struct': 'BlockInfo'/);
  });
});

describe('docs from the QMP reference man page', () => {
  const manPage = path.join(qemuRoot('sid'), 'usr/share/man/man7/qemu-qmp-ref.7.gz');

  it("reads every definition of 11.1.3's page, with members, features, returns and since", () => {
    const docs = parseQmpReference(gunzipSync(readFileSync(manPage)).toString('utf8'));
    const kinds = new Map<string, number>();
    for (const e of docs.values()) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    expect(kinds.get('Command')).toBeGreaterThan(240);
    expect(kinds.get('Event')).toBeGreaterThan(50);
    const queryBlock = docs.get('Command:query-block')!;
    expect(queryBlock).toMatchObject({
      since: '0.14',
      text: ['Get a list of `BlockInfo` for all virtual block devices.'],
    });
    expect(queryBlock.members.get('flat')).toMatch(/^Omit nested data about the backing image/);
    expect(queryBlock.returns).toMatch(/a list describing each virtual block device/);
    expect(docs.get('Command:query-kvm')!.features.get('deprecated')).toMatch(/Use `query-accelerators` instead/);
    expect(docs.get('Object:SocketAddress')!.branches.get('inet')).toBe('InetSocketAddress');
    expect(docs.get('Object:SocketAddressLegacy')!.branches.get('inet')).toBe('InetSocketAddressWrapper');
    expect(docs.get('Object:DriveBackup')!.inherits).toEqual(['BackupCommon']);
  });

  it("gen --from-socket --docs: an 11.1.3 SDK whose commands and arguments carry 11.1's docs", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-docs-'));
    temps.push(dir);
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'dist/cli/bin.js'),
        'gen',
        '--from-socket',
        qemu111.qmpPath,
        '--out',
        path.join(dir, 'sdk'),
        '--source',
        '10.2',
        '--docs',
        manPage,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/integers left as int \(10\.2 is another release\); \d{4} definitions documented/);
    const commands = readFileSync(path.join(dir, 'sdk/commands.ts'), 'utf8');
    expect(commands).toMatch(
      /Get a list of `BlockInfo` for all virtual block devices\.[\s\S]*@since 0\.14\s+\*\/\s+'query-block': \{/,
    );
    const types = readFileSync(path.join(dir, 'sdk/types.ts'), 'utf8');
    expect(types).toMatch(/Omit nested data about the backing image/);
  });
});

describe('qapi-ts gen --from-socket / --from-qemu', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/bin.js'), 'gen', ...args], { encoding: 'utf8' });

  it('makes an SDK that compiles and talks to the QEMU it came from', async () => {
    // Inside the package: the SDK then imports the runtime by relative path (as generated/ does), compiled along.
    const dir = path.join(ROOT, '.cache/from-live');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const r = cli('--from-socket', qemu72.qmpPath, '--out', path.join(dir, 'sdk'), '--source', '7.2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^sdk: 7 files from QEMU 7\.2\.\d+'s introspection; \d+ types named as in 7\.2/);
    expect(readFileSync(path.join(dir, 'sdk/index.ts'), 'utf8')).toMatch(/from introspection\.json of QEMU 7\.2\.\d+/);
    writeFileSync(
      path.join(dir, 'main.ts'),
      `import { connectQmp } from './sdk/index.js';
const qmp = await connectQmp({ path: process.argv[2] });
const st = await qmp.execute('query-status');
const running: boolean = st.running;
console.log('running', typeof running);
await qmp.close();
`,
    );
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          outDir: 'out',
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
        },
        files: ['main.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    expect(tsc.stdout).toBe('');
    expect(tsc.status).toBe(0);
    const main = path.join(dir, 'out', path.relative(ROOT, dir), 'main.js');
    const run = spawnSync(process.execPath, [main, qemu72.qmpPath], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('running boolean\n');
  }, 120_000);

  it('--from-qemu starts the binary with no machine and asks it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-fromqemu-'));
    temps.push(dir);
    const r = cli('--from-qemu', 'qemu-system-x86_64', '--out', path.join(dir, 'sdk'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/types named from where they are used \(give --source for real names\)/);
    const bad = cli('--from-qemu', '/nonexistent/qemu', '--out', path.join(dir, 'x'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/\/nonexistent\/qemu/);
    // Not a system emulator: what it said is in the error.
    const qsd = cli('--from-qemu', 'qemu-storage-daemon', '--out', path.join(dir, 'y'));
    expect(qsd.status).toBe(1);
    expect(qsd.stderr).toMatch(/qemu-storage-daemon exited \(\d+\) before its monitor was up: .+/);
  });
});
