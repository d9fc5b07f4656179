/**
 * Source locations. A location is a value that travels with the data it
 * describes: every expression, doc section and model entity keeps its own
 * snapshot, so errors found late still point at the right file and line.
 */

/** Pragmas are schema-wide: one object shared by a file and everything it includes. */
export interface Pragma {
  /** Are documentation comments required? */
  docRequired: boolean;
  /** Commands whose names may contain '_'. */
  commandNameExceptions: string[];
  /** Commands allowed to return something other than an object. */
  commandReturnsExceptions: string[];
  /** Types, commands and events whose members may be undocumented. */
  documentationExceptions: string[];
  /** Types whose member names may break the naming conventions. */
  memberNameExceptions: string[];
}

export function newPragma(): Pragma {
  return {
    docRequired: false,
    commandNameExceptions: [],
    commandReturnsExceptions: [],
    documentationExceptions: [],
    memberNameExceptions: [],
  };
}

export class SourceInfo {
  line = 1;
  /** 1-based column, when the location is more precise than a line. */
  col: number | undefined = undefined;
  /** The definition being read ("struct", "Foo"), for "In struct 'Foo':" context. */
  defnMeta: string | undefined = undefined;
  defnName: string | undefined = undefined;
  readonly pragma: Pragma;

  constructor(
    readonly file: string,
    /** Where this file was included from, or undefined for the main file. */
    readonly parent: SourceInfo | undefined,
  ) {
    this.pragma = parent ? parent.pragma : newPragma();
  }

  setDefn(meta: string, name: string): void {
    this.defnMeta = meta;
    this.defnName = name;
  }

  /** A copy n lines further on; the original is left as it was. */
  nextLine(n = 1): SourceInfo {
    const copy = this.clone();
    copy.line += n;
    copy.col = undefined;
    return copy;
  }

  clone(): SourceInfo {
    const copy = Object.create(SourceInfo.prototype) as SourceInfo;
    Object.assign(copy, this);
    return copy;
  }

  /** `file:line` or `file:line:col`. */
  loc(col: number | undefined = this.col): string {
    return col === undefined ? `${this.file}:${this.line}` : `${this.file}:${this.line}:${col}`;
  }

  /** Context lines printed before an error: the include chain, then the definition. */
  context(): string[] {
    const lines: string[] = [];
    for (let p = this.parent; p; p = p.parent) lines.unshift(`In file included from ${p.file}:${p.line}:`);
    if (this.defnName !== undefined) lines.push(`${this.file}: In ${this.defnMeta} '${this.defnName}':`);
    return lines;
  }

  toJSON(): { file: string; line: number; col?: number } {
    return this.col === undefined
      ? { file: this.file, line: this.line }
      : { file: this.file, line: this.line, col: this.col };
  }
}
