/**
 * The committed SDKs as TypeScript: all of generated/ compiles with tsc
 * (strict, test/generated.tsconfig.json), no public type is `any`, every
 * exported declaration, command and event has a doc comment, and prettier
 * leaves every file as it is (generation prints formatted text itself).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { listFiles, PRETTIER_OPTIONS } from '../codegen/emit/output.js';
import { ROOT } from './support/qemu-sources.js';

const GENERATED = path.join(ROOT, 'generated');
const TS_FILES = listFiles(GENERATED).filter((f) => f.endsWith('.ts'));
const read = (f: string): string => readFileSync(path.join(GENERATED, f), 'utf8');

describe('generated/ as TypeScript', () => {
  it('compiles with tsc --noEmit, strict', () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '-p', path.join(ROOT, 'test/generated.tsconfig.json')], {
        encoding: 'utf8',
      });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(output).toBe('');
  });

  it('has no `any` anywhere, and a doc comment on every declaration, command and event', () => {
    const anys: string[] = [];
    const undocumented: string[] = [];
    for (const f of TS_FILES) {
      const source = ts.createSourceFile(f, read(f), ts.ScriptTarget.Latest, true);
      const documented = (n: ts.Node): boolean => ts.getJSDocCommentsAndTags(n).length > 0;
      const visit = (n: ts.Node, inMap: boolean): void => {
        if (n.kind === ts.SyntaxKind.AnyKeyword)
          anys.push(`${f}:${source.getLineAndCharacterOfPosition(n.pos).line + 1}`);
        const exported =
          ts.canHaveModifiers(n) && ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
        if ((ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) && exported && !documented(n)) {
          undocumented.push(`${f}: ${n.name.text}`);
        }
        // The members of the command and event maps are the commands and events.
        if (inMap && ts.isPropertySignature(n) && !documented(n)) undocumented.push(`${f}: ${n.name.getText()}`);
        const map = ts.isInterfaceDeclaration(n) && /^(Qmp|Qga)(Commands|Events)$/.test(n.name.text);
        ts.forEachChild(n, (c) => visit(c, map));
      };
      visit(source, false);
    }
    expect(anys).toEqual([]);
    expect(undocumented).toEqual([]);
  });

  it('is formatted as prettier formats it', async () => {
    const unstable: string[] = [];
    for (const f of TS_FILES) {
      const text = read(f);
      if ((await prettier.format(text, PRETTIER_OPTIONS)) !== text) unstable.push(f);
    }
    expect(unstable).toEqual([]);
  }, 120_000);
});
