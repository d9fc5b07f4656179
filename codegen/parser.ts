/**
 * The QAPI schema parser: a faithful port of QEMU's QAPISchemaParser
 * (scripts/qapi/parser.py). It reads the JSON-like expressions, follows
 * includes, applies pragmas and turns doc comments into QapiDoc objects.
 * Grammar of the definitions themselves is left to expr.ts.
 *
 * Two doc-comment dialects: 'modern' follows QEMU 10.2 (rST text, Errors:
 * sections, 70 columns, two spaces between sentences), 'legacy' QEMU 7.2
 * (Note:/Example: sections, '= Heading' lines splitting free-form blocks);
 * 'auto' also knows QEMU 10.0's variant of modern (see DocRules).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DocDialect, ParseOptions, ParseResult, QapiDict, QapiExpression, QapiValue } from './expressions.js';
import { DocArgSection, QapiDoc, type DocSection } from './doc.js';
import { QapiError, QapiParseError, QapiSemanticError, QapiSourceError } from './errors.js';
import {
  codePointLength,
  Lexer,
  type TokenKind,
  normalizeSource,
  PY_WHITESPACE,
  pyIndent,
  pyRstrip,
  pyStrip,
} from './lexer.js';
import { SourceInfo } from './source.js';

export { tokenize, type Token, type TokenKind } from './lexer.js';

/**
 * Which QEMU's doc-comment rules to apply. The public dialects map onto these:
 * 'modern' is QEMU 10.2, 'legacy' QEMU 7.2. QEMU 10.0 wrote the modern syntax
 * but predates the line-format rules (70 columns, two spaces between sentences)
 * and instead restricted '= Heading' lines; 'auto' needs it for 10.0's schemas.
 */
export interface DocRules {
  readonly dialect: DocDialect;
  /** QEMU 10.1+: lines of at most 70 columns, two spaces between sentences. */
  readonly lineFormat: boolean;
  /** QEMU 9.x-10.0: '=' lines only as the first line of a free-form block. */
  readonly headings: boolean;
}

export const QEMU_10_2_RULES: DocRules = { dialect: 'modern', lineFormat: true, headings: false };
export const QEMU_10_0_RULES: DocRules = { dialect: 'modern', lineFormat: false, headings: true };
export const QEMU_7_2_RULES: DocRules = { dialect: 'legacy', lineFormat: false, headings: false };

export interface SchemaParseResult extends ParseResult {
  /** The rules the schema was read with ('auto' may pick QEMU 10.0's, which skip the line-format checks). */
  readonly rules: DocRules;
}

/**
 * Parse a schema file and everything it includes.
 *
 * With dialect 'auto' the strictest rules are tried first (QEMU 10.2's); a
 * line-format error leads to a second try with QEMU 10.0's, and a failure in a
 * schema whose text shows the old syntax (`# Note:`, `# Example:`...) to one
 * with QEMU 7.2's (whose verdict then stands). A schema is thus accepted when
 * the QEMU generation it was written for accepts it; otherwise the error is
 * QEMU 10.2's.
 *
 * @throws QapiSourceError for errors in the schema (with file, line and usually column),
 *   QapiError when the main file cannot be read.
 */
export function parseSchema(file: string, options: ParseOptions = {}): SchemaParseResult {
  const read = options.readFile ?? readUtf8File;
  const dialect = options.dialect ?? 'modern';
  if (dialect !== 'auto')
    return parseSchemaWithRules(file, dialect === 'legacy' ? QEMU_7_2_RULES : QEMU_10_2_RULES, read);

  // Sources are cached so that another attempt does not read the files again.
  const cache = new Map<string, string>();
  const cachedRead = (p: string): string => {
    let text = cache.get(p);
    if (text === undefined) {
      text = read(p);
      cache.set(p, text);
    }
    return text;
  };
  let error: unknown;
  try {
    return parseSchemaWithRules(file, QEMU_10_2_RULES, cachedRead);
  } catch (e) {
    error = e;
  }
  if (error instanceof QapiParseError && error.lineFormat) {
    try {
      return parseSchemaWithRules(file, QEMU_10_0_RULES, cachedRead);
    } catch {
      // Not a QEMU 10.0 schema either: QEMU 10.2's error is the one to report.
    }
  }
  // Only positive evidence of the old syntax in what was read leads to the
  // legacy rules, so a modern schema with a genuine doc error gets that error.
  if (error instanceof QapiSourceError && [...cache.values()].some(looksLegacy)) {
    return parseSchemaWithRules(file, QEMU_7_2_RULES, cachedRead);
  }
  throw error;
}

