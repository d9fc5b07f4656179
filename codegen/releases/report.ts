/**
 * A schema diff (./diff.ts) as text for a terminal, Markdown for docs/, or
 * JSON for scripts. One sentence per change, written by one function, so the
 * three formats never disagree.
 */
import { featureChangesOf, type Change, type DefinitionChanges, type Definitions, type SchemaDiff } from './diff.js';

export type DiffFormat = 'text' | 'markdown' | 'json';

type Code = (s: string) => string;
const plain: Code = (s) => s;
const backticks: Code = (s) => '`' + s + '`';

/** What is said after a thing that is absent from one build only. */
function notBuilt(c: { notBuilt?: string }, code: Code): string {
  return c.notBuilt ? ` (not in this build: ${code(c.notBuilt)})` : '';
}

/** One change as a sentence, without the definition it is in. */
export function describeChange(c: Change, code: Code = plain): string {
  const what =
    c.subject === 'definition'
      ? ''
      : c.subject === 'returns' || c.subject === 'arguments'
        ? c.subject
        : `${c.subject} ${code(c.name)}`;
  switch (c.kind) {
    case 'added':
      if (c.subject === 'member') return `${what} added (${c.optional ? 'optional' : 'required'}, ${code(c.to!)})`;
      if (c.subject === 'branch') return `${what} added (${code(c.to!)})`;
      return `${what} added`;
    case 'removed':
      return `${what} removed${notBuilt(c, code)}`;
    case 'optional':
      return `${what} is now optional`;
    case 'required':
      return `${what} is now required`;
    case 'type':
      return `${what}: type ${code(c.from!)} → ${code(c.to!)}`;
    case 'feature-added':
    case 'feature-removed': {
      const verb = c.kind === 'feature-added' ? '' : 'no longer ';
      const state = c.feature === 'deprecated' || c.feature === 'unstable' ? c.feature : `feature ${code(c.feature!)}`;
      return what ? `${what} ${verb || 'now '}${state}` : `${verb || 'now '}${state}`;
    }
  }
}

function usedBy(t: DefinitionChanges, code: Code): string {
  const users = t.usedBy ?? [];
  if (!users.length) return '';
  const shown = users.slice(0, 4).map(code).join(', ');
  return ` (used by ${shown}${users.length > 4 ? ` and ${users.length - 4} more` : ''})`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function counts(d: Definitions): string {
  return `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`;
}

function renamed(t: DefinitionChanges, code: Code): string {
  return t.was ? ` (was ${code(t.was)})` : t.splitFrom ? ` (split from ${code(t.splitFrom)})` : '';
}

/** The diff as lines for a terminal: '+' added, '-' removed, '~' changed. */
function text(diff: SchemaDiff, title: string): string {
  const out = [`${title}: ${diff.from} → ${diff.to}`];
  const defs = (meta: string, d: Definitions): void => {
    for (const n of d.added) out.push(`+ ${meta} ${n.name}${notBuilt(n, plain)}`);
    for (const r of d.removed) out.push(`- ${meta} ${r.name}${notBuilt(r, plain)}`);
    for (const c of d.changed) for (const ch of c.changes) out.push(`~ ${meta} ${c.name}: ${describeChange(ch)}`);
  };
  defs('command', diff.commands);
  defs('event', diff.events);
  for (const t of diff.types) {
    if (t.was && !t.changes.length) out.push(`~ type ${t.name}: renamed from ${t.was}`);
    if (t.splitFrom) out.push(`~ type ${t.name}: split from ${t.splitFrom} (one of several copies)`);
    for (const ch of t.changes) out.push(`~ type ${t.name}${renamed(t, plain)}: ${describeChange(ch)}`);
  }
  if (out.length === 1) out.push('  (no change)');
  if (!diff.integerWidths) out.push("  (integer widths not compared: one side is a build's introspection)");
  return out.join('\n') + '\n';
}

/** The diff as a Markdown section, headed at `level`. */
export function markdownSection(diff: SchemaDiff, title: string, level = 2): string {
  const h = (n: number, s: string): string => `${'#'.repeat(level + n)} ${s}`;
  const out: string[] = [h(0, title), ''];
  const deprecated = featureChangesOf(diff, 'deprecated');
  out.push(
    `Commands: ${counts(diff.commands)}. Events: ${counts(diff.events)}. ` +
      `Types changed: ${diff.types.length}. ${plural(deprecated.length, 'new deprecation')}.`,
    '',
  );
  if (!diff.integerWidths) {
    out.push(
      `One side is a single build's introspection: integer widths are not compared, and what the other builds ` +
        `only under a condition is marked "not in this build" when it is missing.`,
      '',
    );
  }
  const list = (heading: string, items: string[]): void => {
    if (!items.length) return;
    out.push(h(1, heading), '', ...items.map((i) => `- ${i}`), '');
  };
  const defs = (Meta: string, d: Definitions): void => {
    list(
      `${Meta}s added`,
      d.added.map((a) => backticks(a.name) + notBuilt(a, backticks)),
    );
    list(
      `${Meta}s removed`,
      d.removed.map((r) => backticks(r.name) + notBuilt(r, backticks)),
    );
    list(
      `${Meta}s changed`,
      d.changed.map((c) => `${backticks(c.name)}: ${c.changes.map((ch) => describeChange(ch, backticks)).join('; ')}`),
    );
  };
  defs('Command', diff.commands);
  defs('Event', diff.events);
  if (diff.types.length) {
    out.push(h(1, 'Types changed'), '');
    for (const t of diff.types) {
      out.push(`- ${backticks(t.name)}${renamed(t, backticks)}${usedBy(t, backticks)}`);
      for (const ch of t.changes) out.push(`  - ${describeChange(ch, backticks)}`);
    }
    out.push('');
  }
  list(
    'New deprecations',
    deprecated.map((d) => {
      const [kind, name] = d.split(' ');
      return `${kind} ${backticks(name)}`;
    }),
  );
  return out.join('\n');
}

/** The diff in a format; `title` names the protocol ("QMP", "Guest agent"). */
export function formatDiff(diff: SchemaDiff, format: DiffFormat, title = 'QMP'): string {
  if (format === 'json') return JSON.stringify(diff, null, 2) + '\n';
  if (format === 'markdown') return markdownSection(diff, `${title}: ${diff.from} → ${diff.to}`, 1);
  return text(diff, title);
}
