/**
 * QAPI doc comments as JSDoc text.
 *
 * Nothing of the source text is dropped. The rST is converted only where the
 * conversion is safe and reads better in an editor's hover:
 *
 * - `@name` references become `name` code spans, ``code`` becomes `code`;
 * - literal blocks (a paragraph ending in `::`, QEMU 10's `.. qmp-example::`,
 *   QEMU 7.2's `Example:` sections) become fenced code blocks, every line kept;
 * - admonitions (`.. note::`, `Note:` sections...) become a bold heading;
 * - hanging indentation of member descriptions is removed;
 * - `*\/` is escaped so it cannot end the comment.
 *
 * Returns, Errors and Since become `@returns`, `@throws` and `@since`; the
 * `deprecated` feature becomes `@deprecated` (with the feature's text), the
 * `unstable` feature a `**Unstable**` line plus `@experimental`, and a build
 * condition a sentence saying when the definition exists.
 */
import type { DocSection, QapiDoc } from '../doc.js';
import type { Definition } from '../entities.js';
import { ifcondToText, type IfCond } from '../ifcond.js';
import type { Feature, Member } from '../members.js';
import { memberSince } from '../releases/history.js';

/**
 * Where QEMU's hand-written "since" is missing or disagrees with the releases
 * themselves, what the docs should say instead (codegen/releases/history.ts).
 */
export interface SinceOracle {
  definition(name: string, qemuSince: string | undefined): string | undefined;
  member(container: string, name: string, qemuSince: string | undefined): string | undefined;
}

export interface DocContext {
  /** Who the conditions are about: "QEMU" or "the guest agent". */
  readonly product: string;
  readonly since?: SinceOracle;
}

const ADMONITIONS: Record<string, string> = {
  note: 'Note',
  caution: 'Caution',
  warning: 'Warning',
  important: 'Important',
  tip: 'Tip',
  hint: 'Hint',
  attention: 'Attention',
  danger: 'Danger',
  error: 'Error',
  seealso: 'See also',
};

const isBlank = (line: string): boolean => line.trim() === '';
const indentOf = (line: string): number => /^ */.exec(line)![0].length;

/** Removes the indentation common to all non-blank lines. */
function dedent(lines: readonly string[]): string[] {
  let min = Infinity;
  for (const l of lines) if (!isBlank(l)) min = Math.min(min, indentOf(l));
  if (min === Infinity || min === 0) return lines.map((l) => (isBlank(l) ? '' : l));
  return lines.map((l) => (isBlank(l) ? '' : l.slice(min)));
}

/** Leading and trailing blank lines removed. */
function trimBlank(lines: readonly string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && isBlank(lines[a])) a++;
  while (b > a && isBlank(lines[b - 1])) b--;
  return lines.slice(a, b);
}

/**
 * A section's text without its hanging indent: QEMU indents the lines after
 * the first of a member description (and of Returns, Errors...) to line them
 * up under the text after the tag. Relative indentation is kept.
 */
export function removeHangingIndent(text: string): string[] {
  const lines = text.split('\n');
  // The text started on the line after the tag: it is indented as a whole.
  if (indentOf(lines[0]) > 0) return dedent(lines);
  if (lines.length < 2) return lines;
  // The hanging indent is that of the first paragraph's continuation lines.
  let hang = Infinity;
  for (let i = 1; i < lines.length && !isBlank(lines[i]); i++) hang = Math.min(hang, indentOf(lines[i]));
  if (hang === Infinity) {
    // The first paragraph is one line: take the indentation of what follows.
    for (let i = 1; i < lines.length; i++) if (!isBlank(lines[i])) hang = Math.min(hang, indentOf(lines[i]));
  }
  if (hang === Infinity || hang === 0) return lines;
  return [lines[0], ...lines.slice(1).map((l) => (isBlank(l) ? '' : l.slice(Math.min(hang, indentOf(l)))))];
}

/**
 * Inline markup: `@name` → `name`, ``code`` → `code`, and Sphinx roles:
 * :doc:`Title <target>` → Title, :ref:`name` → `name`. Literal text is
 * never passed here.
 */
export function convertInline(line: string): string {
  return line
    .replace(/:[a-z]+(?::[a-z]+)?:`([^`<]+?)\s*<[^>`]+>`/g, (_m, title: string) => title)
    .replace(/:[a-z]+(?::[a-z]+)?:`([^`]+)`/g, (_m, name: string) => '`' + name + '`')
    .replace(/``(.+?)``/g, (_m, code: string) => '`' + code + '`')
    .replace(
      /(^|[^\w`@])@([A-Za-z_][\w-]*(?:\.[\w-]+)*)/g,
      (_m, before: string, name: string) => `${before}\`${name}\``,
    );
}

