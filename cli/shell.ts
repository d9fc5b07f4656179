/**
 * `qapi-ts shell TARGET`: an interactive QMP shell (node:readline). Lines are
 * `COMMAND key=value ...` converted like `qapi-ts qmp` does
 * (cli/shell-args.ts), with Tab completion from the QEMU's own schema
 * (commands, nested argument paths, union branches, enum values), `help`
 * from the release's generated docs, events printed as they come without
 * garbling the line being typed, `hmp LINE`, qmp-shell's transaction mode and
 * a persistent history. With stdin not a terminal it reads lines from it, the
 * same way, without a prompt (for scripts and tests).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { clearLine, clearScreenDown, createInterface, cursorTo, moveCursor, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConnectionError, QapiError, QmpError } from '../runtime/errors.js';
import type { QmpEvent } from '../runtime/qmp/events.js';
import {
  entriesByName,
  enumValues,
  type SchemaDescriptor,
  type SchemaInfo,
  type SchemaInfoObject,
  type SchemaInfoObjectMember,
} from '../runtime/schema/descriptor.js';
import { suggest } from '../runtime/suggest.js';
import { parseJson, type JsonValue } from '../runtime/wire/json.js';
import type { JsonObject } from '../runtime/wire/framing.js';
import { EXIT, noRest, optionNames, parseArgs, UsageError, type Command, type Io, type OptionKind } from './command.js';
import { connectQmpCli, TARGET_FORMS, type AnyQmp } from './connect.js';
import { formatJson } from './output.js';
import { commandArguments, typeArguments } from './shell-args.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HISTORY_SIZE = 1000;

const HELP = `usage: qapi-ts shell TARGET [--release V]

An interactive QMP shell. TARGET is
${TARGET_FORMS}.

  COMMAND key=value ...   runs a QMP command; arguments as \`qapi-ts qmp\` takes
                          them (a.b=v nested, key:=JSON raw, quotes group:
                          file.filename='/a b.qcow2'); the reply as JSON
  {"execute": ...}        a raw QMP request
  !COMMAND key=value ...  runs COMMAND as QMP even when it is a shell word:
                          !quit sends QMP's quit; in a transaction, !abort
                          adds QMP's abort action
  help [COMMAND [TAG=V]]  the commands (* deprecated), or one command's
                          documentation and arguments (TAG=V: a union branch's)
  hmp LINE                an HMP command line, its text printed
  transaction(            collects transaction actions, one a line
                          (ACTION key=value ...); ) sends them as one
                          transaction, abort or Ctrl-C drops them. An action
                          line that fails spoils the transaction: ) then
                          sends nothing ("transaction not sent: line N
                          failed") and drops it
  quit, exit, Ctrl-D      closes the connection

Tab completes command names, argument names (nested paths, following union
tags already on the line) and enum values. Events print as they come
("event: {...}"), those that came while the shell started too. Errors are
printed and the shell goes on. In a terminal, history is kept in
$QAPI_TS_HISTORY, else ~/.qapi-ts_history (the last ${HISTORY_SIZE} lines),
except lines that start with a space and lines that may hold a secret: any
that mentions a password, and object-add/object_add (as a command, a raw
request or through hmp) that mentions secret or data. With stdin not a
terminal, lines are read from it without a prompt or history.

Options:
  --release V     the release whose docs \`help\` shows (default: the QEMU's)

Exit codes: 0 quit, exit or end of input (with stdin not a terminal: every
line succeeded); 1 with stdin not a terminal, a line failed (a QMP error, a
usage error, a transaction not sent, a transaction( with no ')' at the end),
or QEMU could not be reached or went away; 2 a usage error.

Examples:
  qapi-ts shell /run/vm.qmp
  printf 'query-status\\nhmp info block\\n' | qapi-ts shell /run/vm.qmp`;

const BUILTINS_HELP = `Shell commands:
  COMMAND key=value ...   run a QMP command (Tab completes)
  {"execute": ...}        a raw QMP request
  !COMMAND key=value ...  run COMMAND as QMP even if a shell word (!quit, !abort)
  help [COMMAND [TAG=V]]  this list, or a command's documentation
  hmp LINE                an HMP command line
  transaction(            collect actions (ACTION key=value ...); ) sends, abort drops
  quit, exit, Ctrl-D      leave
A line starting with a space, or that may hold a secret, is not kept in the history.
`;

// -- words ----------------------------------------------------------------

interface Word {
  /** The word with quotes and escapes removed. */
  text: string;
  /** Where it starts in the line. */
  start: number;
  /** Written without quotes or backslashes: its text is what the line shows. */
  plain: boolean;
}

/**
 * Splits a line as a POSIX shell does: '...' literal, "..." with \" and \\,
 * a backslash outside quotes escapes the next character. `open`: a quote
 * is left unterminated; `endsInWord`: the line ends inside a word (no
 * space after it), which is the word being completed.
 */
