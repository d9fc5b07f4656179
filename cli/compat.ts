/**
 * `qapi-ts compat`: would a TypeScript project that uses a pinned release
 * (`qapi-ts/qemu-10.2`, `qga-`, `qsd-`) still compile against another one,
 * and what does it use that a release deprecates? Its imports are pointed at
 * each release in memory (never written) and the compiler's new diagnostics
 * reported, against those of the project as it is. ts-morph, and the
 * TypeScript it bundles, is loaded here on demand only.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Project, SourceFile, ts } from 'ts-morph';

type Ts = typeof ts;

export type CompatFindingKind = 'error' | 'deprecated';

export interface CompatFinding {
  /** Relative to cwd, with '/' separators. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units as TypeScript counts them. */
  column: number;
  kind: CompatFindingKind;
  /** One line. */
  message: string;
  /** TypeScript's error code, for an 'error'. */
  code?: number;
}

export interface CompatReleaseReport {
  /** '7.2': every `qapi-ts/<family>-X` import was pointed at `<family>-7.2`. */
  release: string;
  /** Sorted by file, line, column. */
  findings: CompatFinding[];
}

export interface CompatSkipped {
  release: string;
  reason: string;
}

export interface CompatReport {
  /** The tsconfig, relative to cwd. */
  project: string;
  /** The pinned entry points the project imports: 'qapi-ts/qemu-10.2'. */
  imports: string[];
  releases: CompatReleaseReport[];
  skipped: CompatSkipped[];
}

export interface CompatOptions {
  /** tsconfig.json, or a directory holding one (default ./tsconfig.json). */
  project?: string;
  /** Default: every qemu-* release of this package. */
  releases?: string[];
  cwd?: string;
}

/** A mistake in what was asked (or ts-morph missing): the CLI exits 2. */
export class CompatUsageError extends Error {
  override name = 'CompatUsageError';
}

const FAMILIES = ['qemu', 'qga', 'qsd'] as const;
type Family = (typeof FAMILIES)[number];
const SPECIFIER = /^qapi-ts\/(qemu|qga|qsd)-(\d+\.\d+)$/;
const HERE = path.dirname(fileURLToPath(import.meta.url));

function byVersion(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** This package's releases per family: generated/ beside cli/, from source or in dist/. */
export function knownReleases(): Record<Family, string[]> {
  const out: Record<Family, string[]> = { qemu: [], qga: [], qsd: [] };
  const dir = path.join(HERE, '../generated');
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const m = /^(qemu|qga|qsd)-(\d+\.\d+)$/.exec(name);
    if (m && statSync(path.join(dir, name)).isDirectory()) out[m[1] as Family].push(m[2]);
  }
  for (const f of FAMILIES) out[f].sort(byVersion);
  return out;
}

async function loadTsMorph(): Promise<typeof import('ts-morph')> {
  try {
    return await import('ts-morph');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CompatUsageError('the compat check needs ts-morph: install it with `npm install --save-dev ts-morph`');
    }
    throw e;
  }
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();
const slash = (p: string): string => p.split(path.sep).join('/');

/** A `qapi-ts/<family>-<release>` string in a user file; start/end delimit the text inside the quotes. */
interface Specifier {
  start: number;
  end: number;
  family: Family;
  release: string;
  literal: ts.StringLiteralLike;
}

/** One retargeted specifier: where it is in the original text and in the edited one. */
interface Edit {
  origStart: number;
  origEnd: number;
  newStart: number;
  newEnd: number;
}

/** A call that runs a command, for labelling what is found inside it. */
interface CommandCall {
  start: number;
  end: number;
  command: string;
}

interface UserFile {
  path: string;
  rel: string;
  text: string;
  lineStarts: number[];
  specifiers: Specifier[];
  calls: CommandCall[];
  /** Edits of the current release (empty: the file is as written). */
  edits: Edit[];
}

