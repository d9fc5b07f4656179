/**
 * Tracking QEMU releases: `qapi-ts diff` between releases and schema files,
 * the reports committed under docs/releases/, and "since" computed from the
 * releases in the generated docs. Known changes between the real releases are
 * checked in each, so a diff that lost them fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { schema as qemu72 } from '../generated/qemu-7.2/index.js';
import { schema as qemu100 } from '../generated/qemu-10.0/index.js';
import { schema as qemu102 } from '../generated/qemu-10.2/index.js';
import { schema as qemu111 } from '../generated/qemu-11.1/index.js';
import { diffSchemas, featureChangesOf, isCollapsed, type SchemaDiff } from '../codegen/releases/diff.js';
import { describeChange, formatDiff } from '../codegen/releases/report.js';
import { ReleaseHistory, memberSince } from '../codegen/releases/history.js';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import { CACHE, requireSources, ROOT } from './support/qemu-sources.js';
import { schemaFrom } from './support/schemas.js';

const diff = (a: SchemaDescriptor, b: SchemaDescriptor, la = 'a', lb = 'b'): SchemaDiff =>
  diffSchemas({ label: la, descriptor: a }, { label: lb, descriptor: b });

/** Every change as "where: sentence", for searching. */
function lines(d: SchemaDiff): string[] {
  return formatDiff(d, 'text').split('\n');
}

describe('qapi-ts diff on the real releases', () => {
  const d72 = diff(qemu72, qemu100, '7.2', '10.0');
  const d100 = diff(qemu100, qemu102, '10.0', '10.2');
  const d102 = diff(qemu102, qemu111, '10.2', '11.1');

  it('7.2 → 10.0: commands and events added and removed', () => {
    const added = d72.commands.added.map((a) => a.name);
    expect(added).toContain('query-audiodevs');
    expect(added).toContain('blockdev-set-active');
    expect(d72.commands.removed.map((r) => r.name)).toEqual(['x-query-profile', 'x-query-rdma']);
    expect(d72.events.added).toContainEqual({ name: 'VFIO_MIGRATION' });
    // Nothing reported added is in 7.2, and nothing removed is in 10.0.
    const names = (s: SchemaDescriptor): Set<string> => new Set(s.map((e) => e.name));
    for (const c of added) expect(names(qemu72).has(c)).toBe(false);
    for (const c of d72.commands.removed) expect(names(qemu100).has(c.name)).toBe(false);
  });

  it('7.2 → 10.0: members, optionality, types, values, branches and renames', () => {
    const text = lines(d72);
    expect(text).toContain('~ command migrate: member channels added (optional, [MigrationChannel])');
    expect(text).toContain('~ command migrate: member uri is now optional');
    expect(text).toContain('~ command migrate: member blk removed');
    expect(text).toContain('~ command memsave: member val: type int → uint64');
    expect(text).toContain('~ type QKeyCode: value f13 added');
    expect(text).toContain('~ type Netdev: branch af-xdp added (NetdevAFXDPOptions)');
    expect(text).toContain('~ type SysEmuTarget: value nios2 removed');
    expect(text).toContain('~ type QCryptoIVGenAlgo: renamed from QCryptoIVGenAlgorithm');
    expect(text).toContain('~ type ChardevSocket: member reconnect now deprecated');
    // A type's change is told once, with who uses it.
    const qcow2 = d72.types.find((t) => t.name === 'BlockdevOptionsQcow2')!;
    expect(qcow2.changes.map((c) => describeChange(c))).toEqual(['member discard-no-unref added (optional, bool)']);
    expect(qcow2.usedBy).toEqual(expect.arrayContaining(['blockdev-add', 'blockdev-reopen']));
    expect(d72.integerWidths).toBe(true);
  });

  it('10.0 → 10.2: new deprecations', () => {
    expect(featureChangesOf(d100, 'deprecated')).toEqual(
      expect.arrayContaining(['command block-job-complete', 'member migrate.detach']),
    );
    expect(d100.commands.added).toContainEqual({ name: 'query-accelerators' });
    expect(d100.commands.removed.map((r) => r.name)).toEqual(['x-query-opcount']);
  });

  it("10.2 → 11.1 (a build's introspection): widths not compared, what the build lacks said so", () => {
    expect(isCollapsed(qemu111)).toBe(true);
    expect(isCollapsed(qemu102)).toBe(false);
    expect(d102.integerWidths).toBe(false);
    // 10.2's members are sized, 11.1's all 'int': not a change.
    expect(lines(d102).filter((l) => / → int\b|int → /.test(l))).toEqual([]);
    expect(d102.commands.removed).toContainEqual({ name: 'get-win32-socket', notBuilt: 'CONFIG_WIN32' });
    expect(d102.commands.removed).toContainEqual({ name: 'query-migrationthreads' });
    expect(lines(d102)).toContain('~ type BlockdevOptions: branch gluster removed');
    expect(featureChangesOf(d102, 'deprecated')).toContain('command query-kvm');
  });

  it('compares the same release with itself as no change', () => {
    const same = diff(qemu102, qemu102);
    expect([same.commands, same.events].flatMap((d) => [...d.added, ...d.removed, ...d.changed])).toEqual([]);
    expect(same.types).toEqual([]);
    expect(formatDiff(same, 'text')).toContain('(no change)');
  });

  it('reads masked introspection: the same commands, changes placed by path inside each command', () => {
    requireSources('11.1');
    const live = JSON.parse(readFileSync(path.join(CACHE, '11.1/qapi/introspection.json'), 'utf8')) as SchemaDescriptor;
    const masked = diff(qemu102, live);
    expect(masked.commands.added).toEqual(d102.commands.added);
    expect(masked.commands.removed).toEqual(d102.commands.removed);
    expect(masked.events.added).toEqual(d102.events.added);
    const text = lines(masked);
    expect(text).toContain(
      '~ command chardev-add: member backend[type=socket].data.logtimestamp added (optional, bool)',
    );
    expect(text).toContain('~ command blockdev-add: branch gluster removed');
    // Masked names never show as type names.
    expect(masked.types.filter((t) => /^\d+$/.test(t.name))).toEqual([]);
  });
});