export function scanWords(line: string): { words: Word[]; open: boolean; endsInWord: boolean } {
  const words: Word[] = [];
  let word: Word | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (!word) {
      if (/\s/.test(c)) continue;
      words.push((word = { text: '', start: i, plain: true }));
    }
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word.text += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) word.text += line[++i];
      else word.text += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word.plain = false;
    } else if (c === '\\') {
      word.plain = false;
      if (i + 1 < line.length) word.text += line[++i];
    } else if (/\s/.test(c)) word = undefined;
    else word.text += c;
  }
  return { words, open: quote !== undefined, endsInWord: word !== undefined };
}

/** The words of a line to run; an unterminated quote is a usage error. */
export function splitWords(line: string): string[] {
  const { words, open } = scanWords(line);
  if (open) throw new UsageError('unterminated quote');
  return words.map((w) => w.text);
}

// -- the schema, for completion and help -----------------------------------

/** Reading a (live or generated) descriptor the way the converter does: objects, union branches by the tags given. */
class SchemaView {
  readonly byName: Map<string, SchemaInfo>;
  readonly commands: string[];
  /** Transaction action types and the type their `key=value`s convert by. */
  readonly actions = new Map<string, { dataType: string; wrapped: boolean }>();

  constructor(readonly schema: SchemaDescriptor) {
    this.byName = entriesByName(schema);
    this.commands = schema
      .filter((e) => e['meta-type'] === 'command')
      .map((e) => e.name)
      .sort();
    const union = this.transactionUnion();
    for (const v of union?.variants ?? []) {
      const wrapper = this.byName.get(v.type);
      // QEMU's TransactionAction branches wrap the action's arguments in `data`.
      const data = wrapper?.['meta-type'] === 'object' ? wrapper.members.find((m) => m.name === 'data') : undefined;
      this.actions.set(v.case, data ? { dataType: data.type, wrapped: true } : { dataType: v.type, wrapped: false });
    }
  }

  /** The union of the `transaction` command's `actions` list. */
  private transactionUnion(): SchemaInfoObject | undefined {
    const cmd = this.byName.get('transaction');
    if (cmd?.['meta-type'] !== 'command') return undefined;
    const arg = this.byName.get(cmd['arg-type']);
    const actions = arg?.['meta-type'] === 'object' ? arg.members.find((m) => m.name === 'actions') : undefined;
    const union = actions ? this.objectOf(actions.type) : undefined;
    return union?.tag ? union : undefined;
  }

  isDeprecated(name: string): boolean {
    return this.byName.get(name)?.features?.includes('deprecated') === true;
  }

  argType(command: string): string | undefined {
    const e = this.byName.get(command);
    return e?.['meta-type'] === 'command' ? e['arg-type'] : undefined;
  }

  /** The object a member of this type takes `name.member` paths into (an alternate's or a list's object too). */
  objectOf(typeName: string): SchemaInfoObject | undefined {
    const e = this.byName.get(typeName);
    if (!e) return undefined;
    if (e['meta-type'] === 'object') return e;
    if (e['meta-type'] === 'array') return this.objectOf(e['element-type']);
    if (e['meta-type'] === 'alternate')
      for (const m of e.members) {
        const o = this.objectOf(m.type);
        if (o) return o;
      }
    return undefined;
  }

  /** An object's members at `at` (a dotted path), with the branch its tag selects in `given`. */
  members(
    obj: SchemaInfoObject,
    at: string,
    given: Map<string, string | undefined>,
  ): Map<string, SchemaInfoObjectMember> {
    const out = new Map(obj.members.map((m) => [m.name, m]));
    if (obj.tag) {
      const value = given.get(at ? `${at}.${obj.tag}` : obj.tag);
      const variant = obj.variants?.find((v) => v.case === value);
      const branch = variant && this.byName.get(variant.type);
      if (branch?.['meta-type'] === 'object') for (const [n, m] of this.members(branch, at, given)) out.set(n, m);
    }
    return out;
  }

  /** The object at a path of member names below `typeName`. */
  resolve(typeName: string, path: string[], given: Map<string, string | undefined>): SchemaInfoObject | undefined {
    let obj = this.objectOf(typeName);
    let at = '';
    for (const name of path) {
      const m = obj && this.members(obj, at, given).get(name);
      if (!m) return undefined;
      at = at ? `${at}.${name}` : name;
      obj = this.objectOf(m.type);
    }
    return obj;
  }

  /** The values a scalar of this type can be told as: enum values, on/off. */
  values(typeName: string): string[] {
    const e = this.byName.get(typeName);
    if (!e) return [];
    if (e['meta-type'] === 'enum') return enumValues(e);
    if (e['meta-type'] === 'builtin') return e['json-type'] === 'boolean' ? ['on', 'off'] : [];
    if (e['meta-type'] === 'array') return this.values(e['element-type']);
    if (e['meta-type'] === 'alternate') return [...new Set(e.members.flatMap((m) => this.values(m.type)))];
    return [];
  }

  isList(typeName: string): boolean {
    return this.byName.get(typeName)?.['meta-type'] === 'array';
  }