function fence(lines: readonly string[], prefix: string, lang = ''): string[] {
  const body = trimBlank(dedent(lines));
  let marker = '```';
  while (body.some((l) => l.trimStart().startsWith(marker))) marker += '`';
  return [prefix + marker + lang, ...body.map((l) => (l ? prefix + l : '')), prefix + marker];
}

/** Appends a paragraph break unless the output is empty or already ends with one. */
function blankLine(out: string[]): void {
  if (out.length && out[out.length - 1] !== '') out.push('');
}

/** rST text as Markdown lines (see the file comment for what changes). */
export function convertRst(text: string | readonly string[]): string[] {
  const lines = typeof text === 'string' ? text.split('\n') : [...text];
  const out: string[] = [];
  convertBlocks(lines, out);
  return trimBlank(out);
}

function convertBlocks(lines: readonly string[], out: string[]): void {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const directive = /^( *)\.\. ([A-Za-z][\w-]*)::(?: +(.*))?$/.exec(line);
    if (directive) {
      const indent = directive[1].length;
      let j = i + 1;
      while (j < lines.length && (isBlank(lines[j]) || indentOf(lines[j]) > indent)) j++;
      let end = j;
      while (end > i + 1 && isBlank(lines[end - 1])) end--;
      renderDirective(
        directive[2],
        directive[3] ?? '',
        lines.slice(i + 1, end),
        directive[1],
        out,
        lines.slice(i, end),
      );
      i = end;
      continue;
    }
    // A paragraph ending in '::' introduces the indented literal block after it.
    if (/::\s*$/.test(line)) {
      const indent = paragraphIndent(lines, i);
      let j = i + 1;
      while (j < lines.length && isBlank(lines[j])) j++;
      if (j > i + 1 && j < lines.length && indentOf(lines[j]) > indent) {
        let end = j;
        while (end < lines.length && (isBlank(lines[end]) || indentOf(lines[end]) > indent)) end++;
        while (isBlank(lines[end - 1])) end--;
        const stripped = line.replace(/\s*::\s*$/, (m) => (/^\s/.test(m) || line.trim() === '::' ? '' : ':'));
        if (stripped.trim() !== '') out.push(convertInline(stripped.trimEnd()));
        else if (out.length && out[out.length - 1] === '') out.pop();
        blankLine(out);
        out.push(...fence(lines.slice(j, end), ' '.repeat(indent)));
        i = end;
        continue;
      }
    }
    if (!isBlank(line)) out.push(convertInline(line.trimEnd()));
    else if (out.length && out[out.length - 1] !== '') out.push('');
    i++;
  }
}

/** Indentation of the paragraph that line `i` ends. */
function paragraphIndent(lines: readonly string[], i: number): number {
  let k = i;
  while (k > 0 && !isBlank(lines[k - 1])) k--;
  return indentOf(lines[k]);
}

function renderDirective(
  name: string,
  arg: string,
  block: readonly string[],
  prefix: string,
  out: string[],
  original: readonly string[],
): void {
  const body = dedent(block);
  const options = new Map<string, string>();
  let k = 0;
  while (k < body.length && /^:[\w-]+:/.test(body[k])) {
    const m = /^:([\w-]+):\s*(.*)$/.exec(body[k])!;
    options.set(m[1], m[2]);
    k++;
  }
  const content = trimBlank(body.slice(k));
  const indented = (ls: string[]): string[] => ls.map((l) => (l ? prefix + l : ''));

  if (name === 'qmp-example') {
    blankLine(out);
    const title = options.get('title');
    out.push(prefix + (title ? `**Example: ${convertInline(title)}**` : '**Example:**'));
    out.push('');
    out.push(...(options.has('annotated') ? indented(convertRst(content)) : fence(content, prefix)));
    blankLine(out);
    return;
  }
  const admonition = ADMONITIONS[name];
  if (admonition || name === 'admonition') {
    blankLine(out);
    const converted = convertRst(admonition && arg ? [arg, ...content] : content);
    const heading = admonition ? `**${admonition}:**` : `**${convertInline(arg)}**`;
    if (admonition && converted.length && converted[0] && !converted[0].startsWith('```')) {
      converted[0] = `${heading} ${converted[0]}`;
      out.push(...indented(converted));
    } else {
      out.push(prefix + heading, '', ...indented(converted));
    }
    blankLine(out);
    return;
  }
  if (name === 'table' || name === 'code-block' || name === 'code') {
    blankLine(out);
    if (name === 'table' && arg) out.push(prefix + `**${convertInline(arg)}**`, '');
    out.push(...fence(content, prefix, name === 'table' ? '' : arg.trim()));
    blankLine(out);
    return;
  }
  // Anything else is kept as written.
  out.push(...original.map((l) => l.trimEnd()));
}

