/**
 * QEMU's QMP reference as a man page (`qemu-qmp-ref.7`, which Debian ships
 * in qemu-system-common), read back into per-definition docs: what a QEMU
 * known only from its binary and introspection has for documentation. The
 * page is Sphinx's roff of the schema's doc comments, so its structure is
 * regular: a `.B Command NAME (Since: V)` header (Event, Enum, Object,
 * Alternate), the description, then `.B Arguments` / `Members` / `Values` /
 * `Features` lists of `NAME (TYPE) -- text` items and a `.B Return` text.
 */

export interface ManEntry {
  kind: 'Command' | 'Event' | 'Enum' | 'Object' | 'Alternate';
  name: string;
  since?: string;
  /** Paragraphs of the description. */
  text: string[];
  /** Arguments, members or enum values, by name. */
  members: Map<string, string>;
  /** A member's type as the page names it (array brackets dropped): the way to an entry for it. */
  memberTypes: Map<string, string>;
  features: Map<string, string>;
  returns?: string;
  /** Types whose members this one has too ("The members of X"): its base. */
  inherits: string[];
  /** A union's branches: by tag value, the type whose members join ("When `tag` is `v`: The members of X"). */
  branches: Map<string, string>;
}

const HEADER = /^\.B (Command|Event|Enum|Object|Alternate) (\S+)(?: \(Since: ([^)]*)\))?\s*$/;
const LISTS: Record<string, 'members' | 'features' | 'returns' | 'skip'> = {
  Arguments: 'members',
  Members: 'members',
  Values: 'members',
  Features: 'features',
  Return: 'returns',
  Errors: 'skip',
  Alternatives: 'skip',
};