/** What was found at a position of the (possibly retargeted) file. */
interface RawFinding {
  pos: number;
  kind: CompatFindingKind;
  message: string;
  code?: number;
  /** The message already names the command. */
  named?: boolean;
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 && text.charCodeAt(i + 1) === 10) continue;
    if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) starts.push(i + 1);
  }
  return starts;
}

function lineAndColumn(file: UserFile, pos: number): { line: number; column: number } {
  let lo = 0;
  let hi = file.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (file.lineStarts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: pos - file.lineStarts[lo] + 1 };
}

/** A position in the retargeted text, in the text as written. */
function toOriginal(file: UserFile, pos: number): number {
  let delta = 0;
  for (const e of file.edits) {
    if (pos < e.newStart) break;
    if (pos < e.newEnd) return e.origStart + Math.min(pos - e.newStart, e.origEnd - e.origStart);
    delta = e.newEnd - e.origEnd;
  }
  return pos - delta;
}

function moduleSpecifierOf(T: Ts, node: ts.Node): ts.StringLiteralLike | undefined {
  if ((T.isImportDeclaration(node) || T.isExportDeclaration(node)) && node.moduleSpecifier) {
    return T.isStringLiteral(node.moduleSpecifier) ? node.moduleSpecifier : undefined;
  }
  if (T.isExternalModuleReference(node)) return T.isStringLiteral(node.expression) ? node.expression : undefined;
  if (T.isImportTypeNode(node)) {
    const arg = node.argument;
    return T.isLiteralTypeNode(arg) && T.isStringLiteral(arg.literal) ? arg.literal : undefined;
  }
  if (T.isCallExpression(node)) {
    const callee = node.expression;
    const dynamic = callee.kind === T.SyntaxKind.ImportKeyword || (T.isIdentifier(callee) && callee.text === 'require');
    const arg = node.arguments[0];
    return dynamic && arg && T.isStringLiteralLike(arg) ? arg : undefined;
  }
  // `declare module 'qapi-ts/qemu-10.2' { ... }`: an augmentation follows its release too.
  if (T.isModuleDeclaration(node) && T.isStringLiteral(node.name)) return node.name;
  return undefined;
}

function findSpecifiers(T: Ts, sf: ts.SourceFile): Specifier[] {
  const out: Specifier[] = [];
  const visit = (node: ts.Node): void => {
    const literal = moduleSpecifierOf(T, node);
    const m = literal && SPECIFIER.exec(literal.text);
    if (literal && m) {
      out.push({
        start: literal.getStart(sf) + 1,
        end: literal.end - 1,
        family: m[1] as Family,
        release: m[2],
        literal,
      });
    }
    T.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** `x.execute('name', ...)` / `x.executeOob('name', ...)`: the name's literal and the client. */
function executedCommand(
  T: Ts,
  call: ts.CallExpression,
): { literal: ts.StringLiteralLike; receiver: ts.Expression; method: string } | undefined {
  const callee = call.expression;
  if (!T.isPropertyAccessExpression(callee)) return undefined;
  const method = callee.name.text;
  if (method !== 'execute' && method !== 'executeOob') return undefined;
  const arg = call.arguments[0];
  return arg && T.isStringLiteralLike(arg) ? { literal: arg, receiver: callee.expression, method } : undefined;
}

/** The wire name of a facade method (`Method<QmpCommands, 'block-job-pause'>`), from its type. */
function methodCommand(checker: ts.TypeChecker, symbol: ts.Symbol): string | undefined {
  const type = checker.getTypeOfSymbol(symbol);
  if (type.aliasSymbol?.name !== 'Method') return undefined;
  const name = type.aliasTypeArguments?.[1];
  return name?.isStringLiteral() ? name.value : undefined;
}

/** The text of a `@deprecated` tag in a JSDoc comment's raw text. */
function deprecatedInComment(comment: string): string | undefined {
  const body = comment
    .replace(/^\/\*\*|\*\/$/g, '')
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s*\*?\s?/, ''))
    .join('\n');
  const m = /(?:^|\s)@deprecated\b([\s\S]*?)(?=\n@\w|$)/.exec(body);
  return m ? oneLine(m[1]) || 'deprecated' : undefined;
}