  /** A type as `help` shows it; a live schema's names are masked, so by its shape. */
  show(typeName: string, depth = 0): string {
    const e = this.byName.get(typeName);
    if (!e) return typeName;
    switch (e['meta-type']) {
      case 'builtin':
        return e.name;
      case 'enum':
        return enumValues(e).join('|');
      case 'array':
        return `list of ${depth > 2 ? '...' : this.show(e['element-type'], depth + 1)}`;
      case 'alternate':
        return e.members.map((m) => (depth > 2 ? '...' : this.show(m.type, depth + 1))).join(' or ');
      default:
        return 'object';
    }
  }
}

/** `key=value` words as the paths they set (a `key:=JSON` sets its key, with no text value). */
function givenOf(tokens: readonly string[]): Map<string, string | undefined> {
  const given = new Map<string, string | undefined>();
  for (const t of tokens) {
    const m = /^([^=:]+?)(:?)=([\s\S]*)$/.exec(t);
    if (m) given.set(m[1], m[2] ? undefined : m[3]);
  }
  return given;
}

export type Completer = (line: string) => [string[], string];

/**
 * The readline completer for a schema (the QEMU's own): the line before the
 * cursor → candidates and the text they replace. `inTransaction` says
 * whether lines are transaction actions (then the first word is an action
 * type, `)` or `abort`).
 */
export function shellCompleter(schema: SchemaDescriptor, inTransaction: () => boolean = () => false): Completer {
  const view = new SchemaView(schema);
  const firstWords = [...view.commands, 'help', 'hmp', 'quit', 'exit', 'transaction('].sort();
  const actionWords = [...view.actions.keys(), ')', 'abort'].sort();
  return (line) => {
    const { words, endsInWord } = scanWords(line);
    const current = endsInWord ? words[words.length - 1] : undefined;
    const before = (endsInWord ? words.slice(0, -1) : words).map((w) => w.text);
    const partial = current?.text ?? '';
    // Replacing quoted text would need requoting: such a word completes to nothing.
    if (current && !current.plain) return [[], line.slice(current.start)];
    const pick = (candidates: string[], on = partial, suffix = ' '): [string[], string] => [
      candidates.filter((c) => c.startsWith(on)).map((c) => c + suffix),
      on,
    ];
    const transaction = inTransaction();
    if (!before.length) {
      // !COMMAND: QMP's own names, never the shell's words.
      if (partial.startsWith('!'))
        return pick((transaction ? [...view.actions.keys()] : view.commands).map((c) => `!${c}`));
      return pick(transaction ? actionWords : firstWords);
    }
    const escaped = before[0].startsWith('!');
    const first = escaped ? before[0].slice(1) : before[0];
    const args = before.slice(1);
    if (first === 'help' && !escaped) return args.length ? [[], partial] : pick(view.commands);
    const action = transaction ? view.actions.get(first) : undefined;
    const root = transaction ? action?.dataType : view.argType(first);
    if (root === undefined) return [[], partial];
    const given = givenOf(args);
    const eq = partial.indexOf('=');
    if (eq >= 0) {
      const key = partial.slice(0, eq);
      if (key.endsWith(':')) return [[], partial];
      const path = key.split('.');
      const parent = view.resolve(root, path.slice(0, -1), given);
      const member = parent && view.members(parent, path.slice(0, -1).join('.'), given).get(path[path.length - 1]);
      return member ? pick(view.values(member.type), partial.slice(eq + 1)) : [[], partial];
    }
    const path = partial.split('.');
    const at = path.slice(0, -1).join('.');
    const parent = view.resolve(root, path.slice(0, -1), given);
    if (!parent) return [[], partial];
    const names: string[] = [];
    for (const [name, m] of view.members(parent, at, given)) {
      const full = at ? `${at}.${name}` : name;
      if (given.has(full) && !view.isList(m.type)) continue;
      names.push(full + (view.objectOf(m.type) ? '.' : '='));
    }
    return pick(names.sort(), partial, '');
  };
}

// -- help from the release's docs ------------------------------------------

interface Doc {
  body: string[];
  tags: { tag: string; text: string[] }[];
}

/** A JSDoc block's text: without the comment marks, tags apart. */
function parseDoc(block: readonly string[]): Doc {
  const doc: Doc = { body: [], tags: [] };
  for (const raw of block) {
    let l = raw.trim();
    if (l.startsWith('/**')) l = l.slice(3);
    if (l.endsWith('*/')) l = l.slice(0, -2);
    l = l.replace(/^\s*\* ?/, '').trimEnd();
    if (raw.trim().startsWith('/**')) l = l.trimStart();
    const tag = /^@(\w+)\s*(.*)$/.exec(l);
    if (tag) doc.tags.push({ tag: tag[1], text: tag[2] ? [tag[2]] : [] });
    else if (doc.tags.length) doc.tags[doc.tags.length - 1].text.push(l);
    else doc.body.push(l);
  }
  return doc;
}

/** Markdown-ish doc lines as plain text: no fences (code indented), no bold marks, no blank ends. */
function plain(lines: readonly string[], indent = ''): string[] {
  const out: string[] = [];
  let code = false;
  for (const l of lines) {
    // The SDK's note on bigint results is about TypeScript values, not what the shell prints.
    if (/^A 64-bit integer \(`\w+`\): a `bigint`/.test(l)) continue;
    if (l.trim().startsWith('```')) {
      code = !code;
      continue;
    }
    out.push(l ? indent + (code ? `    ${l}` : l.replace(/\*\*([^*]+)\*\*/g, '$1')) : '');
  }
  while (out.length && !out[0].trim()) out.shift();
  while (out.length && !out[out.length - 1].trim()) out.pop();
  return out;
}