// ---------------------------------------------------------------- building comments

/** Lines of a JSDoc comment in the making: description paragraphs first, then block tags. */
export class DocBuilder {
  private readonly description: string[] = [];
  private readonly tags: string[] = [];

  /** Adds a paragraph (Markdown lines); empty input adds nothing. */
  paragraph(lines: readonly string[] | string | undefined): this {
    const ls = trimBlank(typeof lines === 'string' ? lines.split('\n') : (lines ?? []));
    if (!ls.length) return this;
    if (this.description.length) this.description.push('');
    this.description.push(...ls.map(escapeLine));
    return this;
  }

  /** Adds a block tag such as `@since 2.9`; multi-line text goes under the tag when it starts with a list. */
  tag(name: string, lines: readonly string[] | string = []): this {
    const ls = trimBlank(typeof lines === 'string' ? lines.split('\n') : lines).map(escapeLine);
    if (!ls.length) this.tags.push(`@${name}`);
    else if (/^([-*+]|\d+\.) /.test(ls[0]) || ls[0].startsWith('```')) this.tags.push(`@${name}`, ...ls);
    else this.tags.push(`@${name} ${ls[0]}`, ...ls.slice(1));
    return this;
  }

  get isEmpty(): boolean {
    return !this.description.length && !this.tags.length;
  }

  /** The comment's text (without the comment delimiters), or undefined when there is nothing to say. */
  text(): string | undefined {
    if (this.isEmpty) return undefined;
    const lines = [...this.description];
    if (this.tags.length && lines.length) lines.push('');
    lines.push(...this.tags);
    return lines.join('\n');
  }
}

/**
 * Makes a line safe inside a JSDoc comment: `*\/` cannot end the comment, and
 * a line starting with '@' (in literal text) is not taken for a block tag.
 */