/** Finds what one release's program says about the user's files: the checker's view of deprecation. */
class DeprecationScanner {
  private readonly out: RawFinding[] = [];
  /** Literals already judged as command names. */
  private readonly commandLiterals = new Set<ts.Node>();

  constructor(
    private readonly T: Ts,
    private readonly checker: ts.TypeChecker,
    private readonly isGenerated: (decl: ts.Node) => boolean,
  ) {}

  scan(sf: ts.SourceFile): RawFinding[] {
    this.visit(sf);
    return this.out;
  }

  private report(node: ts.Node, message: string, named = false): void {
    this.out.push({ pos: node.getStart(), kind: 'deprecated', message, named });
  }

  private visit = (node: ts.Node): void => {
    const T = this.T;
    // Imports name what the code uses: the uses are reported, not the import.
    if (T.isImportDeclaration(node) || T.isImportEqualsDeclaration(node)) return;
    if (T.isCallExpression(node)) this.checkExecute(node);
    if (T.isObjectLiteralExpression(node)) this.checkObjectLiteral(node);
    else if (T.isIdentifier(node) && !this.isLiteralPropertyName(node)) this.checkSymbol(node);
    else if (T.isStringLiteralLike(node) && !this.commandLiterals.has(node) && !this.isLiteralPropertyName(node)) {
      if (this.isPropertyKey(node)) this.checkSymbol(node);
      else this.checkEnumValue(node);
    }
    T.forEachChild(node, this.visit);
  };

  /** `x['name']` or `T['name']`: a property named by a literal. */
  private isPropertyKey(node: ts.StringLiteralLike): boolean {
    const T = this.T;
    const p = node.parent;
    if (T.isElementAccessExpression(p)) return p.argumentExpression === node;
    return T.isLiteralTypeNode(p) && T.isIndexedAccessTypeNode(p.parent) && p.parent.indexType === p;
  }

  /** The name of a property in an object literal: judged through the literal's contextual type. */
  private isLiteralPropertyName(node: ts.Node): boolean {
    const p = node.parent;
    return isObjectLiteralElement(this.T, p) && p.name === node && this.T.isObjectLiteralExpression(p.parent);
  }

  /** A deprecated symbol's tag text, when every declaration of it is generated and deprecated. */
  private deprecation(symbol: ts.Symbol | undefined): string | undefined {
    const decls = symbol?.getDeclarations() ?? [];
    if (!decls.length || !decls.every(this.isGenerated)) return undefined;
    let text: string | undefined;
    for (const d of decls) {
      const tag = this.T.getJSDocDeprecatedTag(d);
      if (!tag) return undefined;
      text ??= oneLine(this.T.getTextOfJSDocComment(tag.comment) ?? '') || 'deprecated';
    }
    return text;
  }