const indentOf = (l: string): number => /^\s*/.exec(l)![0].length;

/** The JSDoc block that ends on the line before `at`, if any. */
function docBefore(lines: readonly string[], at: number): Doc | undefined {
  if (!lines[at - 1]?.trim().endsWith('*/')) return undefined;
  let i = at - 1;
  while (i >= 0 && !lines[i].trim().startsWith('/**')) i--;
  return i < 0 ? undefined : parseDoc(lines.slice(i, at));
}

/** The members of the `{` block opened on line `open`: name → its doc and line (by indentation, so formatting may wrap types). */
function membersBlock(lines: readonly string[], open: number): Map<string, { doc?: Doc; line: number }> {
  const out = new Map<string, { doc?: Doc; line: number }>();
  let i = open + 1;
  while (i < lines.length && !lines[i].trim()) i++;
  const indent = indentOf(lines[i] ?? '');
  if (indent <= indentOf(lines[open])) return out;
  for (; i < lines.length; i++) {
    const l = lines[i];
    if (!l.trim()) continue;
    if (indentOf(l) < indent) break;
    if (indentOf(l) > indent) continue;
    const m = /^\s*(?:'([^']+)'|([A-Za-z_$][\w$]*))\??\s*:/.exec(l);
    if (m) out.set(m[1] ?? m[2], { doc: docBefore(lines, i), line: i });
  }
  return out;
}

/** A release's generated declarations (commands and types), read once, for `help`. */
class ReleaseDocs {
  private readonly commands?: string[];
  private readonly types?: string[];
  private readonly typeLines = new Map<string, number>();
  private commandLines?: Map<string, { doc?: Doc; line: number }>;

  constructor(readonly release: string) {
    // dist/cli next to dist/generated (.d.ts, kept in the package), or cli/ next to generated/ (.ts).
    const read = (base: string): string[] | undefined => {
      for (const f of [`${base}.d.ts`, `${base}.ts`]) {
        const file = path.join(HERE, '..', 'generated', `qemu-${release}`, f);
        if (existsSync(file)) return readFileSync(file, 'utf8').split('\n');
      }
      return undefined;
    };
    this.commands = read('commands');
    this.types = read('types');
    for (const [i, l] of (this.types ?? []).entries()) {
      const m = /^export (?:interface|type) ([\w$]+)/.exec(l);
      if (m) this.typeLines.set(m[1], i);
    }
  }

  get found(): boolean {
    return this.commands !== undefined;
  }