/** Roff text as plain text: escapes resolved, bold as `code`, other fonts dropped. */
export function unroff(line: string): string {
  return line
    .replace(/\\fB(.*?)\\f[PR]/g, '`$1`')
    .replace(/\\f[BIPR]/g, '')
    .replace(/\\\(dq/g, '"')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\((?:lq|rq)/g, '"')
    .replace(/\\\(em/g, '—')
    .replace(/\\\(en/g, '–')
    .replace(/\\\(bu/g, '•')
    .replace(/\\-/g, '-')
    .replace(/\\&/g, '')
    .replace(/\\~/g, ' ')
    .replace(/\\e/g, '\\')
    .replace(/``/g, '');
}

export function parseQmpReference(roff: string): Map<string, ManEntry> {
  const entries = new Map<string, ManEntry>();
  let entry: ManEntry | undefined;
  /** Where text goes: the description, a list item, the return text, or nowhere (examples, errors). */
  let target: 'text' | 'item' | 'returns' | 'none' = 'none';
  let list: 'members' | 'features' | 'skip' | undefined;
  let item: { name: string; lines: string[] } | undefined;
  let paragraph: string[] = [];
  let inExample = false;
  /** .INDENT nesting: a list item or the return text ends where its indentation does. */
  let depth = 0;
  let itemDepth = 0;
  let returnsDepth = 0;
  /** The next text starts a bullet of the description. */
  let bullet = false;
  /** Lists inside a list item or the description, opened by an .INDENT fused at the end of a text line. */
  let nested = 0;

  const flushParagraph = (): void => {
    if (entry && paragraph.length) entry.text.push(paragraph.join(' '));
    paragraph = [];
  };
  const flushItem = (): void => {
    if (entry && item && list && list !== 'skip') entry[list].set(item.name, item.lines.join(' '));
    item = undefined;
  };

  for (const line of roff.split('\n')) {
    if (line.startsWith('.EX')) inExample = true;
    if (inExample) {
      if (line.startsWith('.EE')) inExample = false;
      continue;
    }
    const header = HEADER.exec(line);
    if (header) {
      flushParagraph();
      flushItem();
      entry = {
        kind: header[1] as ManEntry['kind'],
        name: unroff(header[2]),
        since: header[3],
        text: [],
        members: new Map(),
        memberTypes: new Map(),
        features: new Map(),
        inherits: [],
        branches: new Map(),
      };
      entries.set(`${entry.kind}:${entry.name}`, entry);
      target = 'text';
      list = undefined;
      continue;
    }
    if (line.startsWith('.INDENT')) depth++;
    if (!entry) continue;
    const section = /^\.B (\w+)\s*$/.exec(line);
    if (section && section[1] in LISTS) {
      // An .INDENT fused into the line before a section is the section's own, not a nested list.
      nested = 0;
      itemDepth = -1;
      flushParagraph();
      flushItem();
      const kind = LISTS[section[1]];
      if (kind === 'returns') {
        target = 'returns';
        returnsDepth = depth;
        list = undefined;
      } else {
        target = 'none';
        list = kind;
      }
      continue;
    }
    if (line.startsWith('.IP \\(bu') && (nested > 0 || (list && itemDepth >= 0 && depth > itemDepth))) {
      // A bullet of a list inside an item (or the description): part of its text.
      if (item) item.lines.push('-');
      else {
        flushParagraph();
        bullet = true;
      }
      continue;
    }
    if (line.startsWith('.IP \\(bu')) {
      flushItem();
      if (list) {
        target = 'item';
        if (itemDepth < 0) itemDepth = depth;
      } else if (target === 'text') {
        // A bullet list inside the description.
        flushParagraph();
        bullet = true;
      } else target = 'none';
      continue;
    }
    if (line.startsWith('.IP "') || line.startsWith('.SH') || line.startsWith('.SS')) {
      flushParagraph();
      flushItem();
      target = 'none';
      continue;
    }
    if (line.startsWith('.UNINDENT')) {
      depth--;
      if (nested > 0) {
        nested--;
        continue;
      }
      flushParagraph();
      // A list or the return text is over: what follows (notes) is about the whole definition.
      if (list && itemDepth >= 0 && depth < itemDepth) {
        flushItem();
        list = undefined;
        target = 'text';
      } else if (target === 'returns' && depth < returnsDepth) target = 'text';
      continue;
    }
    if (line.startsWith('.sp') || line.startsWith('.TP')) {
      flushParagraph();
      continue;
    }
    if (line.startsWith('.')) continue;
    // Roff requests fused into a text line by the page's generator are not text; an .INDENT opens a nested list.
    const raw = unroff(line);
    if (/\.INDENT(?: [\d.]+)?\s*$/.test(raw)) {
      depth++;
      nested++;
    }
    const text = raw.replace(/\.(?:UN)?INDENT(?: [\d.]+)?\s*$/, '').trim();
    if (!text || /^\.[A-Z]{2,}\b/.test(text)) continue;
    if (target === 'text') {
      paragraph.push(bullet ? `- ${text}` : text);
      bullet = false;
    } else if (target === 'returns') entry.returns = entry.returns ? `${entry.returns} ${text}` : text;
    else if (target === 'item') {
      const base = /^(?:When `[^`]+` is `([^`]+)`: )?The members of `([^`]+)`/.exec(text);
      if (!item && base) {
        if (base[1] !== undefined) entry.branches.set(base[1], base[2]);
        else entry.inherits.push(base[2]);
        continue;
      }
      if (!item) {
        // `name` (`type`, optional) -- text
        // The text may start on the next line ("-- " at the end of this one).
        const m = /^`([^`]+)`(?: \(([^)]*)\))?(?: --(?: (.*))?)?$/.exec(text);
        item = { name: m ? m[1] : text, lines: m?.[3] ? [m[3]] : [] };
        // (`[T]`, optional): the type's page name, brackets and qualifiers dropped.
        const type = m?.[2] ? /`\[?([A-Za-z][\w-]*)\]?`/.exec(m[2].replace(/`\[`|`\]`/g, ''))?.[1] : undefined;
        if (type && list === 'members') entry.memberTypes.set(item.name, type);
      } else item.lines.push(text);
    }
  }
  flushParagraph();
  flushItem();
  return entries;
}