describe('diff rules, on small descriptors', () => {
  const builtins: SchemaDescriptor = [
    { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
    { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
    { name: 'uint8', 'meta-type': 'builtin', 'json-type': 'int' },
    { name: 'q_empty', 'meta-type': 'object', members: [] },
  ];
  const cmd = (arg: string): SchemaDescriptor[number] => ({
    name: 'go',
    'meta-type': 'command',
    'arg-type': arg,
    'ret-type': 'q_empty',
  });

  it('a recursive type terminates and a change inside it is told once', () => {
    const node = (extra: boolean): SchemaDescriptor => [
      cmd('Node'),
      {
        name: 'Node',
        'meta-type': 'object',
        members: [
          { name: 'next', type: 'Node', default: null },
          { name: 'kids', type: '[Node]', default: null },
          ...(extra ? [{ name: 'tag', type: 'str', default: null }] : []),
        ],
      },
      { name: '[Node]', 'meta-type': 'array', 'element-type': 'Node' },
      ...builtins,
    ];
    const d = diff(node(false), node(true));
    expect(d.types).toEqual([
      {
        name: 'Node',
        meta: 'type',
        changes: [{ subject: 'member', kind: 'added', name: 'tag', optional: true, to: 'str' }],
        usedBy: ['go'],
      },
    ]);
  });

  it('a type renamed with the same members is a rename, not a removal and an addition', () => {
    const s = (name: string): SchemaDescriptor => [
      cmd(name),
      { name, 'meta-type': 'object', members: [{ name: 'x', type: 'str' }] },
      ...builtins,
    ];
    const d = diff(s('Old'), s('New'));
    expect(d.types).toMatchObject([{ name: 'New', was: 'Old', changes: [] }]);
    expect(d.commands.changed).toEqual([]);
  });

  it('widths are compared between whole schemas, not when one side is a build', () => {
    const s = (t: string): SchemaDescriptor => [
      cmd('q_obj_go-arg'),
      {
        name: 'q_obj_go-arg',
        'meta-type': 'object',
        members: [
          { name: 'n', type: t },
          { name: 'm', type: 'uint8' },
        ],
      },
      ...builtins,
    ];
    expect(lines(diff(s('uint8'), s('int')))).toContain('~ command go: member n: type uint8 → int');
    expect(lines(diff(s('uint8'), s('int')))).toHaveLength(3); // the title, the change, the final newline
    expect(diff(s('uint8'), s('int'), 'a', 'b').integerWidths).toBe(true);
    const build = diffSchemas(
      { label: 'a', descriptor: s('uint8') },
      { label: 'b', descriptor: s('int'), build: true },
    );
    expect(build.commands.changed).toEqual([]);
  });

  it('a built-in is never a renamed type, next to a build', () => {
    const s = (t: string, collapsed: boolean): SchemaDescriptor => [
      cmd('q_obj_go-arg'),
      { name: 'q_obj_go-arg', 'meta-type': 'object', members: [{ name: 'n', type: t }] },
      ...builtins.filter((b) => !collapsed || b.name !== 'uint8'),
      ...(collapsed ? [] : [{ name: 'uint32', 'meta-type': 'builtin' as const, 'json-type': 'int' as const }]),
    ];
    const d = diffSchemas(
      { label: 'a', descriptor: s('uint32', false) },
      { label: 'b', descriptor: s('int', true), build: true },
    );
    expect(d.types).toEqual([]);
    expect(d.commands.changed).toEqual([]);
  });

  it('a type split into copies under new names is not a rename; unrelated types are not renames', () => {
    const s = (a: string, b: string, extra: SchemaDescriptor): SchemaDescriptor => [
      cmd('q_obj_go-arg'),
      {
        name: 'q_obj_go-arg',
        'meta-type': 'object',
        members: [
          { name: 'p', type: a },
          { name: 'q', type: b },
        ],
      },
      ...extra,
      ...builtins,
    ];
    const wrap = (name: string, member = 'str'): SchemaDescriptor[number] => ({
      name,
      'meta-type': 'object',
      members: [{ name: member, type: 'str' }],
    });
    const split = diff(s('String', 'String', [wrap('String')]), s('Search', 'Param', [wrap('Search'), wrap('Param')]));
    expect(split.types.map((t) => [t.name, t.was, t.splitFrom])).toEqual([
      ['Param', undefined, 'String'],
      ['Search', undefined, 'String'],
    ]);
    // Nothing in common: a type change, not a rename.
    const other = diff(s('Old', 'str', [wrap('Old', 'x')]), s('New', 'str', [wrap('New', 'y')]));
    expect(other.types).toEqual([]);
    expect(lines(other)).toContain('~ command go: member p: type Old → New');
  });

  it('when the old side is a build, what it lacks for a condition is said so, not reported as new', () => {
    const s = (withIt: boolean): SchemaDescriptor => [
      cmd('q_empty'),
      ...(withIt
        ? [
            {
              name: 'only-vnc',
              'meta-type': 'command' as const,
              'arg-type': 'q_empty',
              'ret-type': 'q_empty',
              if: 'CONFIG_VNC',
            },
          ]
        : []),
      ...builtins,
    ];
    const d = diffSchemas({ label: 'a', descriptor: s(false), build: true }, { label: 'b', descriptor: s(true) });
    expect(d.commands.added).toEqual([{ name: 'only-vnc', notBuilt: 'CONFIG_VNC' }]);
    expect(lines(d)).toContain('+ command only-vnc (not in this build: CONFIG_VNC)');
  });

  it("next to a build, a command's own argument type is the command's, whatever its made-up name", () => {
    const s = (argName: string, extra: boolean): SchemaDescriptor => [
      cmd(argName),
      {
        name: argName,
        'meta-type': 'object',
        members: [{ name: 'n', type: 'int' }, ...(extra ? [{ name: 'flat', type: 'int', default: null }] : [])],
      },
      ...builtins,
    ];
    const forward = diffSchemas(
      { label: 'a', descriptor: s('q_obj_go-arg', false) },
      { label: 'b', descriptor: s('GoArg', true), build: true },
    );
    const backward = diffSchemas(
      { label: 'b', descriptor: s('GoArg', true), build: true },
      { label: 'a', descriptor: s('q_obj_go-arg', false) },
    );
    expect(lines(forward)).toContain('~ command go: member flat added (optional, int)');
    expect(lines(backward)).toContain('~ command go: member flat removed');
    expect(forward.types).toEqual([]);
  });

  it('alternatives pair up by kind', () => {
    const s = (types: string[]): SchemaDescriptor => [
      cmd('q_obj_go-arg'),
      { name: 'q_obj_go-arg', 'meta-type': 'object', members: [{ name: 'v', type: 'Alt' }] },
      { name: 'Alt', 'meta-type': 'alternate', members: types.map((type) => ({ type })) },
      ...builtins,
    ];
    expect(lines(diff(s(['str']), s(['str', 'int'])))).toContain('~ type Alt: alternative int added');
  });
});

describe('docs/releases/', () => {
  const read = (f: string): string => readFileSync(path.join(ROOT, 'docs/releases', f), 'utf8');

  it('has a report per pair of consecutive releases, each with a known change, and an index', () => {
    const index = read('README.md');
    for (const [file, known] of [
      [
        '7.2-to-10.0.md',
        ['- `query-audiodevs`', '- `x-query-rdma`', 'member `channels` added (optional, `[MigrationChannel]`)'],
      ],
      ['10.0-to-10.2.md', ['- `query-accelerators`', '- `x-query-opcount`', '`block-job-complete`: now deprecated']],
      ['10.2-to-11.1.md', ['- `get-win32-socket` (not in this build: `CONFIG_WIN32`)', 'branch `gluster` removed']],
    ] as const) {
      const text = read(file);
      for (const k of known) expect(text, `${file}: ${k}`).toContain(k);
      expect(text).toContain('## QMP');
      expect(text).toContain('## Guest agent');
      expect(index).toContain(`(${file})`);
    }
  });

  it('QMP sections say what qapi-ts diff --format markdown says', () => {
    const bin = path.join(ROOT, 'dist/cli/bin.js');
    const r = spawnSync(process.execPath, [bin, 'diff', '10.0', '10.2', '--format', 'markdown'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    // The same lists, one heading level up in the report.
    const body = (t: string): string =>
      t
        .slice(t.indexOf('Commands:'))
        .split(/\n#+ Guest agent/)[0]
        .replace(/^#+ /gm, '# ');
    expect(body(r.stdout)).toBe(body(read('10.0-to-10.2.md')));
  });
});

describe('qapi-ts diff command', () => {
  it('refuses what is not a descriptor, with exit 2 and what is wrong', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-diff-'));
    try {
      const write = (name: string, value: unknown): string => {
        const f = path.join(dir, name);
        writeFileSync(f, JSON.stringify(value));
        return f;
      };
      const bin = path.join(ROOT, 'dist/cli/bin.js');
      const cases: [string, RegExp][] = [
        [
          write('missing.json', [{ name: 'go', 'meta-type': 'command', 'arg-type': 'X', 'ret-type': 'X' }]),
          /names type 'X', which is not in the file/,
        ],
        [write('nomembers.json', [{ name: 'X', 'meta-type': 'object' }]), /'X' \(object\) has no members list/],
        [write('greeting.json', { QMP: {} }), /JSON, but not a schema descriptor/],
        [dir, /is a folder, not a schema file/],
      ];
      for (const [file, message] of cases) {
        const r = spawnSync(process.execPath, [bin, 'diff', '10.2', file], { encoding: 'utf8' });
        expect(r.status, file).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const bin = path.join(ROOT, 'dist/cli/bin.js');
  const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [bin, 'diff', ...args], { encoding: 'utf8' });

  it('exits 1 with changes, 0 without, 2 on a bad request', () => {
    expect(run('7.2', '10.0').status).toBe(1);
    expect(run('10.0', '10.2', '--protocol', 'qga')).toMatchObject({
      status: 0,
      stdout: 'Guest agent: 10.0 → 10.2\n  (no change)\n',
    });
    const unknown = run('7.2', '9.9');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no QMP release 9.9 in this qapi-ts (have: ');
    expect(run('7.2', '10.0', '--format', 'yaml')).toMatchObject({ status: 2 });
    expect(run('7.2')).toMatchObject({ status: 2 });
  });

  it('--format json is the diff as data', () => {
    const r = run('7.2', '10.0', '--format', 'json');
    const data = JSON.parse(r.stdout) as SchemaDiff;
    expect(data.from).toBe('7.2');
    expect(data.commands.added).toContainEqual({ name: 'query-audiodevs' });
  });

  it('takes schema files: a QAPI source tree file gives what its release gives', () => {
    requireSources('7.2');
    const file = path.join(CACHE, '7.2/qapi/qapi-schema.json');
    const fromFile = run(file, '10.0');
    const fromRelease = run('7.2', '10.0');
    expect(fromFile.stdout.split('\n').slice(1)).toEqual(fromRelease.stdout.split('\n').slice(1));
  });

  it('names a schema error in a file, with file:line', () => {
    const bad = path.join(ROOT, 'test/fixtures/bad-schema.json');
    const r = spawnSync(process.execPath, [bin, 'diff', '10.2', bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad-schema\.json:\d+/);
  });
});

describe('"since" computed from the releases', () => {
  it("parses QEMU's member since forms", () => {
    expect(memberSince('the thing (since 2.12)')).toBe('2.12');
    expect(memberSince('image header (default false; since 9.0).')).toBe('9.0');
    expect(memberSince('request delay\n(default: 0, since: 11.1)')).toBe('11.1');
    expect(memberSince('Since 8.0')).toBe('8.0');
    expect(memberSince('deprecated since the VM started')).toBeUndefined();
    expect(memberSince('VFIO and IOMMUFD (since 10.1).  The transfer mode (since 10.0)')).toBe('10.0');
  });

  it('says when QEMU gives none or disagrees, nothing when it agrees', () => {
    const v1 = schemaFrom(`{ 'command': 'a', 'data': { 'x': 'str' } }
{ 'enum': 'Color', 'data': [ 'one' ] }
{ 'command': 'e', 'data': { 'v': 'Color' } }`);
    const v2 = schemaFrom(`{ 'command': 'a', 'data': { 'x': 'str', '*y': 'str' } }
{ 'command': 'b' }
{ 'enum': 'Color', 'data': [ 'one', 'two' ] }
{ 'command': 'e', 'data': { 'v': 'Color' } }`);
    const h = new ReleaseHistory([
      { version: '7.2', schema: v1 },
      { version: '10.0', schema: v2 },
    ]).forSchema(v2);
    expect(h.definition('a', undefined)).toBe(
      "7.2 or earlier (computed by qapi-ts from the releases it supports; QEMU's docs give none)",
    );
    expect(h.definition('b', '9.1')).toBeUndefined(); // after 7.2, by 10.0: agrees
    expect(h.definition('b', '10.1')).toBe("qapi-ts finds it already in QEMU 10.0, not 10.1 as QEMU's docs say");
    expect(h.definition('a', '8.0')).toMatch(/already in QEMU 7.2/);
    // A member that came with its command needs nothing; one added later does.
    expect(h.member('q_obj_a-arg', 'x', undefined)).toBeUndefined();
    expect(h.member('q_obj_a-arg', 'y', undefined)).toMatch(/^after 7\.2, by 10\.0 /);
    expect(h.member('q_obj_a-arg', 'y', '6.0')).toBe(
      "qapi-ts finds it first in QEMU 10.0 (not in QEMU 7.2), not 6.0 as QEMU's docs say",
    );
    expect(h.member('Color', 'two', undefined)).toMatch(/^after 7\.2, by 10\.0 /);
  });

  it('shows in the generated docs', () => {
    const read = (f: string): string => readFileSync(path.join(ROOT, 'generated', f), 'utf8');
    // QEMU says 7.2, but 7.2 lacks the command (Debian's 7.2 and upstream alike).
    expect(read('qemu-10.2/commands.ts')).toMatch(
      /@since 7\.2\n\s+\*\n\s+\* qapi-ts finds it first in QEMU 10\.0\.13 \(not in QEMU 7\.2\.0\), not 7\.2 as QEMU's docs say[\s\S]{0,200}'query-migrationthreads'/,
    );
    // Debian's 10.0.13 has a member QEMU's docs say is from 11.1.
    expect(read('qemu-10.0/types.ts')).toMatch(
      /already in QEMU 10\.0\.13 as Debian packages it \(1:10\.0\.13\+ds-0\+deb13u1\), not 11\.1[\s\S]{0,40}'delay-ns'/,
    );
    // 10.2 lacks it and 11.1 has it again: for 11.1 that is where it starts, as QEMU says.
    expect(read('qemu-11.1/types.ts')).not.toMatch(/not 11\.1 as QEMU's docs say/);
    // "(since 10.1)" of one sentence, then "(since 10.0)" for the value: the last one counts.
    expect(read('qemu-10.2/types.ts')).not.toMatch(/not 10\.1 as QEMU's docs say\n\s+\*\/\n\s+\| 'cpr-transfer'/);
    // Only under TARGET_S390X before 10.1: not a disagreement.
    expect(read('qemu-10.2/types.ts')).not.toMatch(/not 10\.1 as QEMU's docs say[\s\S]{0,40}'deprecated-props'/);
    // No since at all, added after 7.2.
    expect(read('qemu-10.2/commands.ts')).toMatch(
      /@since after 7\.2, by 10\.0 \(computed by qapi-ts[^\n]*\n\s+\*\/\n\s+'boundaries-zap'/,
    );
  });
});

describe('the README', () => {
  it('shows lines qapi-ts diff 7.2 10.0 really prints', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Tracking QEMU releases'));
    const sample = section.slice(section.indexOf('$ npx qapi-ts diff 7.2 10.0'), section.indexOf('...'));
    const shown = sample.split('\n').filter((l) => /^[+~-] /.test(l));
    expect(shown.length).toBeGreaterThan(5);
    const real = lines(diff(qemu72, qemu100, '7.2', '10.0'));
    for (const l of shown) expect(real).toContain(l);
  });
});