  /** A command's doc and its arguments' docs (from its inline `args`, or the named type's interfaces). */
  command(name: string, given: Map<string, string | undefined>): { doc?: Doc; members: Map<string, Doc> } | undefined {
    const lines = this.commands;
    if (!lines) return undefined;
    if (!this.commandLines) {
      const open = lines.findIndex((l) => /^\s*export (?:declare )?interface QmpCommands\b.*\{\s*$/.test(l));
      this.commandLines = open < 0 ? new Map() : membersBlock(lines, open);
    }
    const at = this.commandLines.get(name);
    if (!at) return undefined;
    const members = new Map<string, Doc>();
    const body = membersBlock(lines, at.line);
    const args = body.get('args');
    if (args) {
      const text = lines[args.line].replace(/^\s*args\s*:\s*/, '').trim();
      if (text === '{') {
        for (const [n, m] of membersBlock(lines, args.line)) if (m.doc) members.set(n, m.doc);
      } else {
        const type = /^([\w$]+);?$/.exec(text)?.[1];
        if (type) this.typeMembers(type, given, members, 0);
      }
    }
    return { doc: at.doc, members };
  }

  /** Member docs of a generated interface, its bases' too; for a union, the branch the tag given selects. */
  private typeMembers(
    type: string,
    given: Map<string, string | undefined>,
    out: Map<string, Doc>,
    depth: number,
  ): void {
    const lines = this.types;
    const at = this.typeLines.get(type);
    if (!lines || at === undefined || depth > 8) return;
    const head = lines[at];
    const iface = /^export interface [\w$]+(?:\s+extends\s+([^{]+?))?\s*\{\s*$/.exec(head);
    if (iface) {
      for (const [n, m] of membersBlock(lines, at)) if (m.doc && !out.has(n)) out.set(n, m.doc);
      for (const base of (iface[1] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean))
        this.typeMembers(base, given, out, depth + 1);
      return;
    }
    if (!/^export type [\w$]+ =/.test(head)) return;
    // A union: its branches are `Type$tag` interfaces extending the base and the branch.
    const branch = [...given.values()]
      .filter((v): v is string => v !== undefined)
      .map((v) => `${type}$${v.replace(/[^\w$]/g, '_')}`)
      .find((n) => this.typeLines.has(n));
    const first = [...this.typeLines.keys()].find((n) => n.startsWith(`${type}$`));
    if (branch ?? first) this.typeMembers((branch ?? first)!, given, out, depth + 1);
  }
}

function renderTags(doc: Doc | undefined, indent: string): string[] {
  const out: string[] = [];
  for (const t of doc?.tags ?? []) {
    if (t.tag === 'deprecated') continue;
    const label = t.tag === 'returns' ? 'Returns' : t.tag[0].toUpperCase() + t.tag.slice(1);
    const text = plain(t.text);
    if (!text.length) out.push(`${indent}${label}`);
    else if (text.length === 1) out.push(`${indent}${label}: ${text[0].trim()}`);
    else out.push(`${indent}${label}:`, ...text.map((l) => (l ? `${indent}  ${l}` : '')));
  }
  return out;
}

const deprecationOf = (doc: Doc | undefined): string[] | undefined => {
  const t = doc?.tags.find((x) => x.tag === 'deprecated');
  return t && plain(t.text);
};

/**
 * `help COMMAND [TAG=VALUE...]`: the command's documentation from the
 * release's generated declarations (deprecation first), then its arguments
 * with their types from `schema` (the QEMU's own); a tag given adds its
 * union branch's members.
 */
export function commandHelp(
  schema: SchemaDescriptor,
  release: string,
  command: string,
  tokens: readonly string[] = [],
): string {
  const view = new SchemaView(schema);
  const argType = view.argType(command);
  if (argType === undefined) throw new UsageError(`unknown command '${command}'${suggest(command, view.commands)}`);
  const given = givenOf(tokens);
  const docs = docsOf(release);
  const found = docs.command(command, given);
  const out: string[] = [`${command}${view.isDeprecated(command) ? '  (deprecated)' : ''}`, ''];
  const deprecated = deprecationOf(found?.doc);
  if (deprecated || view.isDeprecated(command))
    out.push(`DEPRECATED: ${(deprecated ?? ['this command is deprecated']).join('\n            ')}`, '');
  if (found?.doc) {
    const body = plain(found.doc.body);
    if (body.length) out.push(...body, '');
  } else
    out.push(
      docs.found
        ? `(no documentation: ${release} has no ${command})`
        : `(no documentation: release ${release} not found)`,
      '',
    );
  const obj = view.objectOf(argType);
  const members = obj ? view.members(obj, '', given) : new Map<string, SchemaInfoObjectMember>();
  if (members.size) {
    out.push('Arguments:');
    for (const [name, m] of members) {
      const marks = [
        ...('default' in m ? ['optional'] : []),
        ...(m.features?.includes('deprecated') ? ['DEPRECATED'] : []),
        ...(m.features?.includes('unstable') ? ['unstable'] : []),
      ];
      out.push(`  ${name}: ${view.show(m.type)}${marks.length ? `  (${marks.join(', ')})` : ''}`);
      const doc = found?.members.get(name);
      const dep = deprecationOf(doc);
      if (dep) out.push(`      DEPRECATED: ${dep.join('\n      ')}`);
      if (doc) out.push(...plain(doc.body, '      '), ...renderTags(doc, '      '));
    }
    if (obj?.tag && !obj.variants?.some((v) => v.case === given.get(obj.tag!)))
      out.push(`  (more members depend on '${obj.tag}': help ${command} ${obj.tag}=VALUE shows them)`);
  } else out.push('Arguments: none');
  const tags = renderTags(found?.doc, '');
  if (tags.length) out.push('', ...tags);
  return out.join('\n') + '\n';
}

const docsCache = new Map<string, ReleaseDocs>();
const docsOf = (release: string): ReleaseDocs => {
  let d = docsCache.get(release);
  if (!d) docsCache.set(release, (d = new ReleaseDocs(release)));
  return d;
};

/** `help`: every command in columns, deprecated ones starred. */
function commandList(schema: SchemaDescriptor, width: number): string {
  const view = new SchemaView(schema);
  const cells = view.commands.map((c) => (view.isDeprecated(c) ? `${c}*` : c));
  const cell = Math.max(...cells.map((c) => c.length)) + 2;
  const columns = Math.max(1, Math.floor(width / cell));
  const rows = Math.ceil(cells.length / columns);
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = '';
    for (let c = 0; c < columns; c++) {
      const text = cells[c * rows + r];
      if (text !== undefined) line += text.padEnd(cell);
    }
    out.push(line.trimEnd());
  }
  return `${out.join('\n')}\n(* deprecated; help COMMAND for its documentation)\n\n${BUILTINS_HELP}`;
}

// -- history ---------------------------------------------------------------

/**
 * Whether a line may hold a secret, so it is never kept in the history: any
 * that mentions a password (set_password, change-vnc-password, hmp change vnc
 * password, ...), and an object-add (object_add; as a command, `!object-add`,
 * a raw request, or through hmp) that mentions secret or data (qom-type=secret,
 * data=..., props.data=..., "data": ...). Generous on purpose: a line wrongly
 * dropped from the history costs little.
 */
export function isSecretLine(line: string): boolean {
  if (/passw(?:or)?d/i.test(line)) return true;
  const objectAdd =
    /^\s*!?\s*(?:hmp\s+)?object[-_]add(?:\s|$)/.test(line) ||
    /"execute"\s*:\s*"object[-_]add"/.test(line) ||
    /"command-line"\s*:\s*"\s*object[-_]add\b/.test(line);
  return objectAdd && /secret|\bdata\b/i.test(line);
}

/** A line not to keep in the history: one that starts with a space (bash's ignorespace), or may hold a secret. */
export const historyIgnores = (line: string): boolean => line.startsWith(' ') || isSecretLine(line);

const historyFile = (): string => process.env.QAPI_TS_HISTORY || path.join(homedir(), '.qapi-ts_history');

/** The saved history, newest first as readline keeps it; none when unreadable. */
function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !historyIgnores(l))
      .slice(-HISTORY_SIZE)
      .reverse();
  } catch {
    return [];
  }
}

