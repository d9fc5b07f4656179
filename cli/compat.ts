/**
 * `qapi-ts compat`: would a TypeScript project that uses a pinned release
 * (`qapi-ts/qemu-10.2`, `qga-`, `qsd-`) still compile against another one,
 * and what does it use that a release deprecates? Its imports are pointed at
 * each release in memory (never written) and the compiler's new diagnostics
 * reported, against those of the project as it is. The project's files are
 * those of its program (what the tsconfig lists and what they import); a
 * solution tsconfig (no files, references) stands for the projects it
 * references. ts-morph, and the TypeScript it bundles, is loaded here on
 * demand only: the project's own first.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Project, SourceFile, ts } from 'ts-morph';

type TsMorph = typeof import('ts-morph');
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
  /** TypeScript's error code, for an error the compiler reports (not for an argument member the release lacks). */
  code?: number;
}

/** Pinned imports a release was not checked for: their family does not have it. */
export interface CompatPartial {
  /** As written: 'qapi-ts/qsd-10.2'. */
  imports: string[];
  /** 'qsd-11.1 does not exist'. */
  reason: string;
}

export interface CompatReleaseReport {
  /** '7.2': every `qapi-ts/<family>-X` import was pointed at `<family>-7.2`. */
  release: string;
  /** Sorted by file, line, column. */
  findings: CompatFinding[];
  /** Imports left as written for this release: it was checked in part. */
  partial?: CompatPartial[];
}

export interface CompatSkipped {
  release: string;
  reason: string;
}

export interface CompatReport {
  /** The tsconfig, relative to cwd. */
  project: string;
  /** A solution's referenced projects, the ones checked (relative to cwd). */
  projects?: string[];
  /** The pinned entry points the project imports: 'qapi-ts/qemu-10.2'. */
  imports: string[];
  releases: CompatReleaseReport[];
  /** Releases not checked at all. */
  skipped: CompatSkipped[];
  /** Deprecated uses were not looked for. */
  errorsOnly?: boolean;
}

export interface CompatOptions {
  /** tsconfig.json, or a directory holding one (default ./tsconfig.json). */
  project?: string;
  /** Default: every qemu-* release of this package. */
  releases?: string[];
  cwd?: string;
  /** Report new type errors only, not deprecated uses. */
  errorsOnly?: boolean;
}

/**
 * A mistake in what was asked or in the project's setup (an option, the
 * tsconfig, a pinned import that does not resolve, ts-morph missing): the CLI
 * exits 2.
 */
export class CompatUsageError extends Error {
  override name = 'CompatUsageError';
}

const FAMILIES = ['qemu', 'qga', 'qsd'] as const;
type Family = (typeof FAMILIES)[number];
const SPECIFIER = /^qapi-ts\/(qemu|qga|qsd)-(\d+\.\d+)$/;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const NO_IMPORTS = 'the project imports no qapi-ts/qemu-*, qga-* or qsd-* entry point';
/** A quoted 'qapi-ts' or 'qapi-ts/...': a file worth walking for imports (generated files are big and do not). */
const MENTIONS_US = /['"`]qapi-ts['"`/]/;
/** Client methods whose first argument names events (`N extends keyof E`). */
const EVENT_METHODS = new Set(['on', 'once', 'waitForEvent', 'events']);

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

/** The project's ts-morph (its TypeScript is the one it builds with), else the one beside qapi-ts. */
async function loadTsMorph(cwd: string): Promise<TsMorph> {
  let own: string | undefined;
  try {
    own = createRequire(path.join(cwd, 'package.json')).resolve('ts-morph');
  } catch {
    // Not installed in the project: ours, if any.
  }
  try {
    return own ? ((await import(pathToFileURL(own).href)) as TsMorph) : await import('ts-morph');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A module ts-morph needs that is missing is a broken install, not a missing ts-morph.
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      /['"]ts-morph['"]/.test(String((e as Error).message));
    if (missing) {
      throw new CompatUsageError('the compat check needs ts-morph: install it with `npm install --save-dev ts-morph`');
    }
    throw e;
  }
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();
const slash = (p: string): string => p.split(path.sep).join('/');

function diagnosticText(T: Ts, d: ts.Diagnostic, cwd: string): string {
  const message = `${oneLine(T.flattenDiagnosticMessageText(d.messageText, '\n'))} (TS${d.code})`;
  if (!d.file || d.start === undefined) return message;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return `${slash(path.relative(cwd, d.file.fileName))}:${line + 1}:${character + 1}: ${message}`;
}

/** A tsconfig as TypeScript reads it; its errors (bad JSON, a missing `extends`, no inputs) are the user's to fix. */
function readConfig(T: Ts, file: string, cwd: string): ts.ParsedCommandLine {
  const fatal: ts.Diagnostic[] = [];
  const host: ts.ParseConfigFileHost = { ...T.sys, onUnRecoverableConfigFileDiagnostic: (d) => void fatal.push(d) };
  const parsed = T.getParsedCommandLineOfConfigFile(file, undefined, host);
  const errors = [...fatal, ...(parsed ? T.getConfigFileParsingDiagnostics(parsed) : [])].filter(
    (d) => d.category === T.DiagnosticCategory.Error,
  );
  if (!parsed || errors.length) {
    const rel = slash(path.relative(cwd, file));
    const what = errors.map((d) => (d.file ? '' : `${rel}: `) + diagnosticText(T, d, cwd));
    throw new CompatUsageError(what.join('; ') || `${rel}: cannot be read`);
  }
  return parsed;
}

/** The projects to check: the tsconfig, or for a solution (no files of its own, references) those it references. */
function projectsOf(T: Ts, tsconfig: string, cwd: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, from: string | undefined): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!existsSync(file)) {
      throw new CompatUsageError(
        `project not found: ${file}${from ? ` (referenced by ${slash(path.relative(cwd, from))})` : ''}`,
      );
    }
    const parsed = readConfig(T, file, cwd);
    const refs = parsed.projectReferences ?? [];
    if (!parsed.fileNames.length && refs.length) for (const r of refs) visit(T.resolveProjectReferencePath(r), file);
    else out.push(file);
  };
  visit(tsconfig, undefined);
  return out;
}

