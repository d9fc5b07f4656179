/**
 * Shell completion: the scripts of `qapi-ts completion bash|zsh`, run by a
 * real bash and zsh against the built CLI (they call `qapi-ts __complete`,
 * which reads the generated releases: dist/, built with
 * `npx tsc -p tsconfig.build.json`), and what __complete offers where.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complete, OPTION_VALUES } from '../cli/completion.js';
import { COMMANDS } from '../cli/main.js';
import { optionKind } from './support/cli-options.js';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'dist/cli/bin.js');

// The scripts run `qapi-ts`: on PATH here, the built CLI. The files to complete are in CWD.
const TMP = mkdtempSync(path.join(tmpdir(), 'qapi-ts-completion-'));
const CWD = path.join(TMP, 'cwd');
mkdirSync(path.join(TMP, 'bin'));
mkdirSync(path.join(CWD, 'sub'), { recursive: true });
for (const f of ['vm.qmp', 'vm.qga', 'schema.json']) writeFileSync(path.join(CWD, f), '');
writeFileSync(path.join(TMP, 'bin/qapi-ts'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
chmodSync(path.join(TMP, 'bin/qapi-ts'), 0o755);
// HOME: compinit writes its dump there.
const ENV = { ...process.env, PATH: `${path.join(TMP, 'bin')}:${process.env.PATH}`, HOME: TMP };

afterAll(() => rmSync(TMP, { recursive: true, force: true }));

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function sh(shell: 'bash' | 'zsh', script: string): { status: number | null; stdout: string; stderr: string } {
  const args = shell === 'bash' ? ['--norc', '--noprofile', '-c', script] : ['-f', '-c', script];
  return spawnSync(shell, args, { cwd: CWD, env: ENV, encoding: 'utf8' });
}

/** COMPREPLY after TAB on the last of `words` (as bash splits them: --opt = value). */
function bash(...words: string[]): string[] {
  const r = sh(
    'bash',
    `source ${quote(path.join(TMP, 'qapi-ts.bash'))} || exit 9
COMP_WORDS=(qapi-ts ${words.map(quote).join(' ')}); COMP_CWORD=${words.length}
_qapi_ts; printf '%s\\n' "\${COMPREPLY[@]}"`,
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

/** What _qapi-ts hands zsh, compdef, compadd, _files and compset standing in for the completion system. */
function zsh(...words: string[]): string[] {
  const r = sh(
    'zsh',
    `compdef() { :; }
source ${quote(path.join(TMP, 'qapi-ts.zsh'))} || exit 9
compadd() { local i=\${@[(i)--]}; print -rl -- "\${@[1,i-1]}" "\${@[i+1,-1]}"; }
_files() { print -r -- "_files $*"; }
compset() { :; }
words=(qapi-ts ${words.map(quote).join(' ')}); CURRENT=\${#words}; PREFIX=\${words[-1]}
_qapi-ts`,
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

/** The releases the built CLI has, oldest first, as its releaseFiles finds them. */
let releases: (kind: string) => string[];

let built: Promise<void> | undefined;
/** The built CLI answers __complete (registered, dist/ fresh); the scripts are written out. Once. */
const useBuiltCli = (): Promise<void> => (built ??= setUp());

async function setUp(): Promise<void> {
  const mtime = (p: string): number => statSync(path.join(ROOT, p), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (mtime('dist/cli/completion.js') < mtime('cli/completion.ts'))
    throw new Error('dist/ is older than cli/completion.ts: build it (npx tsc -p tsconfig.build.json)');
  const r = spawnSync(process.execPath, [BIN, '__complete', ''], { encoding: 'utf8' });
  if (!r.stdout.includes('qmp\n'))
    throw new Error(`qapi-ts __complete does not answer (is it registered in cli/main.ts?): ${r.stderr}`);
  const drift = (await import(path.join(ROOT, 'dist/cli/drift.js'))) as {
    releaseFiles(prefix: string): Map<string, string>;
  };
  releases = (kind) =>
    [...drift.releaseFiles(kind).keys()].sort((a, b) => {
      const [x, y] = [a, b].map((v) => v.split('.').map(Number));
      return x[0] - y[0] || x[1] - y[1];
    });
  expect(releases('qemu').length).toBeGreaterThan(1);
  // Made once: each TAB below sources them (the loading itself is tested as users write it).
  for (const shell of ['bash', 'zsh'])
    writeFileSync(
      path.join(TMP, `qapi-ts.${shell}`),
      spawnSync(process.execPath, [BIN, 'completion', shell], { encoding: 'utf8' }).stdout,
    );
}

describe('bash', () => {
  beforeAll(useBuiltCli);

  it('loads with eval "$(qapi-ts completion bash)" and registers _qapi_ts', () => {
    const r = sh('bash', 'eval "$(qapi-ts completion bash)" && complete -p qapi-ts');
    expect(r).toMatchObject({ status: 0, stdout: 'complete -F _qapi_ts qapi-ts\n', stderr: '' });
  });

  it('completes subcommands', () => {
    expect(bash('')).toEqual([...COMMANDS.map((c) => c.name), 'help', 'version']);
    expect(bash('c')).toEqual(['check-schema', 'compat', 'completion']);
    expect(bash('--')).toEqual(['--help', '--version']);
    expect(bash('help', 'com')).toEqual(['compat', 'completion']);
    expect(bash('completion', '')).toEqual(['bash', 'zsh']);
  });

  it("completes qmp's options", () => {
    const qmp = COMMANDS.find((c) => c.name === 'qmp')!;
    expect(bash('qmp', '/sock', '--')).toEqual([...qmp.options!, '--help']);
    expect(bash('qmp', '--c')).toEqual(['--compact']);
    expect(bash('qmp', '/sock', '--timeout', '')).toEqual([]);
  });

  it('completes QMP command names after qmp TARGET, from the newest release or --release', () => {
    const names = bash('qmp', '/sock', 'que');
    expect(names).toContain('query-status');
    expect(names).toContain('query-block');
    expect(names.every((n) => n.startsWith('que'))).toBe(true);
    expect(bash('qmp', '/sock', 'query-st')).toEqual(['query-stats', 'query-stats-schemas', 'query-status']);
    // bash splits tcp:HOST:PORT at the colons; an option's value is no positional.
    expect(bash('qmp', '--timeout', '500', 'tcp', ':', '127.0.0.1', ':', '4444', 'query-statu')).toEqual([
      'query-status',
    ]);
    // query-accelerators came after 7.2.
    expect(bash('qmp', '/sock', 'query-acc')).toEqual(['query-accelerators']);
    expect(bash('qmp', '--release', '7.2', '/sock', 'query-acc')).toEqual([]);
  });

  it("completes a QMP command's arguments: key=, and enum and boolean values", () => {
    expect(bash('qmp', '/sock', 'blockdev-add', 'driver=qcow2', 'node-na')).toEqual(['node-name=']);
    // Bash splits key=value at the =: only what follows it is replaced.
    expect(bash('qmp', '/sock', 'blockdev-add', 'driver', '=', 'qco')).toEqual(['qcow', 'qcow2']);
    expect(bash('qmp', '/sock', 'blockdev-add', 'read-only', '=')).toEqual(['on', 'off']);
    expect(bash('qmp', '/sock', 'query-status', '')).toEqual([]);
  });

  it('completes guest-agent command names after qga TARGET, and nothing after exec --', () => {
    expect(bash('qga', '/sock', 'guest-pi')).toEqual(['guest-ping']);
    expect(bash('qga', '/sock', 'ex')).toEqual(['exec']);
    expect(bash('qga', '/sock', 'exec', '--', '')).toEqual([]);
  });

  it('completes the releases of diff, and files', () => {
    // Files come in directory order.
    expect(bash('diff', '').sort()).toEqual([...releases('qemu'), 'schema.json', 'sub', 'vm.qga', 'vm.qmp'].sort());
    expect(bash('diff', '--protocol', 'qga', releases('qga')[0], '').sort()).toEqual(
      [...releases('qga'), 'schema.json', 'sub', 'vm.qga', 'vm.qmp'].sort(),
    );
    expect(bash('diff', 'a', 'b', '')).toEqual([]);
    expect(bash('diff', '--format', '')).toEqual(['text', 'markdown', 'json']);
  });

  it('completes an option value after --option=, as bash splits it', () => {
    expect(bash('drift', '--release', '=')).toEqual(releases('qemu'));
    expect(bash('drift', '--release', '=', '1')).toEqual(releases('qemu').filter((r) => r.startsWith('1')));
    expect(bash('backup', '/sock', 'full', '--to', '=', 'vm.qm')).toEqual(['vm.qmp']);
    expect(bash('compat', '--releases', '7.2,1')).toEqual(
      releases('qemu')
        .filter((r) => r.startsWith('1'))
        .map((r) => `7.2,${r}`),
    );
  });

  it('completes event names for events --name and --wait', () => {
    const names = bash('events', '/sock', '--name', 'BLOCK_JOB_');
    expect(names).toContain('BLOCK_JOB_COMPLETED');
    expect(names.every((n) => n.startsWith('BLOCK_JOB_'))).toBe(true);
    expect(bash('events', '/sock', '--wait', 'JOB_STATUS')).toEqual(['JOB_STATUS_CHANGE']);
    expect(bash('events', '/sock', '--count', '')).toEqual([]);
  });

  it('completes files for TARGET and file arguments, directories for directories', () => {
    expect(bash('qmp', 'vm.q').sort()).toEqual(['vm.qga', 'vm.qmp']);
    expect(bash('check-schema', 's').sort()).toEqual(['schema.json', 'sub']);
    expect(bash('gen', '--out', '')).toEqual(['sub']);
    expect(bash('backup', '').sort()).toEqual(['restore', 'schema.json', 'sub', 'vm.qga', 'vm.qmp']);
    expect(bash('backup', '/sock', '')).toEqual(['full', 'incremental', 'bitmaps']);
  });
});

describe('zsh', () => {
  beforeAll(useBuiltCli);

  it('loads after compinit and registers _qapi-ts', () => {
    const r = sh(
      'zsh',
      'autoload -U compinit; compinit -u; source <(qapi-ts completion zsh); print -r -- $_comps[qapi-ts]',
    );
    expect(r).toMatchObject({ status: 0, stdout: '_qapi-ts\n', stderr: '' });
  });

  it('loads from $fpath as _qapi-ts', () => {
    const dir = mkdtempSync(path.join(TMP, 'fpath-'));
    execFileSync('sh', ['-c', `qapi-ts completion zsh > ${quote(path.join(dir, '_qapi-ts'))}`], { env: ENV });
    const r = sh(
      'zsh',
      `fpath=(${quote(dir)} $fpath); autoload -U compinit; compinit -u; print -r -- $_comps[qapi-ts]`,
    );
    expect(r).toMatchObject({ status: 0, stdout: '_qapi-ts\n', stderr: '' });
  });

  it('offers what __complete prints: names, values after --option=, key= without a space, files', () => {
    expect(zsh('qmp', '/sock', 'query-st')).toEqual(['query-stats', 'query-stats-schemas', 'query-status']);
    expect(zsh('drift', '--release=')).toEqual(releases('qemu').map((r) => `--release=${r}`));
    expect(zsh('qmp', '/sock', 'blockdev-add', 'driver=qcow2', 'node-na')).toEqual(['-S', 'node-name=']);
    expect(zsh('qmp', '')).toEqual(['_files ']);
    expect(zsh('gen', '--out=s')).toEqual(['_files -/']);
  });

  it('qapi-ts __complete prints one candidate a line', () => {
    const r = spawnSync(process.execPath, [BIN, '__complete', 'qmp', '/sock', 'query-st'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toContain('query-status');
    expect(r.stdout).toBe('query-stats\nquery-stats-schemas\nquery-status\n');
  });
});

describe('__complete, in-process', () => {
  it('knows which options take a value (as the parsers do): the next word is not a positional', async () => {
    for (const c of COMMANDS) {
      const valued = OPTION_VALUES[c.name] ?? {};
      for (const option of new Set([...(c.options ?? []), ...Object.keys(valued)])) {
        const kind = await optionKind(c.name, option);
        expect(kind, `${c.name} ${option}`).not.toBe('unknown');
        expect(kind === 'value', `${c.name} ${option} takes a value: list it in OPTION_VALUES`).toBe(option in valued);
      }
    }
  });

  it('asks for files (":files") or directories (":dirs") where they fit', async () => {
    expect(await complete(['qmp', ''])).toEqual([':files']);
    expect(await complete(['qmp', '--timeout', ''])).toEqual([]);
    expect(await complete(['qmp', '--timeout', '5', ''])).toEqual([':files']);
    expect(await complete(['gen', '--out', ''])).toEqual([':dirs']);
    expect(await complete(['gen', '--out=x'])).toEqual([':dirs']);
    expect(await complete(['backup', 'r'])).toEqual(['restore', ':files']);
    expect(await complete(['backup', 'restore', 'full.qcow2', ''])).toEqual([':files']);
    expect(await complete(['check-schema', '--dialect', 'l'])).toEqual(['legacy']);
    expect(await complete(['check-schema', '--dialect=m'])).toEqual(['--dialect=modern']);
  });

  it('offers nothing for an unknown command, after --, or for an option value it cannot know', async () => {
    expect(await complete(['frobnicate', ''])).toEqual([]);
    expect(await complete(['qga', '/sock', 'exec', '--', ''])).toEqual([]);
    expect(await complete(['backup', '/sock', 'full', '--node', ''])).toEqual([]);
    expect(await complete(['version', ''])).toEqual([]);
  });

  it('completes the options of a command its Command does not list yet from what takes a value', async () => {
    expect(await complete(['shell', '--'])).toEqual(expect.arrayContaining(['--release', '--help']));
  });
});