function saveHistory(file: string, newestFirst: readonly string[]): void {
  try {
    // A history written before these rules may hold such lines: they go now.
    const lines = [...newestFirst]
      .reverse()
      .filter((l) => !historyIgnores(l))
      .slice(-HISTORY_SIZE);
    writeFileSync(file, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
  } catch {
    // An unwritable history is not worth failing the session for.
  }
}

// -- the shell -------------------------------------------------------------

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

class Shell {
  private readonly view: SchemaView;
  private rl?: Interface;
  private terminal = false;
  /** A line is being run: output goes out plainly (no prompt is shown). */
  private busy = false;
  private actions?: JsonObject[];
  /** The line (its number) whose action failed in the open transaction: `)` then sends nothing. */
  private spoiled?: number;
  /** Lines read so far: the number of the one being run. */
  private lineNo = 0;
  /** Lines that failed (QMP errors, usage errors, transactions not sent): with stdin not a terminal, exit 1. */
  private failures = 0;
  private lost?: ConnectionError;
  private quitting = false;
  /** QMP's quit was sent: the connection closing is what was asked for. */
  private qemuQuitting = false;

  constructor(
    private readonly client: AnyQmp,
    private readonly schema: SchemaDescriptor,
    private readonly release: string,
    private readonly io: Io,
  ) {
    this.view = new SchemaView(schema);
  }

  private get promptText(): string {
    if (this.actions)
      return `(transaction ${this.actions.length}${this.spoiled !== undefined ? `, line ${this.spoiled} failed` : ''}) `;
    const q = this.client.greeting.version.qemu;
    return `(QEMU ${q.major}.${q.minor}.${q.micro}) `;
  }

  private prompt(): void {
    if (!this.terminal || !this.rl) return;
    this.rl.setPrompt(this.promptText);
    this.rl.prompt(true);
  }

  /** Clears the prompt and the line being typed (to write above them), when they are shown. */
  private clearPrompt(): boolean {
    const rl = this.rl;
    if (!this.terminal || this.busy || !rl || this.quitting) return false;
    const out = process.stdout;
    moveCursor(out, 0, -rl.getCursorPos().rows);
    cursorTo(out, 0);
    // Row by row, not "clear to the end of the screen" from its top left: terminals (tmux) take that for
    // clearing the screen and push it into the scrollback.
    clearLine(out, 0);
    if (rl.getPrompt().length + rl.line.length >= (out.columns || 80)) {
      moveCursor(out, 0, 1);
      clearScreenDown(out);
      moveCursor(out, 0, -1);
    }
    // readline moves up by the rows it last drew before redrawing: what is written now is there, so start afresh.
    (rl as unknown as { prevRows: number }).prevRows = 0;
    return true;
  }

  /** Output that comes on its own (events): above the prompt and the line being typed, which are drawn again. */
  private interject(text: string): void {
    const shown = this.clearPrompt();
    this.io.out(text);
    if (shown) this.rl!.prompt(true);
  }

  private dropTransaction(): number {
    const n = this.actions?.length ?? 0;
    this.actions = undefined;
    this.spoiled = undefined;
    return n;
  }

  /**
   * Runs the shell until quit or the end of input. `early`: the events that
   * came since connecting, held by `holding` (a subscription of the
   * caller's); they print first, and this shell's own subscription takes
   * over from `holding` with none lost between.
   */
  async run(early: QmpEvent<string, JsonValue>[] = [], holding?: { dispose(): void }): Promise<number> {
    const input = this.io.stdin ?? process.stdin;
    this.terminal = this.io.isTTY === true && (input as { isTTY?: boolean }).isTTY === true;
    const file = historyFile();
    let history: string[] = this.terminal ? loadHistory(file) : [];
    const rl = (this.rl = createInterface({
      input,
      ...(this.terminal
        ? {
            output: process.stdout,
            terminal: true,
            completer: shellCompleter(this.schema, () => this.actions !== undefined),
            history,
            historySize: HISTORY_SIZE,
            removeHistoryDuplicates: true,
          }
        : { terminal: false }),
    }));
    rl.on('history', (h: string[]) => {
      // readline added the line just entered first; dropping it here keeps it out of this session's history too.
      if (h.length && historyIgnores(h[0])) h.shift();
      history = h;
    });
    rl.on('SIGINT', () => {
      if (this.busy) return void this.io.err('\n(waiting for the reply: Ctrl-C does not cancel a QMP command)\n');
      // Like a shell: ^C after the whole line, which is then dropped (readline has no public way: Ctrl-E, Ctrl-U).
      rl.write(null, { ctrl: true, name: 'e' });
      let note = '';
      if (this.actions) note = `transaction dropped (${count(this.actions.length, 'action')})\n`;
      else if (!rl.line) note = '(quit, exit or Ctrl-D to leave)\n';
      this.dropTransaction();
      this.io.out(`^C\n${note}`);
      (rl as unknown as { prevRows: number }).prevRows = 0;
      rl.write(null, { ctrl: true, name: 'u' });
      this.prompt();
    });
    const printEvent = (e: QmpEvent<string, JsonValue>): string =>
      `event: ${formatJson({ event: e.event, data: e.data, timestamp: e.timestamp }, true)}\n`;
    // Subscribed before `holding` goes, in the same turn: no event is missed or printed twice.
    const events = this.client.onAny((e) => this.interject(printEvent(e)));
    holding?.dispose();
    for (const e of early.splice(0)) this.io.out(printEvent(e));
    const closed = this.client.onClose((reason) => {
      if (this.quitting || this.qemuQuitting) return;
      this.lost ??= reason;
      this.clearPrompt();
      rl.close();
    });
    let quit = false;
    try {
      this.prompt();
      for await (const line of rl) {
        this.lineNo++;
        this.busy = true;
        quit = await this.handle(line);
        this.busy = false;
        if (quit || this.lost) break;
        this.prompt();
      }
      // Ctrl-D leaves the cursor after the prompt.
      if (this.terminal && !quit && !this.lost) this.io.out('\n');
      if (this.actions && !this.lost) {
        this.failures++;
        this.io.err(`transaction not sent: no ')' (${count(this.dropTransaction(), 'action')} dropped)\n`);
      }
    } finally {
      this.quitting = true;
      events.dispose();
      closed.dispose();
      rl.close();
      if (this.terminal) saveHistory(file, history);
    }
    if (this.lost) this.io.err(`QEMU went away: ${this.lost.message}\n`);
    // In a terminal the user saw each error; a script learns of them by the exit code.
    return this.lost || (!this.terminal && this.failures) ? EXIT.no : EXIT.ok;
  }

  /** Runs one line; true to quit. Errors are printed, never thrown (but a lost connection ends the loop). */
  private async handle(line: string): Promise<boolean> {
    const text = line.trim();
    if (!text) return false;
    // The line is (meant as) an action of the open transaction: if it fails, the transaction is spoiled.
    let action = false;
    try {
      if (text.startsWith('{')) return await this.raw(text);
      const hmp = /^hmp(?:\s+([\s\S]*))?$/.exec(text);
      if (hmp) {
        // HMP has its own syntax: the rest of the line goes as it is.
        if (!hmp[1]) throw new UsageError('hmp: give an HMP command line, e.g. hmp info status');
        const output = (await this.client.hmp(hmp[1])).replace(/\r\n/g, '\n');
        this.io.out(output && !output.endsWith('\n') ? `${output}\n` : output);
        return false;
      }
      action = this.actions !== undefined;
      if (text.startsWith('!')) {
        // QMP's own command or action, even one named like a shell word (quit, abort).
        const [first, ...rest] = splitWords(text.slice(1));
        if (first === undefined)
          throw new UsageError('!: give a QMP command (or in a transaction, an action), e.g. !quit');
        if (this.actions) this.addAction(first, rest);
        else return await this.command(first, rest);
        return false;
      }
      let opening = false;
      if (!this.actions && scanWords(text).words[0]?.text === 'transaction(') {
        // Opened before the line is split: one that cannot be (an unterminated quote in its first action) spoils
        // the transaction it starts, rather than leaving the action lines after it to run one by one.
        this.actions = [];
        this.spoiled = undefined;
        opening = action = true;
      }
      const [first, ...rest] = splitWords(text);
      if (opening) {
        if (rest.length) this.addAction(rest[0], rest.slice(1));
      } else if (first === 'quit' || first === 'exit') return true;
      else if (first === 'help') {
        action = false;
        this.help(rest);
      } else if (this.actions) {
        // `)` that fails (something after it) is no action: the transaction stays as it is.
        action = first !== ')';
        await this.transactionLine(first, rest);
      } else return await this.command(first, rest);
    } catch (e) {
      if (action && this.actions) this.spoiled ??= this.lineNo;
      this.report(e);
    }
    return false;
  }

  /** A QMP command, its reply printed; true when it was QMP's quit and QEMU is going away. */
  private async command(name: string, tokens: string[]): Promise<boolean> {
    // device_add takes the device's properties, which its schema cannot list ('gen': false).
    const params = commandArguments(this.schema, name, tokens, { open: name === 'device_add' });
    return this.send(name, () => this.client.execute(name, ...([params, {}] as never[])));
  }

  private async send(name: string, call: () => Promise<unknown>): Promise<boolean> {
    // After quit's reply QEMU closes the connection: that ends the shell, as asked, not as a loss.
    const quit = name === 'quit';
    if (quit) this.qemuQuitting = true;
    try {
      this.reply(await call());
      return quit;
    } catch (e) {
      if (quit && e instanceof ConnectionError) return true;
      this.qemuQuitting = false;
      throw e;
    }
  }

  private reply(value: unknown): void {
    this.io.out(formatJson(value) + '\n');
  }

  private report(e: unknown): void {
    if (e instanceof ConnectionError) {
      // The close listener says why and ends the loop; a call may learn first.
      this.lost ??= e;
      if (!this.quitting) this.rl?.close();
      return;
    }
    this.failures++;
    if (e instanceof QmpError) this.io.err(`${e.errorClass}: ${e.desc}\n`);
    else if (e instanceof UsageError || e instanceof QapiError) this.io.err(`${e.message}\n`);
    else this.io.err(`internal error (a bug of qapi-ts): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  }

  private async raw(text: string): Promise<boolean> {
    let value: JsonValue;
    try {
      value = parseJson(text);
    } catch (e) {
      throw new UsageError(`not JSON: ${(e as Error).message}`);
    }
    const req = value as { execute?: unknown; arguments?: unknown };
    if (typeof req !== 'object' || req === null || Array.isArray(req) || typeof req.execute !== 'string')
      throw new UsageError('a raw request is {"execute": NAME, "arguments": {...}}');
    const args = req.arguments;
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))
      throw new UsageError('"arguments" must be an object');
    const name = req.execute;
    return this.send(name, () => this.client.executeRaw(name, args as JsonObject | undefined));
  }

  private help(args: string[]): void {
    if (!args.length) {
      this.io.out(commandList(this.schema, (this.terminal && process.stdout.columns) || 80));
      return;
    }
    if (['hmp', 'transaction(', 'quit', 'exit', 'help'].includes(args[0])) {
      this.io.out(BUILTINS_HELP);
      return;
    }
    this.io.out(commandHelp(this.schema, this.release, args[0], args.slice(1)));
  }

  private async transactionLine(first: string, rest: string[]): Promise<void> {
    if (first === ')') {
      if (rest.length) throw new UsageError(`')' takes nothing after it`);
      // Sent once, whatever QEMU answers: like qmp-shell, the collection ends here.
      const spoiled = this.spoiled;
      const actions = this.actions!;
      this.dropTransaction();
      // Sending the actions that did convert would not be the transaction asked for: all or nothing.
      if (spoiled !== undefined)
        throw new UsageError(
          `transaction not sent: line ${spoiled} failed (${count(actions.length, 'action')} dropped)`,
        );
      if (!actions.length) {
        this.io.out('(empty transaction: nothing sent)\n');
        return;
      }
      this.reply(await this.client.execute('transaction', ...([{ actions }, {}] as never[])));
    } else if (first === 'abort' && !rest.length) {
      this.io.out(`transaction dropped (${count(this.dropTransaction(), 'action')})\n`);
    } else this.addAction(first, rest);
  }

  private addAction(type: string, tokens: string[]): void {
    const action = this.view.actions.get(type);
    if (!action) {
      const kinds = [...this.view.actions.keys()];
      throw new UsageError(
        `'${type}' is not a transaction action${suggest(type, kinds)}; one of ${kinds.join(', ')} (or ')' to send, abort to drop)`,
      );
    }
    const data = typeArguments(this.schema, action.dataType, tokens);
    this.actions!.push(action.wrapped ? { type, data } : { type, ...data });
  }
}

/**
 * The shell on a connected client (its release's docs for `help`): events
 * are held from the start, while the QEMU's schema is fetched, and print
 * once the shell runs. The exit code as `qapi-ts shell` answers it.
 */
export async function runShell(
  client: AnyQmp,
  release: string,
  io: Io,
  fromConnect: readonly QmpEvent<string, JsonValue>[] = [],
): Promise<number> {
  // Those that came while connecting first, then those from here on.
  const early: QmpEvent<string, JsonValue>[] = [...fromConnect];
  const holding = client.onAny((e) => void early.push(e));
  try {
    const schema = await client.schema();
    return await new Shell(client, schema, release, io).run(early, holding);
  } finally {
    holding.dispose();
  }
}

const OPTIONS: Record<string, OptionKind> = { release: 'value' };

export const shellCommand: Command = {
  name: 'shell',
  synopsis: 'shell TARGET [--release V]',
  help: HELP,
  options: optionNames(OPTIONS),
  async run(argv, io) {
    const args = parseArgs('shell', argv, OPTIONS);
    if (args.positional.length !== 1) throw new UsageError(`shell: give one TARGET (${TARGET_FORMS})`);
    noRest('shell', args.rest);
    const { client, release, early } = await connectQmpCli(args.positional[0], {
      release: args.values.get('release'),
      warn: (l) => io.err(`qapi-ts: warning: ${l}\n`),
    });
    try {
      // Listening from here on: events that come before the shell is ready are held, not lost.
      return await runShell(client, release.release, io, early);
    } finally {
      await client.close();
    }
  },
};