/** A `qapi-ts/<family>-<release>` string in a user file; start/end delimit the text inside the quotes. */
interface Specifier {
  start: number;
  end: number;
  family: Family;
  release: string;
  literal: ts.StringLiteralLike;
  /** `declare module '...'`: not resolved like an import. */
  ambient: boolean;
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
  /** The file in the baseline program, where its specifiers' nodes are. */
  base: ts.SourceFile;
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
  /** An argument member the release lacks: its name, which tells it from others at the same place. */
  member?: string;
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

function where(file: UserFile, pos: number): string {
  const { line, column } = lineAndColumn(file, pos);
  return `${file.rel}:${line}:${column}`;
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

const isJsFile = (sf: ts.SourceFile): boolean => /\.[cm]?jsx?$/i.test(sf.fileName);

/**
 * The JSDoc comments attached to a node, where a JS file names types
 * (`@param {import('qapi-ts/qemu-10.2').Client}`, `@typedef`, `@import`):
 * forEachChild does not visit them. `jsDoc` is internal but stable; ts-morph
 * reads it too.
 */
function jsDocOf(node: ts.Node): readonly ts.JSDoc[] {
  return (node as ts.Node & { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
}

function moduleSpecifierOf(T: Ts, node: ts.Node): ts.StringLiteralLike | undefined {
  if (
    (T.isImportDeclaration(node) || T.isExportDeclaration(node) || T.isJSDocImportTag(node)) &&
    node.moduleSpecifier
  ) {
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

/** The file's pinned imports, and its other imports of qapi-ts (`qapi-ts`, `qapi-ts/runtime`), which must resolve too. */
function findSpecifiers(T: Ts, sf: ts.SourceFile): { pinned: Specifier[]; other: ts.StringLiteralLike[] } {
  const out: Specifier[] = [];
  const other: ts.StringLiteralLike[] = [];
  const js = isJsFile(sf);
  const visit = (node: ts.Node): void => {
    const literal = moduleSpecifierOf(T, node);
    const m = literal && SPECIFIER.exec(literal.text);
    if (literal && !m && /^qapi-ts(\/|$)/.test(literal.text) && !T.isModuleDeclaration(node)) other.push(literal);
    if (literal && m) {
      out.push({
        start: literal.getStart(sf) + 1,
        end: literal.end - 1,
        family: m[1] as Family,
        release: m[2],
        literal,
        ambient: T.isModuleDeclaration(node),
      });
    }
    if (js) for (const doc of jsDocOf(node)) visit(doc);
    T.forEachChild(node, visit);
  };
  visit(sf);
  return { pinned: out, other };
}

/** Where modules resolve, as the program resolves them (cached: the same question comes per release). */
class Resolver {
  private readonly cache = new Map<string, string | undefined>();

  constructor(
    private readonly T: Ts,
    private readonly options: ts.CompilerOptions,
  ) {}

  /** The file `specifier`, written at `literal` of `sf`, resolves to. */
  resolve(sf: ts.SourceFile, literal: ts.StringLiteralLike, specifier: string): string | undefined {
    const mode = this.T.getModeForUsageLocation(sf, literal, this.options);
    const key = `${path.posix.dirname(sf.fileName)}\0${mode}\0${specifier}`;
    if (!this.cache.has(key)) {
      const r = this.T.resolveModuleName(specifier, sf.fileName, this.options, this.T.sys, undefined, undefined, mode);
      this.cache.set(key, r.resolvedModule?.resolvedFileName);
    }
    return this.cache.get(key);
  }
}

/** The module resolution in use, when it is one that ignores package "exports" (which qapi-ts/qemu-X needs). */
function exportsBlindResolution(T: Ts, o: ts.CompilerOptions): string | undefined {
  const K = T.ModuleResolutionKind;
  // The one in effect when the tsconfig leaves it to `module` (internal, hence optional).
  const effective = (T as Ts & { getEmitModuleResolutionKind?: (o: ts.CompilerOptions) => ts.ModuleResolutionKind })
    .getEmitModuleResolutionKind;
  const kind = effective ? effective(o) : o.moduleResolution;
  // Deprecated in TypeScript: that is what this looks for.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  if (kind === K.Node10) return 'node10';
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  if (kind === K.Classic) return 'classic';
  return undefined;
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

/** A name in the code: the node that gives it, and the name. */
interface NameUse {
  node: ts.Expression;
  value: string;
}

/** Calls on a qapi-ts client (its type declared by the package), in one program. */
class ClientCalls {
  constructor(
    readonly T: Ts,
    readonly checker: ts.TypeChecker,
    /** A declaration of the qapi-ts package the imports resolve to. */
    private readonly isOurs: (decl: ts.Node) => boolean,
  ) {}

  /** The strings a type admits, when it is a string literal or a union of them. */
  private stringsOfType(type: ts.Type): string[] | undefined {
    const values: string[] = [];
    for (const t of type.isUnion() ? type.types : [type]) {
      if (!t.isStringLiteral()) return undefined;
      values.push(t.value);
    }
    return values;
  }

  /** The names an expression gives by its type: `'x'`, a const holding it, `'x' as const`. */
  strings(e: ts.Expression): string[] | undefined {
    return this.stringsOfType(this.checker.getTypeAtLocation(e));
  }

  /** The names an argument gives: one, a union of them, or an array of them (literal, or by its element type). */
  namesIn(e: ts.Expression): NameUse[] {
    const T = this.T;
    if (T.isArrayLiteralExpression(e)) {
      return e.elements.flatMap((el) =>
        T.isSpreadElement(el) ? [] : (this.strings(el) ?? []).map((value) => ({ node: el, value })),
      );
    }
    const type = this.checker.getTypeAtLocation(e);
    const element = this.checker.isArrayLikeType(type)
      ? this.checker.getIndexTypeOfType(type, T.IndexKind.Number)
      : undefined;
    return (this.stringsOfType(element ?? type) ?? []).map((value) => ({ node: e, value }));
  }

  /** Every declaration of the symbol at the node is the package's. */
  declaredByUs(node: ts.Node): boolean {
    const decls = this.checker.getSymbolAtLocation(node)?.getDeclarations() ?? [];
    return decls.length > 0 && decls.every((d) => this.isOurs(d));
  }

  /** `x.execute(name, args)` / `x.executeOob(...)`: the names its first argument gives, and the client. */
  executed(
    call: ts.CallExpression,
  ):
    | { name: ts.Expression; names: string[]; receiver: ts.Expression; method: string; args?: ts.Expression }
    | undefined {
    const callee = call.expression;
    if (!this.T.isPropertyAccessExpression(callee)) return undefined;
    const method = callee.name.text;
    const name = call.arguments[0];
    if ((method !== 'execute' && method !== 'executeOob') || !name || !this.declaredByUs(callee.name)) return undefined;
    const names = this.strings(name);
    return names && { name, names, receiver: callee.expression, method, args: call.arguments[1] };
  }

  /** A facade method's call (`x.cmd.migrate(args)`, or the method taken out of `cmd`): its command map and name. */
  method(call: ts.CallExpression): { map: ts.Type; command: string; args?: ts.Expression } | undefined {
    const type = this.checker.getTypeAtLocation(call.expression);
    const alias = type.aliasSymbol;
    if (alias?.name !== 'Method' || !(alias.getDeclarations() ?? []).every((d) => this.isOurs(d))) return undefined;
    const [map, name] = type.aliasTypeArguments ?? [];
    return map && name?.isStringLiteral() ? { map, command: name.value, args: call.arguments[0] } : undefined;
  }

  /** The client's command map (QmpCommands): the argument of `K extends CommandName<C>`, or of the client type. */
  commandMap(receiver: ts.Expression, method: string): ts.Type | undefined {
    const client = this.checker.getTypeAtLocation(receiver);
    const exec = this.checker.getPropertyOfType(client, method);
    const sig = exec && this.checker.getTypeOfSymbolAtLocation(exec, receiver).getCallSignatures()[0];
    const fromConstraint = sig?.getTypeParameters()?.[0]?.getConstraint()?.aliasTypeArguments?.[0];
    return fromConstraint ?? this.typeArguments(client)[0];
  }

  private typeArguments(type: ts.Type): readonly ts.Type[] {
    const isReference =
      type.flags & this.T.TypeFlags.Object && (type as ts.ObjectType).objectFlags & this.T.ObjectFlags.Reference;
    return isReference ? this.checker.getTypeArguments(type as ts.TypeReference) : [];
  }

  /**
   * `x.on(name, ...)`, `once`, `waitForEvent`, `events(names)`: the event map,
   * the receiver's type argument for the class's `E` in `N extends keyof E`.
   */
  event(call: ts.CallExpression): { map: ts.Type; name: ts.Expression } | undefined {
    const T = this.T;
    const callee = call.expression;
    const name = call.arguments[0];
    if (!T.isPropertyAccessExpression(callee) || !EVENT_METHODS.has(callee.name.text) || !name) return undefined;
    const decl = this.checker.getSymbolAtLocation(callee.name)?.valueDeclaration;
    const cls = decl?.parent;
    if (!decl || !T.isMethodDeclaration(decl) || !cls || !T.isClassLike(cls) || !this.isOurs(decl)) return undefined;
    let keyed: string | undefined;
    const find = (n: ts.Node): void => {
      const op = T.isTypeOperatorNode(n) && n.operator === T.SyntaxKind.KeyOfKeyword ? n.type : undefined;
      if (op && T.isTypeReferenceNode(op) && T.isIdentifier(op.typeName)) keyed ??= op.typeName.text;
      else T.forEachChild(n, find);
    };
    const constraint = decl.typeParameters?.[0]?.constraint;
    if (constraint) find(constraint);
    const index = cls.typeParameters?.findIndex((p) => p.name.text === keyed) ?? -1;
    const map = index < 0 ? undefined : this.typeArguments(this.checker.getTypeAtLocation(callee.expression))[index];
    return map && { map, name };
  }

  /** A command's argument type in a command map (`C[K]['args']`). */
  argsType(map: ts.Type, command: string): ts.Type | undefined {
    const spec = this.checker.getPropertyOfType(map, command);
    const args = spec && this.checker.getPropertyOfType(this.checker.getTypeOfSymbol(spec), 'args');
    return args && this.checker.getNonNullableType(this.checker.getTypeOfSymbol(args));
  }
}

/** Finds what one release's program says about the user's files: the checker's view of deprecation. */
class DeprecationScanner {
  private readonly out: RawFinding[] = [];
  /** Literals already judged as command or event names. */
  private readonly judged = new Set<ts.Node>();
  /** literalValue() of an initializer, which is asked for each branch of a union. */
  private readonly values = new Map<ts.Node, string | number | undefined>();
  private readonly T: Ts;
  private readonly checker: ts.TypeChecker;
  private js = false;

  constructor(
    private readonly calls: ClientCalls,
    private readonly isGenerated: (decl: ts.Node) => boolean,
  ) {
    this.T = calls.T;
    this.checker = calls.checker;
  }

  scan(sf: ts.SourceFile): RawFinding[] {
    this.js = isJsFile(sf);
    this.visit(sf);
    return this.out;
  }

  private report(node: ts.Node, message: string, named = false): void {
    this.out.push({ pos: node.getStart(), kind: 'deprecated', message, named });
  }

  private visit = (node: ts.Node): void => {
    const T = this.T;
    // Imports name what the code uses: the uses are reported, not the import.
    if (T.isImportDeclaration(node) || T.isImportEqualsDeclaration(node) || T.isJSDocImportTag(node)) return;
    if (T.isCallExpression(node)) this.checkCall(node);
    if (T.isObjectLiteralExpression(node)) this.checkObjectLiteral(node);
    else if (T.isIdentifier(node) && !this.isLiteralPropertyName(node)) {
      if (!this.checkBinding(node)) this.checkSymbol(node);
    } else if (T.isStringLiteralLike(node) && !this.judged.has(node) && !this.isLiteralPropertyName(node)) {
      if (this.isPropertyKey(node)) this.checkSymbol(node);
      else this.checkEnumValue(node);
    }
    if (this.js) for (const doc of jsDocOf(node)) this.visit(doc);
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
    this.reportSymbol(node, symbol);
  }

  private reportSymbol(node: ts.Node, symbol: ts.Symbol | undefined): void {
    const text = this.deprecation(symbol);
    if (!symbol || text === undefined) return;
    const command = methodCommand(this.checker, symbol);
    if (command) this.report(node, `${symbol.name} (${command}) is deprecated: ${text}`, true);
    else this.report(node, `'${symbol.name}' is deprecated: ${text}`);
  }

  /**
   * `const { blockJobPause } = qmp.cmd`: the name is a local variable, the
   * property it comes from is what may be deprecated. (A renamed binding's
   * property name resolves to the property already.)
   */
  private checkBinding(node: ts.Identifier): boolean {
    const T = this.T;
    const el = node.parent;
    if (!T.isBindingElement(el) || el.propertyName || el.name !== node || !T.isObjectBindingPattern(el.parent)) {
      return false;
    }
    const from = this.checker.getTypeAtLocation(el.parent);
    this.reportSymbol(node, this.checker.getPropertyOfType(from, node.text));
    return true;
  }

  private checkCall(call: ts.CallExpression): void {
    const exec = this.calls.executed(call);
    if (exec) {
      if (this.T.isStringLiteralLike(exec.name)) this.judged.add(exec.name);
      const map = this.calls.commandMap(exec.receiver, exec.method);
      for (const name of exec.names) {
        const text = map && this.deprecation(this.checker.getPropertyOfType(map, name));
        if (text !== undefined) this.report(exec.name, `${name} is deprecated: ${text}`, true);
      }
    }
    const event = this.calls.event(call);
    for (const { node, value } of event ? this.calls.namesIn(event.name) : []) {
      if (this.T.isStringLiteralLike(node)) this.judged.add(node);
      const text = this.deprecation(this.checker.getPropertyOfType(event!.map, value));
      if (text !== undefined) this.report(node, `event ${value} is deprecated: ${text}`, true);
    }
  }

  /** A property's value, when its type is a literal (`'gluster'`, `'gluster' as const`, a const): it can select a union branch. */
  private literalValue(e: ts.ObjectLiteralElementLike): string | number | undefined {
    const T = this.T;
    if (!T.isPropertyAssignment(e)) return undefined;
    const init = e.initializer;
    if (T.isStringLiteralLike(init)) return init.text;
    if (T.isNumericLiteral(init)) return Number(init.text);
    // Only what may hold a literal: asking the type of an object or array literal checks it again, every time.
    const simple =
      T.isIdentifier(init) ||
      T.isAsExpression(init) ||
      T.isSatisfiesExpression(init) ||
      T.isParenthesizedExpression(init) ||
      T.isPropertyAccessExpression(init) ||
      T.isPrefixUnaryExpression(init);
    if (!simple) return undefined;
    if (!this.values.has(init)) {
      const type = this.checker.getTypeAtLocation(init);
      this.values.set(init, type.isStringLiteral() || type.isNumberLiteral() ? type.value : undefined);
    }
    return this.values.get(init);
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
        const name = DeprecationScanner.propertyName(this.T, e);
        const value = name === undefined ? undefined : this.literalValue(e);
        const prop = value !== undefined ? this.checker.getPropertyOfType(t, name!) : undefined;
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
      const value = tag && this.literalValue(tag);
      if (tag && this.T.isPropertyAssignment(tag) && value !== undefined) {
        const shown = typeof value === 'string' ? `'${value}'` : String(value);
        this.report(tag.initializer, `${tag.name.getText()}: ${shown} is deprecated: ${text}`);
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
    if (name === undefined || this.literalValue(e) === undefined) return false;
    const prop = this.checker.getPropertyOfType(branch, name);
    return !!prop && (this.literalSet(this.checker.getTypeOfSymbol(prop))?.length ?? 0) > 0;
  }

  /**
   * An enum value: a string literal whose type is a generated alias of a union
   * of literals, where the matching member carries a `@deprecated` comment
   * (TypeScript attaches no JSDoc to union members, so the comment is read).
   */
  private checkEnumValue(lit: ts.StringLiteralLike): void {
    const T = this.T;
    const aliases = new Set<ts.TypeAliasDeclaration>();
    const addSymbol = (s: ts.Symbol | undefined): void => {
      if (s && s.flags & T.SymbolFlags.Alias) s = this.checker.getAliasedSymbol(s);
      for (const d of s?.getDeclarations() ?? [])
        if (T.isTypeAliasDeclaration(d) && this.isGenerated(d)) aliases.add(d);
    };
    const ctx = this.checker.getContextualType(lit);
    addSymbol(ctx?.aliasSymbol);
    // An optional member's type is `Alias | undefined`, which has lost the alias: read its declaration.
    let holder: ts.Node = lit.parent;
    while (T.isAsExpression(holder) || T.isSatisfiesExpression(holder) || T.isParenthesizedExpression(holder)) {
      holder = holder.parent;
    }
    if (T.isArrayLiteralExpression(holder)) holder = holder.parent;
    if (T.isPropertyAssignment(holder) && T.isObjectLiteralExpression(holder.parent)) {
      const name = DeprecationScanner.propertyName(T, holder);
      const branches = name === undefined ? [] : this.branches(holder.parent).kept;
      for (const d of branches.flatMap((t) => this.checker.getPropertyOfType(t, name!)?.getDeclarations() ?? [])) {
        if (T.isPropertySignature(d) && d.type) this.aliasesOf(d.type, addSymbol);
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

/**
 * Members of an argument object given as a variable or expression (not a
 * literal in place, which the compiler checks for excess properties) that
 * the command's arguments do not have in this release: QEMU rejects them.
 */
function missingMembers(calls: ClientCalls, sf: ts.SourceFile, release: string): RawFinding[] {
  const { T, checker } = calls;
  const F = T.TypeFlags;
  const out: RawFinding[] = [];
  /** The member names a type allows, or undefined when it allows any. */
  const allowed = (type: ts.Type): Set<string> | undefined => {
    const names = new Set<string>();
    for (const t of type.isUnion() ? type.types : [type]) {
      if (!(t.flags & (F.Object | F.Intersection)) || checker.getIndexInfosOfType(t).length) return undefined;
      for (const p of checker.getPropertiesOfType(t)) names.add(p.name);
    }
    return names;
  };
  const check = (command: string, map: ts.Type | undefined, args: ts.Expression | undefined): void => {
    let bare = args;
    while (bare && T.isParenthesizedExpression(bare)) bare = bare.expression;
    if (!args || !bare || T.isObjectLiteralExpression(bare)) return;
    const expected = map && calls.argsType(map, command);
    const names = expected && allowed(expected);
    const given = checker.getTypeAtLocation(args);
    if (!names || given.flags & (F.Any | F.Unknown | F.Never)) return;
    for (const p of checker.getPropertiesOfType(checker.getApparentType(given))) {
      if (names.has(p.name) || p.name.startsWith('__@')) continue;
      out.push({
        pos: args.getStart(),
        kind: 'error',
        member: p.name,
        named: true,
        message: `member '${p.name}' is not in ${command}'s arguments in ${release}`,
      });
    }
  };
  const visit = (node: ts.Node): void => {
    if (T.isCallExpression(node)) {
      const exec = calls.executed(node);
      const method = exec ? undefined : calls.method(node);
      if (exec) for (const name of exec.names) check(name, calls.commandMap(exec.receiver, exec.method), exec.args);
      else if (method) check(method.command, method.map, method.args);
    }
    T.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Calls that run a command (`execute('x')`, `cmd.x()`) on a qapi-ts client, as the project has them, for labels. */
function commandCalls(calls: ClientCalls, sf: ts.SourceFile): CommandCall[] {
  const T = calls.T;
  const out: CommandCall[] = [];
  const visit = (node: ts.Node): void => {
    if (T.isCallExpression(node)) {
      let command = calls.executed(node)?.names.join('|') || calls.method(node)?.command;
      const callee = node.expression;
      if (
        !command &&
        T.isPropertyAccessExpression(callee) &&
        T.isPropertyAccessExpression(callee.expression) &&
        callee.expression.name.text === 'cmd' &&
        calls.declaredByUs(callee.expression.name)
      ) {
        command = `cmd.${callee.name.text}`;
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

/** One project's results, per release: checked, or skipped with a reason. */
interface ProjectCheck {
  project: string;
  imports: string[];
  checked: Map<string, CompatReleaseReport>;
  skipped: Map<string, string>;
}

interface CheckContext {
  morph: TsMorph;
  cwd: string;
  releases: string[];
  known: Record<Family, string[]>;
  errorsOnly: boolean;
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

  const morph = await loadTsMorph(cwd);
  const configs = projectsOf(morph.ts, tsconfig, cwd);
  const ctx: CheckContext = { morph, cwd, releases, known, errorsOnly: options.errorsOnly ?? false };
  const checks = configs.map((c) => checkProject(ctx, c));
  const report = merge(slash(path.relative(cwd, tsconfig)), checks, releases);
  if (configs.length !== 1 || path.resolve(configs[0]) !== tsconfig) report.projects = checks.map((c) => c.project);
  if (options.errorsOnly) report.errorsOnly = true;
  return report;
}

/** The projects' results as one report: a release is checked if any project checked it. */
function merge(project: string, checks: ProjectCheck[], releases: string[]): CompatReport {
  const imports = [...new Set(checks.flatMap((c) => c.imports))].sort();
  const report: CompatReport = { project, imports, releases: [], skipped: [] };
  const unique = <T>(items: T[]): T[] => {
    const seen = new Set<string>();
    return items.filter((i) => {
      const key = JSON.stringify(i);
      return !seen.has(key) && !!seen.add(key);
    });
  };
  const importing = checks.filter((c) => c.imports.length);
  const label = (c: ProjectCheck, reason: string): string => (checks.length > 1 ? `${c.project}: ${reason}` : reason);
  for (const release of releases) {
    const done = checks.flatMap((c) => c.checked.get(release) ?? []);
    const notDone = importing.filter((c) => c.skipped.has(release));
    if (!done.length) {
      const reason = importing.length ? notDone.map((c) => label(c, c.skipped.get(release)!)).join('; ') : NO_IMPORTS;
      report.skipped.push({ release, reason });
      continue;
    }
    // A file in two projects is found twice.
    const findings = unique(done.flatMap((r) => r.findings));
    const partial = unique([
      ...done.flatMap((r) => r.partial ?? []),
      ...notDone.map((c) => ({ imports: c.imports, reason: label(c, c.skipped.get(release)!) })),
    ]);
    report.releases.push({ release, findings: findings.sort(compareFindings), ...(partial.length ? { partial } : {}) });
  }
  return report;
}

function checkProject(ctx: CheckContext, tsconfig: string): ProjectCheck {
  const { morph, cwd, known } = ctx;
  const { Project: ProjectClass, ts: T } = morph;
  const result: ProjectCheck = {
    project: slash(path.relative(cwd, tsconfig)),
    imports: [],
    checked: new Map(),
    skipped: new Map(),
  };
  // Dependencies come and go with the release: the program finds them.
  const project: Project = new ProjectClass({ tsConfigFilePath: tsconfig, skipFileDependencyResolution: true });
  const baseline = project.getProgram().compilerObject;
  const compilerOptions = baseline.getCompilerOptions();
  const resolver = new Resolver(T, compilerOptions);

  // The program's sources but libraries: the tsconfig's files and the files they import.
  const sources = baseline
    .getSourceFiles()
    .filter(
      (sf) =>
        !baseline.isSourceFileDefaultLibrary(sf) &&
        !baseline.isSourceFileFromExternalLibrary(sf) &&
        !sf.fileName.includes('/node_modules/') &&
        !sf.fileName.endsWith('.json'),
    )
    .map((sf) => ({ sf, ...(MENTIONS_US.test(sf.text) ? findSpecifiers(T, sf) : { pinned: [], other: [] }) }));
  // Where the pinned imports resolve (.../generated/qemu-10.2/index.d.ts): that package's files are not the user's.
  const generated = new Set<string>();
  const ours = new Set<string>();
  for (const { sf, pinned } of sources) {
    for (const s of pinned) {
      const to = resolver.resolve(sf, s.literal, s.literal.text);
      if (!to) continue;
      const dir = path.posix.dirname(path.posix.dirname(to));
      if (path.posix.basename(dir) !== 'generated') {
        generated.add(to);
        ours.add(to);
        continue;
      }
      generated.add(dir + '/');
      ours.add(dir + '/');
      ours.add(path.posix.join(path.posix.dirname(dir), 'runtime') + '/');
    }
  }
  const under = (dirs: Set<string>) => (decl: ts.Node | string) => {
    const name = typeof decl === 'string' ? decl : decl.getSourceFile().fileName;
    for (const d of dirs) if (name.startsWith(d)) return true;
    return false;
  };
  const isGenerated = under(generated);
  const isOurs = under(ours);

  const baseCalls = new ClientCalls(T, baseline.getTypeChecker(), isOurs);
  const files: UserFile[] = [];
  const morphFiles = new Map<string, SourceFile>();
  const unresolved: string[] = [];
  for (const { sf, pinned, other } of sources) {
    const msf = project.getSourceFile(sf.fileName);
    if (isOurs(sf.fileName) || !msf) continue;
    const text = sf.text;
    files.push({
      path: sf.fileName,
      rel: slash(path.relative(cwd, sf.fileName)),
      text,
      lineStarts: lineStartsOf(text),
      base: sf,
      specifiers: pinned,
      calls: commandCalls(baseCalls, sf),
      edits: [],
    });
    morphFiles.set(sf.fileName, msf);
    // An import of qapi-ts that does not resolve types everything from it as `any`: nothing could be found.
    const literals = [...pinned.filter((s) => !s.ambient).map((s) => s.literal), ...other];
    for (const literal of literals.filter((l) => !resolver.resolve(sf, l, l.text))) {
      unresolved.push(`${where(files[files.length - 1], literal.getStart(sf))}: '${literal.text}'`);
    }
  }
  if (unresolved.length) {
    const blind = exportsBlindResolution(T, compilerOptions);
    const hints = [
      'is qapi-ts installed (npm install qapi-ts), and built (npm run build) if it is a clone?',
      ...(blind ? [`moduleResolution ${blind} ignores package "exports": use node16, nodenext or bundler`] : []),
    ];
    throw new CompatUsageError(
      `${result.project}: import${unresolved.length > 1 ? 's' : ''} of qapi-ts not resolved: ${unresolved.join(', ')}\n` +
        hints.map((h) => `  ${h}`).join('\n'),
    );
  }

  result.imports = [
    ...new Set(files.flatMap((f) => f.specifiers.map((s) => `qapi-ts/${s.family}-${s.release}`))),
  ].sort();
  const families = FAMILIES.filter((fam) => files.some((f) => f.specifiers.some((s) => s.family === fam)));
  if (!families.length) {
    for (const r of ctx.releases) result.skipped.set(r, NO_IMPORTS);
    return result;
  }

  const errorKey = (file: UserFile, f: RawFinding): string =>
    `${file.path}\0${toOriginal(file, f.pos)}\0${f.code ?? f.member}`;
  const baseErrors = new Set<string>();
  for (const file of files) {
    const sf = baseline.getSourceFile(file.path)!;
    for (const d of [...diagnosticsOf(T, baseline, sf), ...missingMembers(baseCalls, sf, '')]) {
      baseErrors.add(errorKey(file, d));
    }
  }

  const finding = (file: UserFile, f: RawFinding): CompatFinding => {
    const pos = toOriginal(file, f.pos);
    const command = f.named ? undefined : commandAt(file, pos);
    const message = command ? `${command}: ${f.message}` : f.message;
    return { file: file.rel, ...lineAndColumn(file, pos), kind: f.kind, message, ...(f.code ? { code: f.code } : {}) };
  };

  for (const release of ctx.releases) {
    const moving = families.filter((f) => known[f].includes(release));
    const lacking = families.filter((f) => !known[f].includes(release));
    if (!moving.length) {
      const names = lacking.map((f) => `${f}-${release}`);
      result.skipped.set(release, `${names.join(', ')} ${names.length > 1 ? 'do' : 'does'} not exist`);
      continue;
    }
    const moved = (s: Specifier): boolean => moving.includes(s.family) && s.release !== release;
    // This command knows the release, the qapi-ts the project has may not.
    const missing = files
      .flatMap((f) => f.specifiers.filter((s) => moved(s) && !s.ambient).map((s) => ({ f, s })))
      .find(({ f, s }) => !resolver.resolve(f.base, s.literal, `qapi-ts/${s.family}-${release}`));
    if (missing) {
      const spec = `qapi-ts/${missing.s.family}-${release}`;
      result.skipped.set(
        release,
        `${spec} does not resolve (for ${where(missing.f, missing.s.start - 1)}): the installed qapi-ts does not have it`,
      );
      continue;
    }
    const partial: CompatPartial[] = lacking.map((fam) => ({
      imports: result.imports.filter((i) => i.startsWith(`qapi-ts/${fam}-`)),
      reason: `${fam}-${release} does not exist`,
    }));
    const changed = files.filter((f) => f.specifiers.some(moved));
    try {
      for (const file of changed) retarget(file, release, moved, morphFiles.get(file.path)!);
      const program = changed.length ? project.getProgram().compilerObject : baseline;
      const calls = new ClientCalls(T, program.getTypeChecker(), isOurs);
      const findings: CompatFinding[] = [];
      const seen = new Set<string>();
      for (const file of files) {
        const sf = program.getSourceFile(file.path)!;
        const raw = [...diagnosticsOf(T, program, sf), ...missingMembers(calls, sf, release)].filter(
          (d) => !baseErrors.has(errorKey(file, d)),
        );
        if (!ctx.errorsOnly) raw.push(...new DeprecationScanner(calls, isGenerated).scan(sf));
        for (const f of raw) {
          const out = finding(file, f);
          // One deprecation per place (a tag value may be both a deprecated branch and enum value).
          const key = `${out.file}:${out.line}:${out.column}:${out.kind}:${out.code ?? ''}:${f.member ?? ''}`;
          if (!seen.has(key)) findings.push(out);
          seen.add(key);
        }
      }
      const report: CompatReleaseReport = { release, findings: findings.sort(compareFindings) };
      if (partial.length) report.partial = partial;
      result.checked.set(release, report);
    } finally {
      for (const file of changed) restore(file, morphFiles.get(file.path)!);
    }
  }
  return result;
}

/** Points the file's pinned imports that `moved` selects at `release`, in memory. */
function retarget(file: UserFile, release: string, moved: (s: Specifier) => boolean, msf: SourceFile): void {
  let text = '';
  let last = 0;
  file.edits = [];
  for (const s of [...file.specifiers].sort((a, b) => a.start - b.start)) {
    if (!moved(s)) continue;
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
  const project = report.projects ? `${report.project} (${report.projects.join(', ')})` : report.project;
  lines.push(`${project}: ${report.imports.length ? report.imports.join(', ') : 'no pinned qapi-ts import'}`);
  for (const r of report.releases) {
    const errors = r.findings.filter((f) => f.kind === 'error').length;
    const deprecated = r.findings.length - errors;
    const counts = [
      errors ? `${errors} error${errors > 1 ? 's' : ''}` : '',
      deprecated ? `${deprecated} deprecated use${deprecated > 1 ? 's' : ''}` : '',
    ].filter(Boolean);
    // What type-checks may still fail at run time (a value QEMU refuses): no promise of compatibility.
    const none = report.errorsOnly ? 'no new type errors' : 'no new type errors, nothing deprecated';
    lines.push(`release ${r.release}${r.partial ? ' (partial)' : ''}: ${counts.length ? counts.join(', ') : none}`);
    for (const p of r.partial ?? []) lines.push(`  not checked: ${p.imports.join(', ')}: ${p.reason}`);
    for (const f of r.findings) {
      const what = f.kind === 'error' ? (f.code ? `error TS${f.code}` : 'error') : 'deprecated';
      lines.push(`  ${f.file}:${f.line}:${f.column}: ${what}: ${f.message}`);
    }
  }
  for (const s of report.skipped) lines.push(`release ${s.release}: skipped: ${s.reason}`);
  return lines.join('\n') + '\n';
}

const USAGE_LINE = 'usage: qapi-ts compat [--project tsconfig.json] [--releases 7.2,10.0,...] [--errors-only] [--json]';
const HELP = `${USAGE_LINE}

Type-checks a TypeScript project with its qapi-ts/qemu-X (qga-X, qsd-X) imports
pointed at each release in memory, and lists per release the new type errors and
the uses of something deprecated there, as file:line:col.

  --project FILE   the tsconfig, or its directory (default: ./tsconfig.json); a
                   solution (no files, references) stands for its references
  --releases LIST  the releases to check (default: every qemu release)
  --errors-only    new type errors only, not deprecated uses
  --json           the report as JSON

Exit codes: 0 nothing found; 1 something found, or a release given in
--releases could not be checked; 2 usage error (an option, the tsconfig, a
pinned import that does not resolve, ts-morph missing); 3 internal error.

Examples:
  npm install --save-dev ts-morph
  qapi-ts compat --releases 7.2,11.1
  qapi-ts compat --project packages/vmctl/tsconfig.json --errors-only --json`;

export const COMPAT_HELP = HELP;
export const COMPAT_SYNOPSIS = USAGE_LINE.replace('usage: qapi-ts ', '');

/** `qapi-ts compat ...`: see HELP for the exit status. */
export async function compatCommand(
  argv: string[],
  io: { out(t: string): void; err(t: string): void },
): Promise<number> {
  const options: CompatOptions = {};
  let json = false;
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(HELP + '\n');
      return 0;
    }
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      const eq = arg.indexOf('=');
      const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
      const value = (): string => {
        const v = eq > 0 && flag !== arg ? arg.slice(eq + 1) : argv[++i];
        if (v === undefined || v === '') throw new CompatUsageError(`${flag} needs a value`);
        // `--project --json`: an option where the value should be (a path like that is written ./--x).
        if (v.startsWith('--')) throw new CompatUsageError(`${flag} needs a value (got ${v})`);
        return v;
      };
      const noValue = (): void => {
        if (flag !== arg) throw new CompatUsageError(`${flag} takes no value`);
      };
      if (flag === '--json') {
        noValue();
        json = true;
      } else if (flag === '--errors-only') {
        noValue();
        options.errorsOnly = true;
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
    const found = report.releases.some((r) => r.findings.length);
    // A release asked for by name that could not be checked at all is not a pass.
    const missed = options.releases !== undefined && report.skipped.length > 0;
    return found || missed ? 1 : 0;
  } catch (e) {
    if (e instanceof CompatUsageError) {
      io.err(`qapi-ts compat: ${e.message}\n${USAGE_LINE}\n`);
      return 2;
    }
    io.err(`qapi-ts compat: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}
