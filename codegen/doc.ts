/**
 * Doc comments as structure: the body, one section per member and feature,
 * and tagged sections (Returns, Errors, Since, TODO, and in the legacy dialect
 * Note/Example and friends). Text is kept raw: rST is not rendered.
 *
 * The parser builds a QapiDoc; the schema connects members and features to
 * their sections and then check()s that nothing documented is missing.
 */
import type { DocDialect, QapiExpression } from './expressions.js';
import { QapiSemanticError } from './errors.js';
import type { SourceInfo } from './source.js';

export type SectionKind = 'plain' | 'member' | 'feature' | 'returns' | 'errors' | 'since' | 'todo' | 'tagged';

/** Section names as users write them after a tag, for messages. */
const KIND_TITLE: Record<SectionKind, string> = {
  plain: 'Plain',
  member: 'Member',
  feature: 'Feature',
  returns: 'Returns',
  errors: 'Errors',
  since: 'Since',
  todo: 'TODO',
  tagged: 'Tagged',
};

/** Something a member or feature section documents (a schema member, branch, enum value or feature). */
export interface Documentable {
  readonly name: string;
  readonly info: SourceInfo | undefined;
  /** "member", "argument", "value", "branch", "feature"... used in messages. */
  readonly role: string;
}

export class DocSection {
  /** Text without the tag, leading/trailing blank lines trimmed by end(). */
  text = '';
  constructor(
    /** Where the section begins. */
    public info: SourceInfo,
    readonly kind: SectionKind,
    /** Legacy dialect's free tag ('Note', 'Example', ...) for kind 'tagged'; also the exact tag used otherwise. */
    readonly tag?: string,
  ) {}

  appendLine(line: string): void {
    this.text += line + '\n';
  }

  get title(): string {
    return this.tag ?? KIND_TITLE[this.kind];
  }
}

export class DocArgSection extends DocSection {
  member: Documentable | undefined = undefined;
  constructor(
    info: SourceInfo,
    kind: 'member' | 'feature',
    readonly name: string,
  ) {
    super(info, kind);
  }
  connect(member: Documentable): void {
    this.member = member;
  }
}

export class QapiDoc {
  /** Sections in textual order; the first is always the body (possibly empty). */
  readonly allSections: DocSection[];
  readonly body: DocSection;
  readonly args = new Map<string, DocArgSection>();
  readonly features = new Map<string, DocArgSection>();
  returns: DocSection | undefined;
  errors: DocSection | undefined;
  since: DocSection | undefined;
  /** Sections other than body, args and features. */
  readonly sections: DocSection[] = [];

  constructor(
    /** The first line of the comment block. */
    readonly info: SourceInfo,
    /** The documented definition's name; undefined for a free-form block. */
    readonly symbol?: string,
    /**
     * The rules it was written under. Legacy (QEMU 7.2) docs may leave members
     * undocumented and report Returns/member mismatches at the comment's start.
     */
    readonly dialect: DocDialect = 'modern',
  ) {
    this.body = new DocSection(info, 'plain');
    this.allSections = [this.body];
  }

  /** Called by the parser when the block is complete. */
  end(): void {
    for (const s of this.allSections) {
      s.text = s.text.replace(/^\n+|\n+$/g, '');
      if (s.kind !== 'plain' && s.text === '') {
        throw new QapiSemanticError(s.info, `'${s.title}:' needs text after it`);
      }
    }
  }

  /** Continue the current untagged section, or start a new one after a tagged one. */
  ensureUntaggedSection(info: SourceInfo): void {
    const last = this.allSections[this.allSections.length - 1];
    if (last.kind === 'plain') {
      if (!last.text) last.info = info;
      last.text += '\n';
      return;
    }
    const s = new DocSection(info, 'plain');
    this.sections.push(s);
    this.allSections.push(s);
  }

  /** Always start a new untagged section (the legacy dialect's paragraphs after member descriptions). */
  newUntaggedSection(info: SourceInfo): void {
    const s = new DocSection(info, 'plain');
    this.sections.push(s);
    this.allSections.push(s);
  }