function escapeLine(line: string): string {
  const l = line.replace(/\*\//g, '*\\/');
  return /^\s*@/.test(l) ? l.replace('@', '\\@') : l;
}

// ---------------------------------------------------------------- QAPI docs

/** "Only available when QEMU is built with CONFIG_VNC." */
export function conditionSentence(cond: IfCond | undefined, ctx: DocContext): string | undefined {
  if (cond === undefined) return undefined;
  if (typeof cond === 'string') return `Only available when ${ctx.product} is built with ${cond}.`;
  if ('not' in cond && typeof cond.not === 'string') {
    return `Only available when ${ctx.product} is built without ${cond.not}.`;
  }
  return `Only available when ${ctx.product} is built with: ${ifcondToText(cond)}.`;
}

/** The text of a section, converted; sections after a tag (`@name:`, `Returns:`...) lose their hanging indent. */
function sectionLines(section: DocSection | undefined): string[] {
  if (!section || !section.text) return [];
  return convertRst(section.kind === 'plain' ? section.text : removeHangingIndent(section.text));
}

/** Legacy (QEMU 7.2) tagged sections: examples are literal text, anything else is a headed paragraph. */
function taggedLines(section: DocSection): string[] {
  const tag = section.tag ?? 'Note';
  if (/^examples?$/i.test(tag)) {
    return [`**${tag}:**`, '', ...fence(removeHangingIndent(section.text), '')];
  }
  const lines = sectionLines(section);
  if (lines.length && lines[0] && !lines[0].startsWith('```')) return [`**${tag}:** ${lines[0]}`, ...lines.slice(1)];
  return [`**${tag}:**`, '', ...lines];
}

/** Features: `deprecated` and `unstable` become tags and markers, others a line each. */
function addFeatures(b: DocBuilder, features: readonly Feature[], ctx: DocContext, tags: string[][]): void {
  for (const f of features) {
    const text = sectionLines(f.doc);
    const cond = conditionSentence(f.ifcond, ctx);
    if (f.name === 'deprecated') {
      tags.push(['deprecated', ...(cond ? [...text, '', cond] : text)]);
    } else if (f.name === 'unstable') {
      const [first = 'This is not a stable interface.', ...rest] = text;
      b.paragraph([`**Unstable**: ${first}`, ...rest, ...(cond ? ['', cond] : [])]);
      tags.push(['experimental']);
    } else {
      const [first = '', ...rest] = text;
      b.paragraph([`Feature \`${f.name}\`: ${first}`.trimEnd(), ...rest, ...(cond ? ['', cond] : [])]);
    }
  }
}

function flushTags(b: DocBuilder, tags: string[][]): void {
  for (const [name, ...text] of tags) b.tag(name, text);
}

export interface DefinitionDocOptions {
  /** Paragraphs to add after the doc text (e.g. what a command's result is). */
  readonly extra?: readonly (readonly string[])[];
}

/** The JSDoc of a type, command or event. */
export function definitionDoc(defn: Definition, ctx: DocContext, options: DefinitionDocOptions = {}): string {
  const b = new DocBuilder();
  const doc: QapiDoc | undefined = defn.doc;
  const tags: string[][] = [];
  if (doc) b.paragraph(sectionLines(doc.body));
  b.paragraph(conditionSentence(defn.ifcond, ctx));
  addFeatures(b, defn.features, ctx, tags);
  if (doc) {
    for (const s of doc.allSections) {
      if (s === doc.body) continue;
      switch (s.kind) {
        case 'plain':
          b.paragraph(sectionLines(s));
          break;
        case 'tagged':
          b.paragraph(taggedLines(s));
          break;
        case 'todo':
          b.paragraph(prefixFirst(`**${s.tag ?? 'TODO'}:**`, sectionLines(s)));
          break;
        case 'returns':
          if (s.text) tags.unshift(['returns', ...sectionLines(s)]);
          break;
        case 'errors':
          tags.splice(tags[0]?.[0] === 'returns' ? 1 : 0, 0, ['throws', ...sectionLines(s)]);
          break;
        case 'since':
          tags.push(['since', ...sectionLines(s)]);
          break;
        case 'member':
        case 'feature':
          break;
      }
    }
  }
  for (const p of options.extra ?? []) b.paragraph(p);
  // QEMU 7.2's docs sometimes say "Since 7.1" in the body rather than in a section.
  // Commands and events only: a type's name is not on the wire, and types are renamed and split between
  // releases (QEMU's since is then the older thing's); their members are checked one by one.
  const wire = defn.meta === 'command' || defn.meta === 'event';
  const computed = wire ? ctx.since?.definition(defn.name, doc?.since?.text ?? memberSince(doc?.body.text)) : undefined;
  if (computed) {
    if (b.isEmpty) b.paragraph(undocumented(defn));
    const own = tags.find((t) => t[0] === 'since');
    if (own) own.push('', computed);
    else tags.push(['since', computed]);
  }
  // @returns, @throws, @since, then @deprecated / @experimental.
  const order = (t: string[]): number => ['returns', 'throws', 'since'].indexOf(t[0]) + 1 || 4;
  flushTags(
    b,
    [...tags].sort((x, y) => order(x) - order(y)),
  );
  // Every definition gets a comment, if only to say what it is.
  return b.text() ?? undocumented(defn);
}

function undocumented(defn: Definition): string {
  return `QAPI ${defn.meta} \`${defn.name}\` (undocumented).`;
}

function prefixFirst(prefix: string, lines: string[]): string[] {
  if (lines.length && lines[0] && !lines[0].startsWith('```')) return [`${prefix} ${lines[0]}`, ...lines.slice(1)];
  return [prefix, '', ...lines];
}

export interface MemberDocOptions {
  readonly ifcond?: IfCond;
  readonly features?: readonly Feature[];
  /** Short notes after the text (the 64-bit integer note). */
  readonly notes?: readonly string[];
  /** The member or value documented, for its computed "since". */
  readonly member?: Member;
}

/** The JSDoc of an object member, enum value or alternative. */
export function memberDoc(
  section: DocSection | undefined,
  ctx: DocContext,
  options: MemberDocOptions = {},
): string | undefined {
  const b = new DocBuilder();
  const tags: string[][] = [];
  b.paragraph(sectionLines(section));
  b.paragraph(conditionSentence(options.ifcond, ctx));
  addFeatures(b, options.features ?? [], ctx, tags);
  for (const n of options.notes ?? []) b.paragraph(n);
  const m = options.member;
  const computed = m && ctx.since?.member(m.definedIn, m.name, memberSince(section?.text));
  if (computed) tags.unshift(['since', computed]);
  flushTags(b, tags);
  return b.text();
}