  private checkSymbol(node: ts.Identifier | ts.StringLiteralLike): void {
    let symbol = this.checker.getSymbolAtLocation(node);
    if (symbol && symbol.flags & this.T.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
    const text = this.deprecation(symbol);
    if (!symbol || text === undefined) return;
    const command = methodCommand(this.checker, symbol);
    if (command) this.report(node, `${symbol.name} (${command}) is deprecated: ${text}`, true);
    else this.report(node, `'${symbol.name}' is deprecated: ${text}`);
  }

  private checkExecute(call: ts.CallExpression): void {
    const exec = executedCommand(this.T, call);
    if (!exec) return;
    this.commandLiterals.add(exec.literal);
    const map = this.commandMap(exec.receiver, exec.method);
    const text = map && this.deprecation(this.checker.getPropertyOfType(map, exec.literal.text));
    if (text !== undefined) this.report(exec.literal, `${exec.literal.text} is deprecated: ${text}`, true);
  }

  /** The client's command map (QmpCommands): the argument of `K extends CommandName<C>`, or of the client type. */
  private commandMap(receiver: ts.Expression, method: string): ts.Type | undefined {
    const client = this.checker.getTypeAtLocation(receiver);
    const exec = this.checker.getPropertyOfType(client, method);
    const sig = exec && this.checker.getTypeOfSymbolAtLocation(exec, receiver).getCallSignatures()[0];
    const fromConstraint = sig?.getTypeParameters()?.[0]?.getConstraint()?.aliasTypeArguments?.[0];
    if (fromConstraint) return fromConstraint;
    const ref = client as ts.TypeReference;
    const isReference =
      client.flags & this.T.TypeFlags.Object &&
      (client as ts.ObjectType).objectFlags & this.T.ObjectFlags.Reference &&
      ref.target !== undefined;
    return isReference ? this.checker.getTypeArguments(ref)[0] : undefined;
  }

  /** A literal property's value, when it can select a union branch. */
  private literalValue(e: ts.ObjectLiteralElementLike): string | number | undefined {
    if (!this.T.isPropertyAssignment(e)) return undefined;
    const init = e.initializer;
    if (this.T.isStringLiteralLike(init)) return init.text;
    if (this.T.isNumericLiteral(init)) return Number(init.text);
    return undefined;
  }

  private static propertyName(T: Ts, e: ts.ObjectLiteralElementLike): string | undefined {
    const name = e.name;
    if (!name) return undefined;
    if (T.isIdentifier(name) || T.isStringLiteralLike(name) || T.isNumericLiteral(name)) return name.text;
    if (T.isComputedPropertyName(name) && T.isStringLiteralLike(name.expression)) return name.expression.text;
    return undefined;
  }

  /** The literal types a property admits, or undefined when it admits more than literals. */
  private literalSet(type: ts.Type): Array<string | number> | undefined {
    const F = this.T.TypeFlags;
    const values: Array<string | number> = [];
    for (const t of type.isUnion() ? type.types : [type]) {
      if (t.isStringLiteral() || t.isNumberLiteral()) values.push(t.value);
      else if (!(t.flags & (F.Undefined | F.Null | F.BooleanLiteral))) return undefined;
    }
    return values;
  }

  /** The object types a literal may be (its contextual type), narrowed by its literal-valued members. */
  private branches(obj: ts.ObjectLiteralExpression): { all: ts.Type[]; kept: ts.Type[] } {
    const ctx = this.checker.getContextualType(obj);
    if (!ctx) return { all: [], kept: [] };
    const type = this.checker.getNonNullableType(ctx);
    const all = (type.isUnion() ? type.types : [type]).filter(
      (t) => t.flags & (this.T.TypeFlags.Object | this.T.TypeFlags.Intersection),
    );
    const kept = all.filter((t) =>
      obj.properties.every((e) => {
        const value = this.literalValue(e);
        const name = DeprecationScanner.propertyName(this.T, e);
        const prop = value !== undefined && name !== undefined ? this.checker.getPropertyOfType(t, name) : undefined;
        const admits = prop && this.literalSet(this.checker.getTypeOfSymbol(prop));
        return !admits || admits.includes(value!);
      }),
    );
    return { all, kept };
  }

  private checkObjectLiteral(obj: ts.ObjectLiteralExpression): void {
    const { all, kept } = this.branches(obj);
    if (!kept.length) return;
    // A branch of a union chosen by its tag (BlockdevOptions$gluster): reported at the tag's value.
    if (all.length > 1 && kept.length === 1) {
      const branch = kept[0].aliasSymbol ?? kept[0].getSymbol();
      const text = this.deprecation(branch);
      const tag = text === undefined ? undefined : obj.properties.find((e) => this.isTag(e, kept[0]));
      if (tag && this.T.isPropertyAssignment(tag)) {
        this.report(tag.initializer, `${tag.name.getText()}: ${tag.initializer.getText()} is deprecated: ${text}`);
      }
    }
    for (const e of obj.properties) {
      const name = DeprecationScanner.propertyName(this.T, e);
      if (name === undefined || !e.name) continue;
      const props = kept.flatMap((t) => this.checker.getPropertyOfType(t, name) ?? []);
      const texts = props.map((p) => this.deprecation(p));
      if (props.length && texts.every((t) => t !== undefined))
        this.report(e.name, `'${name}' is deprecated: ${texts[0]}`);
    }
  }

  /** A literal-valued member whose type in `branch` is a literal: the union's tag. */
  private isTag(e: ts.ObjectLiteralElementLike, branch: ts.Type): boolean {
    const name = DeprecationScanner.propertyName(this.T, e);
    if (this.literalValue(e) === undefined || name === undefined) return false;
    const prop = this.checker.getPropertyOfType(branch, name);
    return !!prop && (this.literalSet(this.checker.getTypeOfSymbol(prop))?.length ?? 0) > 0;
  }

  /**
   * An enum value: a string literal whose type is a generated alias of a union
   * of literals, where the matching member carries a `@deprecated` comment
   * (TypeScript attaches no JSDoc to union members, so the comment is read).
   */
  private checkEnumValue(lit: ts.StringLiteralLike): void {
    const aliases = new Set<ts.TypeAliasDeclaration>();
    const addSymbol = (s: ts.Symbol | undefined): void => {
      if (s && s.flags & this.T.SymbolFlags.Alias) s = this.checker.getAliasedSymbol(s);
      for (const d of s?.getDeclarations() ?? [])
        if (this.T.isTypeAliasDeclaration(d) && this.isGenerated(d)) aliases.add(d);
    };
    const ctx = this.checker.getContextualType(lit);
    addSymbol(ctx?.aliasSymbol);
    // An optional member's type is `Alias | undefined`, which has lost the alias: read its declaration.
    let holder: ts.Node = lit.parent;
    if (this.T.isArrayLiteralExpression(holder)) holder = holder.parent;
    if (this.T.isPropertyAssignment(holder) && this.T.isObjectLiteralExpression(holder.parent)) {
      const name = DeprecationScanner.propertyName(this.T, holder);
      const branches = name === undefined ? [] : this.branches(holder.parent).kept;
      for (const d of branches.flatMap((t) => this.checker.getPropertyOfType(t, name!)?.getDeclarations() ?? [])) {
        if (this.T.isPropertySignature(d) && d.type) this.aliasesOf(d.type, addSymbol);
      }
    }
    for (const alias of aliases) {
      const text = this.deprecatedMember(alias, lit.text);
      if (text === undefined) continue;
      this.report(lit, `'${lit.text}' is deprecated: ${text}`);
      return;
    }
  }

  private aliasesOf(node: ts.TypeNode, add: (s: ts.Symbol | undefined) => void): void {
    const T = this.T;
    if (T.isTypeReferenceNode(node)) add(this.checker.getSymbolAtLocation(node.typeName));
    else if (T.isArrayTypeNode(node)) this.aliasesOf(node.elementType, add);
    else if (T.isUnionTypeNode(node)) for (const t of node.types) this.aliasesOf(t, add);
    else if (T.isParenthesizedTypeNode(node) || T.isTypeOperatorNode(node)) this.aliasesOf(node.type, add);
  }

  private deprecatedMember(alias: ts.TypeAliasDeclaration, value: string): string | undefined {
    const union = alias.type;
    if (!this.T.isUnionTypeNode(union)) return undefined;
    const text = alias.getSourceFile().text;
    for (let i = 0; i < union.types.length; i++) {
      const member = union.types[i];
      if (!this.T.isLiteralTypeNode(member) || !this.T.isStringLiteral(member.literal)) continue;
      if (member.literal.text !== value) continue;
      const before = text.slice(i === 0 ? union.pos : union.types[i - 1].end, member.getStart());
      const docs = before.match(/\/\*\*[\s\S]*?\*\//g);
      return docs ? deprecatedInComment(docs[docs.length - 1]) : undefined;
    }
    return undefined;
  }
}

function isObjectLiteralElement(T: Ts, node: ts.Node): node is ts.ObjectLiteralElementLike {
  return (
    T.isPropertyAssignment(node) ||
    T.isShorthandPropertyAssignment(node) ||
    T.isMethodDeclaration(node) ||
    T.isGetAccessorDeclaration(node) ||
    T.isSetAccessorDeclaration(node)
  );
}

/** Calls that run a command (`execute('x')`, `cmd.x()`), as the project has them, for labels. */
function commandCalls(T: Ts, checker: ts.TypeChecker, sf: ts.SourceFile): CommandCall[] {
  const out: CommandCall[] = [];
  const visit = (node: ts.Node): void => {
    if (T.isCallExpression(node)) {
      const exec = executedCommand(T, node);
      let command = exec?.literal.text;
      const callee = node.expression;
      if (!command && T.isPropertyAccessExpression(callee)) {
        const symbol = checker.getSymbolAtLocation(callee.name);
        command = symbol && methodCommand(checker, symbol);
        if (!command && T.isPropertyAccessExpression(callee.expression) && callee.expression.name.text === 'cmd') {
          command = `cmd.${callee.name.text}`;
        }
      }
      if (command) out.push({ start: node.getStart(sf), end: node.end, command });
    }
    T.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The command of the innermost call holding pos. */
function commandAt(file: UserFile, pos: number): string | undefined {
  let best: CommandCall | undefined;
  for (const c of file.calls) {
    if (c.start <= pos && pos < c.end && (!best || c.end - c.start < best.end - best.start)) best = c;
  }
  return best?.command;
}

function diagnosticsOf(T: Ts, program: ts.Program, sf: ts.SourceFile): RawFinding[] {
  const opts = program.getCompilerOptions();
  const diags = [
    ...program.getSyntacticDiagnostics(sf),
    ...program.getSemanticDiagnostics(sf),
    ...(opts.declaration || opts.composite ? program.getDeclarationDiagnostics(sf) : []),
  ];
  return diags
    .filter((d) => d.category === T.DiagnosticCategory.Error)
    .map((d) => ({
      pos: d.start ?? 0,
      kind: 'error' as const,
      code: d.code,
      message: oneLine(T.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]),
    }));
}

function compareFindings(a: CompatFinding, b: CompatFinding): number {
  return (
    (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
    a.line - b.line ||
    a.column - b.column ||
    (a.kind === b.kind ? 0 : a.kind === 'error' ? -1 : 1) ||
    (a.message < b.message ? -1 : a.message > b.message ? 1 : 0)
  );
}

/** Checks a project against each release; see the file's comment. */
export async function checkCompat(options: CompatOptions = {}): Promise<CompatReport> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  let tsconfig = path.resolve(cwd, options.project ?? 'tsconfig.json');
  if (existsSync(tsconfig) && statSync(tsconfig).isDirectory()) tsconfig = path.join(tsconfig, 'tsconfig.json');
  if (!existsSync(tsconfig)) throw new CompatUsageError(`project not found: ${tsconfig}`);
  const known = knownReleases();
  const all = [...new Set(FAMILIES.flatMap((f) => known[f]))].sort(byVersion);
  const releases = options.releases ?? known.qemu;
  const unknown = releases.filter((r) => !all.includes(r));
  if (unknown.length) {
    throw new CompatUsageError(`unknown release ${unknown.join(', ')} (known: ${all.join(', ') || 'none'})`);
  }

  const { Project: ProjectClass, ts: T } = await loadTsMorph();
  // Only the tsconfig's files are the project's: dependencies come and go with the release.
  const project: Project = new ProjectClass({ tsConfigFilePath: tsconfig, skipFileDependencyResolution: true });
  const report: CompatReport = { project: slash(path.relative(cwd, tsconfig)), imports: [], releases: [], skipped: [] };

  const baseline = project.getProgram().compilerObject;
  const baseChecker = baseline.getTypeChecker();
  const compilerOptions = baseline.getCompilerOptions();
  const files: UserFile[] = [];
  const morphFiles = new Map<string, SourceFile>();
  const generatedRoots = new Set<string>();
  for (const msf of project.getSourceFiles()) {
    if (msf.isInNodeModules()) continue;
    const sf = baseline.getSourceFile(msf.getFilePath());
    if (!sf) continue;
    const specifiers = findSpecifiers(T, sf);
    for (const s of specifiers) {
      const mode = T.getModeForUsageLocation(sf, s.literal, compilerOptions);
      const resolved = T.resolveModuleName(
        s.literal.text,
        sf.fileName,
        compilerOptions,
        T.sys,
        undefined,
        undefined,
        mode,
      ).resolvedModule?.resolvedFileName;
      // .../generated/qemu-10.2/index.d.ts: every release's files are under .../generated/.
      if (resolved) generatedRoots.add(path.posix.dirname(path.posix.dirname(resolved)) + '/');
    }
    const text = sf.text;
    files.push({
      path: sf.fileName,
      rel: slash(path.relative(cwd, sf.fileName)),
      text,
      lineStarts: lineStartsOf(text),
      specifiers,
      calls: commandCalls(T, baseChecker, sf),
      edits: [],
    });
    morphFiles.set(sf.fileName, msf);
  }
  report.imports = [
    ...new Set(files.flatMap((f) => f.specifiers.map((s) => `qapi-ts/${s.family}-${s.release}`))),
  ].sort();
  const families = [...new Set(files.flatMap((f) => f.specifiers.map((s) => s.family)))];
  if (!families.length) {
    for (const r of releases) {
      report.skipped.push({ release: r, reason: 'the project imports no qapi-ts/qemu-*, qga-* or qsd-* entry point' });
    }
    return report;
  }

  const isGenerated = (decl: ts.Node): boolean => {
    const name = decl.getSourceFile().fileName;
    for (const root of generatedRoots) if (name.startsWith(root)) return true;
    return false;
  };
  const errorKey = (file: UserFile, f: RawFinding): string => `${file.path}\0${toOriginal(file, f.pos)}\0${f.code}`;
  const baseErrors = new Set<string>();
  for (const file of files) {
    const sf = baseline.getSourceFile(file.path)!;
    for (const d of diagnosticsOf(T, baseline, sf)) baseErrors.add(errorKey(file, d));
  }

  const finding = (file: UserFile, f: RawFinding): CompatFinding => {
    const pos = toOriginal(file, f.pos);
    const command = f.named ? undefined : commandAt(file, pos);
    const message = command ? `${command}: ${f.message}` : f.message;
    return { file: file.rel, ...lineAndColumn(file, pos), kind: f.kind, message, ...(f.code ? { code: f.code } : {}) };
  };

  for (const release of releases) {
    const missing = families.filter((f) => !known[f].includes(release)).map((f) => `${f}-${release}`);
    if (missing.length) {
      report.skipped.push({ release, reason: `${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist` });
      continue;
    }
    const changed = files.filter((f) => f.specifiers.some((s) => s.release !== release));
    try {
      for (const file of changed) retarget(file, release, morphFiles.get(file.path)!);
      const program = changed.length ? project.getProgram().compilerObject : baseline;
      const checker = program.getTypeChecker();
      const findings: CompatFinding[] = [];
      const seen = new Set<string>();
      for (const file of files) {
        const sf = program.getSourceFile(file.path)!;
        const raw = [
          ...diagnosticsOf(T, program, sf).filter((d) => !baseErrors.has(errorKey(file, d))),
          ...new DeprecationScanner(T, checker, isGenerated).scan(sf),
        ];
        for (const f of raw) {
          const out = finding(file, f);
          // One deprecation per place (a tag value may be both a deprecated branch and enum value).
          const key = `${out.file}:${out.line}:${out.column}:${out.kind}:${out.code ?? ''}`;
          if (!seen.has(key)) findings.push(out);
          seen.add(key);
        }
      }
      report.releases.push({ release, findings: findings.sort(compareFindings) });
    } finally {
      for (const file of changed) restore(file, morphFiles.get(file.path)!);
    }
  }
  return report;
}

/** Points every pinned import of the file at `release`, in memory. */
function retarget(file: UserFile, release: string, msf: SourceFile): void {
  let text = '';
  let last = 0;
  file.edits = [];
  for (const s of [...file.specifiers].sort((a, b) => a.start - b.start)) {
    text += file.text.slice(last, s.start);
    const replacement = `qapi-ts/${s.family}-${release}`;
    file.edits.push({
      origStart: s.start,
      origEnd: s.end,
      newStart: text.length,
      newEnd: text.length + replacement.length,
    });
    text += replacement;
    last = s.end;
  }
  msf.replaceWithText(text + file.text.slice(last));
}

function restore(file: UserFile, msf: SourceFile): void {
  if (!file.edits.length) return;
  msf.replaceWithText(file.text);
  file.edits = [];
}

/** The report for a person (compiler-style lines) or a script (`json`). */
export function formatCompat(report: CompatReport, json: boolean): string {
  if (json) return JSON.stringify(report, null, 2) + '\n';
  const lines: string[] = [];
  lines.push(`${report.project}: ${report.imports.length ? report.imports.join(', ') : 'no pinned qapi-ts import'}`);
  for (const r of report.releases) {
    const errors = r.findings.filter((f) => f.kind === 'error').length;
    const deprecated = r.findings.length - errors;
    const counts = [
      errors ? `${errors} error${errors > 1 ? 's' : ''}` : '',
      deprecated ? `${deprecated} deprecated use${deprecated > 1 ? 's' : ''}` : '',
    ].filter(Boolean);
    lines.push(`release ${r.release}: ${counts.length ? counts.join(', ') : 'compatible, nothing deprecated'}`);
    for (const f of r.findings) {
      const what = f.kind === 'error' ? `error TS${f.code}` : 'deprecated';
      lines.push(`  ${f.file}:${f.line}:${f.column}: ${what}: ${f.message}`);
    }
  }
  for (const s of report.skipped) lines.push(`release ${s.release}: skipped: ${s.reason}`);
  return lines.join('\n') + '\n';
}

const USAGE = 'usage: qapi-ts compat [--project tsconfig.json] [--releases 7.2,10.0,...] [--json]';

/** `qapi-ts compat ...`: 0 when nothing is found, 1 when something is, 2 on a usage error. */
export async function compatCommand(
  argv: string[],
  io: { out(t: string): void; err(t: string): void },
): Promise<number> {
  const options: CompatOptions = {};
  let json = false;
  try {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      const eq = arg.indexOf('=');
      const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
      const value = (): string => {
        const v = eq > 0 && flag !== arg ? arg.slice(eq + 1) : argv[++i];
        if (v === undefined || v === '') throw new CompatUsageError(`${flag} needs a value`);
        return v;
      };
      if (flag === '--json') {
        if (flag !== arg) throw new CompatUsageError('--json takes no value');
        json = true;
      } else if (flag === '--project') options.project = value();
      else if (flag === '--releases') {
        options.releases = [
          ...new Set(
            value()
              .split(',')
              .map((r) => r.trim())
              .filter(Boolean),
          ),
        ];
        if (!options.releases.length) throw new CompatUsageError('--releases needs at least one release');
      } else if (arg.startsWith('-')) throw new CompatUsageError(`unknown option ${flag}`);
      else throw new CompatUsageError(`compat takes no positional arguments (got '${arg}')`);
    }
    const report = await checkCompat(options);
    io.out(formatCompat(report, json));
    return report.releases.some((r) => r.findings.length) ? 1 : 0;
  } catch (e) {
    if (!(e instanceof CompatUsageError)) throw e;
    io.err(`qapi-ts compat: ${e.message}\n${USAGE}\n`);
    return 2;
  }
}
