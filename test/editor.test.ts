/**
 * What an editor shows, through TypeScript's language service on a program
 * that imports the package as users do: hover text of the typed client's
 * calls, with readable parameter names and QEMU's docs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/qemu-sources.js';

function service(program: string): { service: ts.LanguageService; file: string } {
  const dir = path.join(ROOT, '.cache', 'editor');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'main.ts');
  writeFileSync(file, program);
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    types: ['node'],
  };
  const host: ts.LanguageServiceHost = {
    getScriptFileNames: () => [file],
    getScriptVersion: () => '1',
    getScriptSnapshot: (f) => (ts.sys.fileExists(f) ? ts.ScriptSnapshot.fromString(ts.sys.readFile(f)!) : undefined),
    getCurrentDirectory: () => dir,
    getCompilationSettings: () => options,
    getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
    fileExists: (f) => ts.sys.fileExists(f),
    readFile: (f, encoding) => ts.sys.readFile(f, encoding),
    readDirectory: (...a) => ts.sys.readDirectory(...a),
    directoryExists: (d) => ts.sys.directoryExists(d),
    getDirectories: (d) => ts.sys.getDirectories(d),
  };
  return { service: ts.createLanguageService(host), file };
}

function hover(program: string, needles: string[]): Map<string, { text: string; docs: string; tags: string[] }> {
  const { service: ls, file } = service(program);
  const out = new Map<string, { text: string; docs: string; tags: string[] }>();
  for (const needle of needles) {
    const info = ls.getQuickInfoAtPosition(file, program.indexOf(needle) + 1);
    out.set(needle, {
      text: info ? ts.displayPartsToString(info.displayParts) : '',
      docs: info ? ts.displayPartsToString(info.documentation) : '',
      tags: info?.tags?.map((t) => t.name) ?? [],
    });
  }
  return out;
}

describe('hover in an editor', () => {
  const shown = hover(
    `import { connectQmp } from 'qapi-ts/qemu-10.2';
const qmp = await connectQmp({ path: '/run/vm.qmp' });
await qmp.execute('blockdev-del', { 'node-name': 'x' });
await qmp.cmd.blockdevDel({ 'node-name': 'x' });
await qmp.cmd.queryStatus({ timeout: 5 });
`,
    ['execute', 'blockdevDel', 'queryStatus'],
  );

  it('names the parameters args and options, not params_0 and params_1', () => {
    expect(shown.get('execute')!.text).toMatch(
      /execute<"blockdev-del">\(command: "blockdev-del", args: \{[^]*\}, options\?: CallOptions/,
    );
    expect(shown.get('blockdevDel')!.text).toMatch(
      /\(args: \{[^]*\}, options\?: CallOptions \| undefined\) => Promise/,
    );
    expect(shown.get('queryStatus')!.text).toMatch(/\(options\?: CallOptions \| undefined\) => Promise<StatusInfo>/);
    for (const s of shown.values()) expect(s.text).not.toMatch(/params_\d/);
  });

  it("shows QEMU's docs and since on the facade's methods", () => {
    expect(shown.get('blockdevDel')!.docs).toMatch(/Deletes a block device that has been added using `blockdev-add`/);
    expect(shown.get('blockdevDel')!.tags).toContain('since');
  });
});

describe('compiler errors', () => {
  it('an unknown command gives a short error naming the command type, not a union of 244 names', () => {
    const { service: ls, file } = service(`import { connectQmp } from 'qapi-ts/qemu-10.2';
const qmp = await connectQmp({ path: '/run/vm.qmp' });
await qmp.execute('query-statuss');
`);
    const messages = ls.getSemanticDiagnostics(file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(messages).toEqual([
      `Argument of type '"query-statuss"' is not assignable to parameter of type 'keyof QmpCommands'.`,
    ]);
  });
});