  newTaggedSection(info: SourceInfo, kind: Exclude<SectionKind, 'plain' | 'member' | 'feature'>, tag?: string): void {
    const s = new DocSection(info, kind, tag);
    if (kind === 'returns' || kind === 'errors' || kind === 'since') {
      if (this[kind]) throw new QapiSemanticError(info, `'${s.title}' section appears twice`);
      this[kind] = s;
    }
    this.sections.push(s);
    this.allSections.push(s);
  }

  newArgument(info: SourceInfo, name: string): void {
    this.newDescription(info, name, 'member', this.args);
  }

  newFeature(info: SourceInfo, name: string): void {
    this.newDescription(info, name, 'feature', this.features);
  }

  private newDescription(
    info: SourceInfo,
    name: string,
    kind: 'member' | 'feature',
    into: Map<string, DocArgSection>,
  ): void {
    if (!name) throw new QapiSemanticError(info, 'a parameter name is missing');
    if (into.has(name)) throw new QapiSemanticError(info, `parameter '${name}' is described twice`);
    const s = new DocArgSection(info, kind, name);
    this.allSections.push(s);
    into.set(name, s);
  }

  appendLine(line: string): void {
    this.allSections[this.allSections.length - 1].appendLine(line);
  }

  connectMember(member: Documentable): void {
    let section = this.args.get(member.name);
    if (!section) {
      const info = member.info!;
      if (this.dialect === 'modern' && (!this.symbol || !info.pragma.documentationExceptions.includes(this.symbol))) {
        throw new QapiSemanticError(info, `${member.role} '${member.name}' has no documentation`);
      }
      // An exempted undocumented member gets an empty section at the end of the member sections.
      section = new DocArgSection(this.info, 'member', member.name);
      this.args.set(member.name, section);
      let index = 1;
      while (index < this.allSections.length && this.allSections[index].kind === 'member') index++;
      this.allSections.splice(index, 0, section);
    }
    section.connect(member);
  }

  connectFeature(feature: Documentable): void {
    const section = this.features.get(feature.name);
    if (!section) throw new QapiSemanticError(feature.info, `feature '${feature.name}' has no documentation`);
    section.connect(feature);
  }

  /** Give a command that returns something a (possibly empty) Returns section, placed where readers expect it. */
  ensureReturns(info: SourceInfo): void {
    if (this.allSections.some((s) => s.kind === 'returns')) return;
    const stub = new DocSection(info, 'returns');
    const insertNear = (kind: SectionKind, after: boolean): boolean => {
      for (let i = this.allSections.length - 1; i >= 0; i--) {
        if (this.allSections[i].kind === kind) {
          this.allSections.splice(after ? i + 1 : i, 0, stub);
          return true;
        }
      }
      return false;
    };
    if (insertNear('member', true) || insertNear('errors', false) || insertNear('feature', false)) return;
    this.allSections.splice(1, 0, stub);
  }

  /** Checks that need the expression the comment documents. */
  checkExpr(expr: QapiExpression): void {
    if (this.dialect === 'legacy') {
      // QEMU 7.2 only rejected 'Returns:' outside commands, at the comment's first line.
      if (this.returns && !expr.expr.has('command')) {
        throw new QapiSemanticError(this.info, "'Returns' section is allowed only for commands");
      }
      return;
    }
    if (expr.expr.has('command')) {
      if (this.returns && !expr.expr.has('returns')) {
        throw new QapiSemanticError(this.returns.info, "'Returns' section, but the command returns nothing");
      }
    } else {
      if (this.returns)
        throw new QapiSemanticError(this.returns.info, "'Returns' section is allowed only for commands");
      if (this.errors) throw new QapiSemanticError(this.errors.info, "'Errors' section is allowed only for commands");
    }
  }

  /** After connecting: every member and feature section must document something that exists. */
  check(): void {
    const checkArgs = (args: Map<string, DocArgSection>, what: string): void => {
      const bogus = [...args.values()].filter((s) => !s.member);
      if (bogus.length) {
        const names = bogus.map((s) => `'${s.name}'`).join(', ');
        throw new QapiSemanticError(
          this.dialect === 'legacy' ? this.info : bogus[0].info,
          `documented ${what}${bogus.length > 1 ? 's' : ''} ${names} ${bogus.length > 1 ? 'do' : 'does'} not exist`,
        );
      }
    };
    checkArgs(this.args, 'member');
    checkArgs(this.features, 'feature');
  }
}