/** parseSchema with explicit rules (for tools comparing against a given QEMU release). */
export function parseSchemaWithRules(
  file: string,
  rules: DocRules,
  readFile: (path: string) => string = readUtf8File,
): SchemaParseResult {
  return new SchemaReader(readFile, rules).run(file);
}

/** A doc line opening a section QEMU 9.x and later reject: `# Note:`, `# Examples:`... */
const LEGACY_MARKER = /^# (?:Notes?|Examples?):(?!:)/m;

/** Does this text use doc syntax only the legacy dialect accepts? (What 'auto' looks for.) */
export function looksLegacy(text: string): boolean {
  return LEGACY_MARKER.test(text);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Read like Python's open(encoding='utf-8'): a byte-order mark is kept, bad UTF-8 is an error. */
function readUtf8File(p: string): string {
  return UTF8.decode(readFileSync(p));
}

function describeReadError(e: unknown): string {
  if (e instanceof TypeError) return 'not valid UTF-8';
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** Python's os.path.dirname. */
function pyDirname(p: string): string {
  const head = p.slice(0, p.lastIndexOf('/') + 1);
  return head && !/^\/+$/.test(head) ? head.replace(/\/+$/, '') : head;
}

/** Python's os.path.join of two parts: no normalization, an absolute second part wins. */
function pyJoin(dir: string, name: string): string {
  if (name.startsWith('/') || dir === '') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** State shared by a file and the files it includes. */
class SchemaReader {
  readonly included = new Set<string>();
  readonly files: string[] = [];

  constructor(
    readonly read: (path: string) => string,
    readonly rules: DocRules,
  ) {}

  run(file: string): SchemaParseResult {
    let text: string;
    try {
      text = this.read(file);
    } catch (e) {
      throw new QapiError(`can't read schema file '${file}': ${describeReadError(e)}`);
    }
    const parser = new FileParser(this, file, undefined, text);
    return {
      exprs: parser.exprs,
      docs: parser.docs,
      files: this.files,
      dialect: this.rules.dialect,
      rules: this.rules,
    };
  }
}

const AT_NAME_COLON = /^@([^:]*): */;
const SECTION_TAG = /^(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): */;
const LITERAL_BLOCK_START = /^(?:\.\. +qmp-example)? *::$/;
const URL_LINE = /^ *(?:https?|ftp):\/\/[^ ]*$/;
// One space after a sentence: Python's \b and \d are Unicode-aware, hence the lookbehind and \p{Nd}.
const ONE_SPACE_AFTER_SENTENCE = /(?:(?<![\p{L}\p{N}_])e\.g\.|^ *\p{Nd}\.|([.!?])) [A-Z0-9(]/gu;
const LEGACY_TAGS = new Set(['Returns:', 'Since:', 'Note:', 'Notes:', 'Example:', 'Examples:', 'TODO:']);
const LEGACY_FREEFORM_AT = new RegExp(`^(@[^${PY_WHITESPACE}]+:)`);
const LEGACY_ARG_PREFIX = new RegExp(`^@[^${PY_WHITESPACE}]*:[${PY_WHITESPACE}]*`);
const LEGACY_TAG_PREFIX = new RegExp(`^[^${PY_WHITESPACE}]*:[${PY_WHITESPACE}]*`);

type TaggedKind = 'returns' | 'errors' | 'since' | 'todo';
const TAG_KIND: Record<string, TaggedKind> = { Returns: 'returns', Errors: 'errors', Since: 'since', TODO: 'todo' };

/** One file: QEMU creates one QAPISchemaParser per file, too. */
class FileParser {
  readonly exprs: QapiExpression[] = [];
  readonly docs: QapiDoc[] = [];
  private readonly lx: Lexer;
  /** Inside a `::` literal block or `.. qmp-example::` directive, where line-format rules are off. */
  private literal = false;
  private literalIndent = 0;

  constructor(
    private readonly reader: SchemaReader,
    private readonly file: string,
    includedFrom: SourceInfo | undefined,
    text: string,
  ) {
    reader.included.add(path.resolve(file));
    reader.files.push(file);
    this.lx = new Lexer(normalizeSource(text), new SourceInfo(file, includedFrom), reader.rules.dialect === 'legacy');
    this.parse();
  }

  private parse(): void {
    const lx = this.lx;
    const legacy = this.reader.rules.dialect === 'legacy';
    let curDoc: QapiDoc | undefined;
    lx.next();
    while (lx.kind !== 'eof') {
      const info = lx.info;
      if (lx.kind === 'comment') {
        rejectExprDoc(curDoc);
        if (legacy) {
          for (const doc of this.readLegacyDoc(info)) {
            this.docs.push(doc);
            curDoc = doc;
          }
        } else {
          curDoc = this.readDoc();
          this.docs.push(curDoc);
        }
        continue;
      }

      const exprInfo = info.clone();
      exprInfo.col = lx.column();
      const expr = this.value();
      if (!(expr instanceof Map)) throw new QapiSemanticError(info, 'a top-level expression must be an object');

      if (expr.has('include')) {
        rejectExprDoc(curDoc);
        if (expr.size !== 1) throw new QapiSemanticError(info, "an 'include' directive takes no other key");
        const include = expr.get('include');
        if (typeof include !== 'string') throw new QapiSemanticError(info, "the value of 'include' must be a string");
        const inclFile = pyJoin(pyDirname(this.file), include);
        // Kept in the result (repeats too) so the model knows which module includes which.
        this.exprs.push({ expr: new Map([['include', inclFile]]), info, doc: undefined });
        const sub = this.include(include, info, inclFile);
        if (sub) {
          for (const e of sub.exprs) this.exprs.push(e);
          for (const d of sub.docs) this.docs.push(d);
        }
      } else if (expr.has('pragma')) {
        rejectExprDoc(curDoc);
        if (expr.size !== 1) throw new QapiSemanticError(info, "a 'pragma' directive takes no other key");
        const pragma = expr.get('pragma');
        if (!(pragma instanceof Map)) throw new QapiSemanticError(info, "the value of 'pragma' must be an object");
        for (const [name, value] of pragma) applyPragma(name, value, info);
      } else {
        if (curDoc && !curDoc.symbol) {
          throw new QapiSemanticError(curDoc.info, "a definition's doc comment must start with '@NAME:'");
        }
        this.exprs.push({ expr, info: exprInfo, doc: curDoc });
      }
      curDoc = undefined;
    }
    rejectExprDoc(curDoc);
  }

  private include(include: string, info: SourceInfo, inclFile: string): FileParser | undefined {
    const abs = path.resolve(inclFile);
    for (let inf: SourceInfo | undefined = info; inf; inf = inf.parent) {
      if (abs === path.resolve(inf.file))
        throw new QapiSemanticError(info, `inclusion loop: '${include}' is already being read`);
    }
    if (this.reader.included.has(abs)) return undefined;
    let text: string;
    try {
      text = this.reader.read(inclFile);
    } catch (e) {
      throw new QapiSemanticError(info, `can't read included file '${inclFile}': ${describeReadError(e)}`);
    }
    return new FileParser(this.reader, inclFile, info, text);
  }

  // --- Expressions -------------------------------------------------------

  /** The current token kind (a call, so TypeScript does not keep it narrowed across lx.next()). */
  private tok(): TokenKind {
    return this.lx.kind;
  }

  private value(): QapiValue {
    const lx = this.lx;
    switch (this.lx.kind) {
      case '{':
        lx.next();
        return this.members();
      case '[':
        lx.next();
        return this.values();
      case 'string':
      case 'bool': {
        const v = lx.value as string | boolean;
        lx.next();
        return v;
      }
      default:
        throw lx.error("expected '{', '[', a string or a boolean");
    }
  }

  private members(): QapiDict {
    const lx = this.lx;
    const dict: QapiDict = new Map();
    if (this.tok() === '}') {
      lx.next();
      return dict;
    }
    if (this.tok() !== 'string') throw lx.error("expected a string key or '}'");
    for (;;) {
      const key = lx.value as string;
      lx.next();
      if (this.tok() !== ':') throw lx.error("expected ':' after the key");
      lx.next();
      if (dict.has(key)) throw lx.error(`key '${key}' appears twice`);
      dict.set(key, this.value());
      if (this.tok() === '}') {
        lx.next();
        return dict;
      }
      if (this.tok() !== ',') throw lx.error("expected ',' or '}'");
      lx.next();
      if (this.tok() !== 'string') throw lx.error('expected a string key');
    }
  }

  private values(): QapiValue[] {
    const lx = this.lx;
    const list: QapiValue[] = [];
    if (this.tok() === ']') {
      lx.next();
      return list;
    }
    if (this.tok() !== '{' && this.tok() !== '[' && this.tok() !== 'string' && this.tok() !== 'bool') {
      throw lx.error("expected '{', '[', ']', a string or a boolean");
    }
    for (;;) {
      list.push(this.value());
      if (this.tok() === ']') {
        lx.next();
        return list;
      }
      if (this.tok() !== ',') throw lx.error("expected ',' or ']'");
      lx.next();
    }
  }

  // --- Doc comments, modern dialect (QEMU 10.2) ---------------------------

  /** The current doc line without '# ' and trailing blanks, '' for a bare '#', null at the closing '##'. */
  private docLine(): string | null {
    const lx = this.lx;
    if (lx.kind !== 'comment') throw lx.error("doc comment is not closed with '##'");
    const val = lx.value as string;
    if (val.startsWith('##')) {
      if (val !== '##') throw lx.error("text after the closing '##' of a doc comment");
      this.literal = false;
      return null;
    }
    if (val === '#') return '';
    if (val.charCodeAt(1) !== 0x20) throw lx.error("doc comment line needs a space after '#'");
    const line = pyRstrip(val.slice(2));

    if (LITERAL_BLOCK_START.test(line)) {
      this.literal = true;
      this.literalIndent = 0;
    } else if (this.literal && line) {
      const indent = pyIndent(line);
      if (this.literalIndent === 0) this.literalIndent = indent;
      else if (indent < this.literalIndent) this.literal = false; // rST blocks end where indentation decreases
    }
    if (!this.literal && this.reader.rules.lineFormat) this.checkDocLineFormat(line);
    return line;
  }

  private checkDocLineFormat(line: string): void {
    const lx = this.lx;
    if (line.length + 2 > 70 && codePointLength(line) + 2 > 70 && !URL_LINE.test(line)) {
      throw lineFormatError(lx.error('doc comment line is longer than 70 columns'));
    }
    ONE_SPACE_AFTER_SENTENCE.lastIndex = 0;
    for (let m; (m = ONE_SPACE_AFTER_SENTENCE.exec(line));) {
      if (m[1] === undefined) continue;
      // QEMU points just past the punctuation, counting from the start of the line plus '# '.
      const points = codePointLength(line.slice(0, m.index)) + 3;
      const msg = 'only one space between sentences (use two; if this is no sentence end, report a bug)';
      throw lineFormatError(lx.error(msg, advance(lx.src, lx.lineStart, points)));
    }
  }

  private nextDocLine(): string | null {
    this.lx.next(false);
    return this.docLine();
  }

  /** Text of an argument or tagged section: the rest of its first line, then lines indented more. */
  private docIndented(doc: QapiDoc): string | null {
    let line = this.nextDocLine();
    while (line === '') {
      doc.appendLine(line);
      line = this.nextDocLine();
    }
    if (line === null) return null;
    const indent = pyIndent(line);
    if (!indent) return line;
    doc.appendLine(line);
    // QEMU sets its "previous line was blank" flag after every line, so only
    // the line right after the first indented one can be a de-indent error.
    let afterFirst = false;
    for (;;) {
      line = this.nextDocLine();
      if (line === null) return null;
      if (AT_NAME_COLON.test(line)) return line;
      if (line !== '' && pyIndent(line) < indent) {
        if (afterFirst) return line;
        throw this.lx.error(`line is indented less than the section (at least ${indent} spaces expected)`);
      }
      doc.appendLine(line);
      afterFirst = true;
    }
  }

  private docParagraph(doc: QapiDoc): string | null {
    for (;;) {
      const line = this.nextDocLine();
      if (line === null || line === '') return line;
      doc.appendLine(line);
    }
  }

  private readDoc(): QapiDoc {
    const lx = this.lx;
    if (lx.value !== '##') throw lx.error("text after the opening '##' of a doc comment");
    const info = lx.info;
    let line = this.nextDocLine();
    let doc: QapiDoc;
    if (line !== null && line.startsWith('@')) {
      // Definition documentation; expr.ts checks that the name matches the definition.
      if (!line.endsWith(':')) throw lx.error("the '@NAME' line must end with ':'");
      const symbol = line.slice(1, -1);
      if (!symbol) throw lx.error("a name is missing after '@'");
      doc = new QapiDoc(info, symbol);
      line = this.nextDocLine();
      let noMoreArgs = false;
      while (line !== null) {
        while (line === '') line = this.nextDocLine();
        if (line === null) break;
        let m: RegExpExecArray | null;
        if (line === 'Features:') {
          if (doc.features.size) throw lx.error("a second 'Features:' line");
          line = this.nextDocLine();
          while (line === '') line = this.nextDocLine();
          while (line !== null && (m = AT_NAME_COLON.exec(line))) {
            doc.newFeature(lx.info, m[1]);
            const text = line.slice(m[0].length);
            if (text) doc.appendLine(text);
            line = this.docIndented(doc);
          }
          if (!doc.features.size) throw lx.error("'Features:' must be followed by '@FEATURE:' descriptions");
          noMoreArgs = true;
        } else if ((m = AT_NAME_COLON.exec(line))) {
          if (noMoreArgs) throw lx.error(`'@${m[1]}:' comes after a section; member descriptions must come first`);
          while (line !== null && (m = AT_NAME_COLON.exec(line))) {
            doc.newArgument(lx.info, m[1]);
            const text = line.slice(m[0].length);
            if (text) doc.appendLine(text);
            line = this.docIndented(doc);
          }
          noMoreArgs = true;
        } else if ((m = SECTION_TAG.exec(line))) {
          // A tag with '::' is rST markup, not a section (the regexp leaves it alone).
          const tag = m[1];
          if (tag.startsWith('Note')) {
            throw lx.error(`'${tag}:' sections are not supported any more; use an rST admonition such as '.. note::'`);
          }
          if (tag.startsWith('Example')) {
            throw lx.error(`'${tag}:' sections are not supported any more; use the '.. qmp-example::' directive`);
          }
          doc.newTaggedSection(lx.info, TAG_KIND[tag], tag);
          const text = line.slice(m[0].length);
          if (text) doc.appendLine(text);
          line = this.docIndented(doc);
          noMoreArgs = true;
        } else if (this.reader.rules.headings && line.startsWith('=')) {
          throw lx.error("'=' headings are not allowed in a definition's doc comment");
        } else {
          doc.ensureUntaggedSection(lx.info);
          doc.appendLine(line);
          line = this.docParagraph(doc);
        }
      }
    } else {
      doc = new QapiDoc(info);
      doc.ensureUntaggedSection(lx.info);
      for (let first = true; line !== null; first = false) {
        const m = AT_NAME_COLON.exec(line);
        if (m) throw lx.error(`'@${m[1]}:' is only allowed in a definition's doc comment`);
        if (this.reader.rules.headings && !first && line.startsWith('=')) {
          throw lx.error("an '=' heading must be the first line of its doc comment");
        }
        doc.appendLine(line);
        line = this.nextDocLine();
      }
    }
    // QEMU reads the next token before checking the sections: a lexical error there wins.
    lx.next();
    doc.end();
    return doc;
  }

  // --- Doc comments, legacy dialect (QEMU 7.2) ----------------------------

  /** A block can hold several free-form docs: each '= Heading' after some text starts a new one. */
  private readLegacyDoc(info: SourceInfo): QapiDoc[] {
    const lx = this.lx;
    if (lx.value !== '##') throw lx.error("text after the opening '##' of a doc comment");
    const docs: QapiDoc[] = [];
    let cur = new LegacyDocBuilder(lx, info);
    lx.next(false);
    while (lx.kind === 'comment') {
      const val = lx.value as string;
      if (val.startsWith('##')) {
        if (val !== '##') throw lx.error("text after the closing '##' of a doc comment");
        docs.push(cur.end());
        lx.next();
        return docs;
      }
      if (val.startsWith('# =')) {
        if (cur.doc.symbol) throw lx.error("'=' headings are not allowed in a definition's doc comment");
        if (cur.doc.body.text) {
          docs.push(cur.end());
          cur = new LegacyDocBuilder(lx, info);
        }
      }
      cur.append(val);
      lx.next(false);
    }
    throw lx.error("doc comment is not closed with '##'");
  }
}

/** Index in src reached after `points` code points from `start`. */
function advance(src: string, start: number, points: number): number {
  let i = start;
  for (let n = 0; n < points && i < src.length; n++) {
    const c = src.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return i;
}

/** Marks an error of the line-format rules, which QEMU 10.0 did not have (see parseSchema). */
function lineFormatError(e: QapiParseError): QapiParseError {
  e.lineFormat = true;
  return e;
}

function rejectExprDoc(doc: QapiDoc | undefined): void {
  if (doc?.symbol) {
    throw new QapiSemanticError(doc.info, `doc comment for '${doc.symbol}' is not followed by its definition`);
  }
}

function applyPragma(name: string, value: QapiValue, info: SourceInfo): void {
  const pragma = info.pragma;
  const stringList = (): string[] => {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new QapiSemanticError(info, `pragma ${name} must be a list of strings`);
    }
    return value as string[];
  };
  switch (name) {
    case 'doc-required':
      if (typeof value !== 'boolean') throw new QapiSemanticError(info, "pragma 'doc-required' must be true or false");
      pragma.docRequired = value;
      break;
    case 'command-name-exceptions':
      pragma.commandNameExceptions = stringList();
      break;
    case 'command-returns-exceptions':
      pragma.commandReturnsExceptions = stringList();
      break;
    case 'documentation-exceptions':
      pragma.documentationExceptions = stringList();
      break;
    case 'member-name-exceptions':
      pragma.memberNameExceptions = stringList();
      break;
    default:
      throw new QapiSemanticError(info, `unknown pragma '${name}'`);
  }
}

type LegacyMode = 'body' | 'args' | 'features' | 'various';

/**
 * QEMU 7.2's line-by-line doc reader. Its errors are parse errors at the
 * current line, like QEMU's, which reports them through the parser's position.
 * Text is stored with the section's indentation removed, as 7.2 did.
 */
class LegacyDocBuilder {
  doc: QapiDoc;
  private mode: LegacyMode = 'body';
  /** Indentation stripped from the current section's lines. */
  private indent = 0;

  constructor(
    private readonly lx: Lexer,
    private readonly info: SourceInfo,
  ) {
    this.doc = new QapiDoc(info, undefined, 'legacy');
  }

  private get section(): DocSection {
    return this.doc.allSections[this.doc.allSections.length - 1];
  }

  /** A raw comment line, starting with '#'. */
  append(val: string): void {
    let line = val.slice(1);
    if (!line) {
      this.freeform(line);
      return;
    }
    if (line[0] !== ' ') throw this.lx.error("doc comment line needs a space after '#'");
    line = line.slice(1);
    switch (this.mode) {
      case 'body':
        return this.bodyLine(line);
      case 'args':
        return this.argsLine(line, 'member');
      case 'features':
        return this.argsLine(line, 'feature');
      case 'various':
        return this.variousLine(line);
    }
  }

  end(): QapiDoc {
    this.closeSection();
    this.doc.end();
    return this.doc;
  }

  private bodyLine(line: string): void {
    const name = firstWord(line);
    if (!this.doc.symbol && !this.doc.body.text && line.startsWith('@')) {
      if (!line.endsWith(':')) throw this.lx.error("the '@NAME' line must end with ':'");
      const symbol = line.slice(1, -1);
      if (!symbol) throw this.lx.error("a name is missing after '@'");
      // Nothing was recorded yet (the body is empty), so a fresh doc loses nothing.
      this.doc = new QapiDoc(this.info, symbol, 'legacy');
    } else if (this.doc.symbol) {
      if (name.startsWith('@') && name.endsWith(':')) {
        this.mode = 'args';
        this.argsLine(line, 'member');
      } else if (line === 'Features:') {
        this.mode = 'features';
      } else if (LEGACY_TAGS.has(name)) {
        this.mode = 'various';
        this.variousLine(line);
      } else {
        this.freeform(line);
      }
    } else {
      this.freeform(line);
    }
  }

  private argsLine(line: string, kind: 'member' | 'feature'): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      // Keep the text where it was, so "@arg: text" sets the indentation of what follows.
      const m = LEGACY_ARG_PREFIX.exec(line);
      if (!m) throw this.lx.error(`malformed '${name}' line`);
      let indent = m[0].length;
      const rest = line.slice(indent);
      if (rest) line = ' '.repeat(indent) + rest;
      else {
        indent = 0;
        line = '';
      }
      this.startArgSection(name.slice(1, -1), indent, kind);
    } else if (LEGACY_TAGS.has(name)) {
      this.mode = 'various';
      this.variousLine(line);
      return;
    } else if (this.section.text.endsWith('\n\n') && line && !isPyWhitespace(line[0])) {
      if (kind === 'member' && line === 'Features:') {
        this.mode = 'features';
      } else {
        this.startSection(undefined, 0);
        this.mode = 'various';
        this.variousLine(line);
      }
      return;
    }
    this.freeform(line);
  }

  private variousLine(line: string): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      const first = this.doc.sections[0];
      throw this.lx.error(`'${name}' can't come after the '${first?.tag ?? 'untagged'}' section`);
    }
    if (LEGACY_TAGS.has(name)) {
      const m = LEGACY_TAG_PREFIX.exec(line)!;
      let indent = m[0].length;
      const rest = line.slice(indent);
      if (rest) line = ' '.repeat(indent) + rest;
      else {
        indent = 0;
        line = '';
      }
      this.startSection(name.slice(0, -1), indent);
    }
    this.freeform(line);
  }

  private startArgSection(name: string, indent: number, kind: 'member' | 'feature'): void {
    if (!name) throw this.lx.error("a name is missing after '@'");
    const into = kind === 'member' ? this.doc.args : this.doc.features;
    if (into.has(name)) throw this.lx.error(`'${name}' is described twice`);
    this.closeSection();
    if (kind === 'member') this.doc.newArgument(this.lx.info, name);
    else this.doc.newFeature(this.lx.info, name);
    this.indent = indent;
  }

  private startSection(tag: string | undefined, indent: number): void {
    if ((tag === 'Returns' && this.doc.returns) || (tag === 'Since' && this.doc.since)) {
      throw this.lx.error(`a second '${tag}' section`);
    }
    this.closeSection();
    const info = this.lx.info;
    if (tag === undefined) this.doc.newUntaggedSection(info);
    else if (tag === 'Returns' || tag === 'Since' || tag === 'TODO')
      this.doc.newTaggedSection(info, TAG_KIND[tag], tag);
    else this.doc.newTaggedSection(info, 'tagged', tag);
    this.indent = indent;
  }

  /** QEMU 7.2 strips a section's text when it is done, and rejects it empty (the body excepted). */
  private closeSection(): void {
    const s = this.section;
    s.text = pyStrip(s.text);
    if (s !== this.doc.body && !s.text) {
      const what = s instanceof DocArgSection ? `'@${s.name}:'` : `'${s.title}:'`;
      throw this.lx.error(`section ${what} has no text`);
    }
  }

  private freeform(line: string): void {
    const m = LEGACY_FREEFORM_AT.exec(line);
    if (m) throw this.lx.error(`'${m[1]}' is only allowed in a definition's doc comment`);
    if (line) {
      const indent = pyIndent(line);
      if (indent < this.indent) {
        throw this.lx.error(`line is indented less than the section (at least ${this.indent} spaces expected)`);
      }
      line = line.slice(this.indent);
    }
    this.doc.appendLine(pyRstrip(line));
  }
}

/** Python's line.split(' ', 1)[0]. */
function firstWord(line: string): string {
  const i = line.indexOf(' ');
  return i < 0 ? line : line.slice(0, i);
}

function isPyWhitespace(ch: string): boolean {
  return pyIndent(ch) === 1;
}
