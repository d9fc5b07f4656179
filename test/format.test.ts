/**
 * Hand-written code is formatted by the same prettier, with the same options,
 * as the generated code: .prettierrc.json holds them, and the generator's
 * PRETTIER_OPTIONS must agree with it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';
import { PRETTIER_OPTIONS } from '../codegen/emit/output.js';
import { ROOT } from './support/qemu-sources.js';

describe('formatting', () => {
  it('the generator formats for the repository options', () => {
    const config = JSON.parse(readFileSync(path.join(ROOT, '.prettierrc.json'), 'utf8')) as Record<string, unknown>;
    const { parser: _parser, ...generator } = PRETTIER_OPTIONS;
    expect(generator).toEqual(config);
  });

  it('every hand-written source file is as prettier writes it', async () => {
    const files = execFileSync(
      'git',
      [
        'ls-files',
        '--cached',
        '--others',
        '--exclude-standard',
        'runtime',
        'codegen',
        'cli',
        'test',
        'bench',
        'scripts',
        'examples',
        '*.ts',
        '*.js',
        '*.mjs',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    )
      .split('\n')
      .filter((f) => /\.(ts|m?js)$/.test(f) && !f.startsWith('generated/'));
    expect(files.length).toBeGreaterThan(50);
    const unformatted: string[] = [];
    for (const f of files) {
      const file = path.join(ROOT, f);
      const options = await prettier.resolveConfig(file);
      const text = readFileSync(file, 'utf8');
      if (!(await prettier.check(text, { ...options, filepath: file }))) unformatted.push(f);
    }
    expect(unformatted, 'run: npx prettier --write ' + unformatted.join(' ')).toEqual([]);
  });
});
