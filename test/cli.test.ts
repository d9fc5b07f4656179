import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';

const run = runCli;

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function schema(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'qapi-ts-cli-'));
  made.push(dir);
  const file = path.join(dir, 's.json');
  writeFileSync(file, text);
  return file;
}

describe('qapi-ts check-schema', () => {
  const good = schema(`{ 'enum': 'Color', 'data': [ 'red', 'green' ] }
{ 'struct': 'Paint', 'data': { 'color': 'Color', '*shade': 'int' } }
{ 'command': 'paint', 'data': { 'what': 'Paint' }, 'returns': 'Paint' }
{ 'event': 'PAINTED', 'data': { 'color': 'Color' } }
`);

  it('prints the summary line for a valid schema', () => {
    expect(run(['check-schema', good])).toEqual({
      code: 0,
      out: 'commands=1 events=1 structs=1 unions=0 alternates=0 enums=1\n',
      err: '',
    });
  });

  it('prints the model as JSON with --json', () => {
    const r = run(['check-schema', good, '--json']);
    expect(r.code).toBe(0);
    const ir = JSON.parse(r.out) as unknown;
    expect(JSON.stringify(ir)).toContain('"Paint"');
    expect(JSON.stringify(ir)).toContain('"PAINTED"');
  });

  it('reports an error as file:line:col: message and exits 1', () => {
    const bad = schema(
      `{ 'struct': 'Alpha', 'data': { 'x': 'int' } }\n{ 'struct': 'Beta', 'data': { 'y': 'Nope' } }\n`,
    );
    const r = run(['check-schema', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2(:\\d+)?: .*Nope`, 'm'));
  });

  it('reports a lexical error with its column', () => {
    const bad = schema(`{ 'struct': 'Alpha',\n  'data': { 'x': 'int' }, oops }\n`);
    const r = run(['check-schema', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/s\.json:2:\d+: /);
  });

  it('rejects bad usage with exit code 2', () => {
    expect(run(['check-schema']).code).toBe(2);
    expect(run(['frobnicate']).code).toBe(2);
    expect(run(['check-schema', good, '--dialect', 'klingon']).code).toBe(2);
  });
});

describe('qapi-ts version', () => {
  it('prints the package version, run from source as from dist/', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(run(['version'])).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
  });
});
