/**
 * `qapi-ts completion bash|zsh`: a shell completion script; and the hidden
 * `qapi-ts __complete WORDS...` that the script runs on each TAB. The scripts
 * stay small: they pass the words typed so far and offer what __complete
 * prints, so what is completed where lives here, next to the commands' own
 * option lists (Command.options). Completion is offline: QMP and
 * guest-agent command names, their arguments and event names come from the
 * newest generated release (or qmp's --release), never from a running QEMU.
 */
import {
  entriesByName,
  enumValues,
  type SchemaDescriptor,
  type SchemaInfo,
  type SchemaInfoObjectMember,
} from '../runtime/schema/descriptor.js';
import { EXIT, parseArgs, UsageError, type Command } from './command.js';
import { loadRelease } from './connect.js';
import { releaseFiles } from './drift.js';

const HELP = `usage: qapi-ts completion bash|zsh

Prints a completion script for bash or zsh. It completes the subcommands, their
options and option values, the releases of diff, QMP and guest-agent command
names (and their key= arguments) after qmp/qga TARGET, event names of events
--name/--wait, and file names for TARGET and file arguments. Names come from the
newest release this qapi-ts has (offline: no QEMU is asked).

  bash: eval "$(qapi-ts completion bash)"    in ~/.bashrc
  zsh:  source <(qapi-ts completion zsh)      in ~/.zshrc, after compinit

Exit codes: 0 done; 2 a usage error (a shell other than bash or zsh).

Examples:
  eval "$(qapi-ts completion bash)"
  qapi-ts completion bash > ~/.local/share/bash-completion/completions/qapi-ts
  qapi-ts completion zsh > "\${fpath[1]}/_qapi-ts"`;

// The scripts are templates: \${ is the shell's own \${.
const BASH = `# qapi-ts completion for bash. Load it with: eval "$(qapi-ts completion bash)"
# (in ~/.bashrc), or save it as ~/.local/share/bash-completion/completions/qapi-ts.
# What to offer comes from \`qapi-ts __complete WORDS...\`: one candidate a line;
# ":files" or ":dirs" asks for file or directory names.
_qapi_ts() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[0]} i w glue= line files= words=()
  # bash splits words at = and : (--release=10.2, tcp:HOST:PORT): join them again.
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -n $w && -z \${w//[=:]/} && \${#words[@]} -gt 1 ]]; then
      words[\${#words[@]}-1]+=$w
      glue=1
    elif [[ -n $glue ]]; then
      words[\${#words[@]}-1]+=$w
      glue=
    else
      words+=("$w")
    fi
  done
  [[ $cmd == '~/'* ]] && cmd=$HOME/\${cmd#'~/'}
  # Candidates are whole words; bash replaces only what follows the last = or :
  # (nothing right after one, though its word is the = itself).
  [[ -z \${cur//[=:]/} ]] && cur=
  local prefix=\${words[\${#words[@]}-1]}
  prefix=\${prefix%"$cur"}
  COMPREPLY=()
  while IFS= read -r line; do
    case $line in
      :files) files=-f ;;
      :dirs) files=-d ;;
      ?*)
        line=\${line#"$prefix"}
        [[ -n $line ]] && COMPREPLY+=("$line")
        ;;
    esac
  done < <("$cmd" __complete "\${words[@]}" 2>/dev/null)
  for w in "\${COMPREPLY[@]}"; do
    # key= (a QMP argument): its value follows without a space.
    [[ $w == *= ]] && { compopt -o nospace 2>/dev/null; break; }
  done
  if [[ -n $files ]]; then
    compopt -o filenames 2>/dev/null
    while IFS= read -r line; do
      COMPREPLY+=("$line")
    done < <(compgen $files -- "$cur")
  fi
  return 0
}
complete -F _qapi_ts qapi-ts
`;

const ZSH = `#compdef qapi-ts
# qapi-ts completion for zsh. Load it with: source <(qapi-ts completion zsh)
# (in ~/.zshrc, after compinit), or save it as _qapi-ts in a directory of $fpath.
# What to offer comes from \`qapi-ts __complete WORDS...\`: one candidate a line;
# ":files" or ":dirs" asks for file or directory names.
_qapi-ts() {
  local line files= ret=1
  local -a out candidates keys
  out=("\${(@f)$(\${~words[1]} __complete "\${(@Q)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "\${out[@]}"; do
    case $line in
      (:files) files=files ;;
      (:dirs) files=dirs ;;
      (*=) keys+=("$line") ;;
      (?*) candidates+=("$line") ;;
    esac
  done
  (( \${#candidates} )) && compadd -- "\${candidates[@]}" && ret=0
  # key= (a QMP argument): its value follows without a space.
  (( \${#keys} )) && compadd -S '' -- "\${keys[@]}" && ret=0
  if [[ -n $files ]]; then
    # After --opt= the file name is what follows the =.
    [[ $PREFIX == -*=* ]] && compset -P '*='
    if [[ $files == dirs ]]; then _files -/ && ret=0; else _files && ret=0; fi
  fi
  return ret
}
if [[ \${funcstack[1]} == _qapi-ts ]]; then
  # Autoloaded from $fpath: this first call completes too.
  _qapi-ts "$@"
elif (( \${+functions[compdef]} )); then
  compdef _qapi-ts qapi-ts
else
  print -u2 'qapi-ts completion: load compinit first (autoload -U compinit && compinit)'
fi
`;

export const completionCommand: Command = {
  name: 'completion',
  synopsis: 'completion bash|zsh',
  help: HELP,
  options: [],
  run(argv, io) {
    const [shell, ...more] = parseArgs('completion', argv, {}).positional;
    if (more.length || (shell !== 'bash' && shell !== 'zsh'))
      throw new UsageError(
        `completion: give the shell: bash or zsh${shell ? ` (not '${[shell, ...more].join(' ')}')` : ''}`,
      );
    io.out(shell === 'bash' ? BASH : ZSH);
    return EXIT.ok;
  },
};

/** What to offer: words, and whether the shell should add file (or directory) names. */
interface Offer {
  words: readonly string[];
  files?: 'files' | 'dirs';
}

/** The command line up to the word being completed. */
interface Typed {
  /** The positional arguments before it. */
  positional: string[];
  /** The options given before it with a value (the last, for a repeated one). */
  values: Map<string, string>;
  /** The word (or an option's value) being completed. */
  cur: string;
}

type Completer = (typed: Typed) => Offer | Promise<Offer>;

type Kind = 'qemu' | 'qga' | 'qsd';

const byVersion = (x: string, y: string): number => {
  const [a, b] = [x, y].map((v) => v.split('.').map(Number));
  return a[0] - b[0] || a[1] - b[1];
};

/** The generated releases of one kind, oldest first. */
function releaseNames(kind: Kind): string[] {
  return [...releaseFiles(kind).keys()].sort(byVersion);
}

/** A release's schema: `release` when this qapi-ts has it, else the newest. */
async function schemaOf(kind: 'qemu' | 'qga', release: string | undefined): Promise<SchemaDescriptor> {
  const all = releaseNames(kind);
  const pick = release !== undefined && all.includes(release) ? release : all[all.length - 1];
  return pick === undefined ? [] : (await loadRelease(kind, pick)).schema;
}

async function namesOf(kind: 'qemu' | 'qga', meta: 'command' | 'event', release?: string): Promise<string[]> {
  return (await schemaOf(kind, release))
    .filter((e) => e['meta-type'] === meta)
    .map((e) => e.name)
    .sort();
}

/** An object type's members, with a union's branch when its tag is among the arguments given. */
function membersOf(
  byName: Map<string, SchemaInfo>,
  type: string,
  given: Map<string, string>,
): SchemaInfoObjectMember[] {
  const t = byName.get(type);
  if (t?.['meta-type'] !== 'object') return [];
  const tag = t.tag !== undefined ? given.get(t.tag) : undefined;
  const branch = t.variants?.find((v) => v.case === tag);
  return branch ? [...t.members, ...membersOf(byName, branch.type, given)] : t.members;
}

/** The values a member of this type can be written as, when they are few: an enum's, a boolean's. */
function valuesOf(byName: Map<string, SchemaInfo>, type: string): string[] {
  const t = byName.get(type);
  if (t?.['meta-type'] === 'enum') return enumValues(t);
  return t?.['meta-type'] === 'builtin' && t['json-type'] === 'boolean' ? ['on', 'off'] : [];
}

/**
 * The arguments of `command` (qmp-shell style, cli/shell-args.ts): `key=`
 * for each not given yet (a.b=... gives a), or after `key=` its values.
 */
async function commandArguments(
  kind: 'qemu' | 'qga',
  command: string,
  { positional, cur }: Typed,
  release?: string,
): Promise<Offer> {
  const byName = entriesByName(await schemaOf(kind, release));
  const c = byName.get(command);
  if (c?.['meta-type'] !== 'command') return NONE;
  const given = new Map<string, string>();
  for (const t of positional.slice(2)) {
    const m = /^([^=:.]+)[^=]*?=(.*)$/.exec(t);
    if (m) given.set(m[1], m[2]);
  }
  const members = membersOf(byName, c['arg-type'], given);
  const key = /^([^=:.]+)=/.exec(cur)?.[1];
  if (key !== undefined) {
    const member = members.find((m) => m.name === key);
    return { words: member ? valuesOf(byName, member.type).map((v) => `${key}=${v}`) : [] };
  }
  return { words: members.filter((m) => !given.has(m.name)).map((m) => `${m.name}=`) };
}

const NONE: Offer = { words: [] };
const FILES: Offer = { words: [], files: 'files' };
const DIRS: Offer = { words: [], files: 'dirs' };
const none: Completer = () => NONE;
const files: Completer = () => FILES;
const dirs: Completer = () => DIRS;
const oneOf =
  (...words: string[]): Completer =>
  () => ({ words });
const releasesOr =
  (kind: Kind, files?: 'files'): Completer =>
  () => ({ words: releaseNames(kind), files });
const eventNames: Completer = async () => ({ words: await namesOf('qemu', 'event') });

/**
 * The options that take a value, by command, and what their value is. An
 * option of a Command's `options` missing here is a flag: the next word is
 * not its value (test/completion.test.ts checks this against the parsers).
 */
export const OPTION_VALUES: Readonly<Record<string, Readonly<Record<string, Completer>>>> = {
  qmp: { '--hmp': none, '--timeout': none, '--release': releasesOr('qemu') },
  qga: { '--timeout': none, '--input': none },
  events: { '--name': eventNames, '--wait': eventNames, '--count': none, '--timeout': none, '--where': none },
  backup: { '--node': none, '--to': files, '--bitmap': none, '--from': files, '--speed': none },
  'check-schema': { '--dialect': oneOf('auto', 'modern', 'legacy') },
  gen: {
    '--schema': files,
    '--out': dirs,
    '--protocol': oneOf('qmp', 'qga'),
    '--label': none,
    '--from-socket': files,
    '--from-qemu': files,
    '--source': releasesOr('qemu', 'files'),
    '--docs': files,
  },
  drift: { '--release': releasesOr('qemu') },
  diff: { '--format': oneOf('text', 'markdown', 'json'), '--protocol': oneOf('qmp', 'qga', 'qsd') },
  compat: {
    '--project': files,
    // A comma-separated list: complete its last item.
    '--releases': ({ cur }) => {
      const head = cur.slice(0, cur.lastIndexOf(',') + 1);
      const listed = new Set(head.split(','));
      return {
        words: releaseNames('qemu')
          .filter((r) => !listed.has(r))
          .map((r) => head + r),
      };
    },
  },
  'add-qemu': { '--from-source': dirs, '--from-qemu': files, '--docs': files },
  shell: { '--release': releasesOr('qemu') },
};

/** The positional arguments, by command: `typed.positional.length` is the one being completed. Others: files. */
const POSITIONALS: Readonly<Record<string, Completer>> = {
  async qmp(typed) {
    const { positional: p, values } = typed;
    if (p.length === 0) return FILES;
    const release = values.get('--release');
    if (p.length === 1) return { words: await namesOf('qemu', 'command', release) };
    return p[1] === '-' ? NONE : commandArguments('qemu', p[1], typed, release);
  },
  async qga(typed) {
    const p = typed.positional;
    if (p.length === 0) return FILES;
    if (p.length === 1) return { words: ['exec', ...(await namesOf('qga', 'command'))] };
    return p[1] === 'exec' ? NONE : commandArguments('qga', p[1], typed);
  },
  events: ({ positional: p }) => (p.length === 0 ? FILES : NONE),
  backup({ positional: p }) {
    if (p.length === 0) return { words: ['restore'], files: 'files' };
    if (p[0] === 'restore') return FILES;
    return p.length === 1 ? { words: ['full', 'incremental', 'bitmaps'] } : NONE;
  },
  'check-schema': ({ positional: p }) => (p.length === 0 ? FILES : NONE),
  gen: none,
  drift: ({ positional: p }) => (p.length === 0 ? FILES : NONE),
  diff({ positional: p, values }) {
    if (p.length >= 2) return NONE;
    const protocol = values.get('--protocol');
    return { words: releaseNames(protocol === 'qga' ? 'qga' : protocol === 'qsd' ? 'qsd' : 'qemu'), files: 'files' };
  },
  compat: none,
  'add-qemu': none,
  completion: ({ positional: p }) => (p.length === 0 ? { words: ['bash', 'zsh'] } : NONE),
};

/** The offer's words that complete `cur`, each after `prefix`; then the file directive. */
function lines(cur: string, offer: Offer, prefix = ''): string[] {
  const out = offer.words.filter((w) => w.startsWith(cur)).map((w) => prefix + w);
  if (offer.files) out.push(`:${offer.files}`);
  return out;
}

/**
 * What completes the last of `words` (the words after `qapi-ts`; the last is
 * the one being completed, '' for a new one): one candidate a line, whole
 * words (`--release=10.2`), and ':files' or ':dirs' when the shell should add
 * file or directory names.
 */
export async function complete(words: readonly string[]): Promise<string[]> {
  // Imported here, not at the top: main.ts imports this module for its COMMANDS.
  const { COMMANDS } = await import('./main.js');
  const cur = words[words.length - 1] ?? '';
  if (words.length <= 1)
    return lines(cur, {
      words: cur.startsWith('-') ? ['--help', '--version'] : [...COMMANDS.map((c) => c.name), 'help', 'version'],
    });
  const name = words[0];
  if (name === 'help') return words.length === 2 ? lines(cur, { words: COMMANDS.map((c) => c.name) }) : [];
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return [];
  const valued = OPTION_VALUES[name] ?? {};
  const typed: Typed = { positional: [], values: new Map(), cur };
  const last = words.length - 1;
  for (let i = 1; i < last; i++) {
    const w = words[i];
    // What follows -- is a program's (qga exec): nothing to offer.
    if (w === '--') return [];
    if (!w.startsWith('--')) {
      typed.positional.push(w);
      continue;
    }
    const eq = w.indexOf('=');
    if (eq >= 0) typed.values.set(w.slice(0, eq), w.slice(eq + 1));
    else if (valued[w] && i + 1 < last) typed.values.set(w, words[++i]);
    // The word being completed is this option's value (the parsers never take --x as one).
    else if (valued[w] && !cur.startsWith('--')) return lines(cur, await valued[w](typed));
  }
  const eq = cur.startsWith('--') ? cur.indexOf('=') : -1;
  if (eq >= 0) {
    const option = cur.slice(0, eq);
    const value = { ...typed, cur: cur.slice(eq + 1) };
    return valued[option] ? lines(value.cur, await valued[option](value), `${option}=`) : [];
  }
  if (cur.startsWith('-'))
    return lines(cur, { words: [...new Set([...(command.options ?? []), ...Object.keys(valued), '--help'])] });
  return lines(cur, await (POSITIONALS[name] ?? files)(typed));
}

/**
 * `qapi-ts __complete WORDS...`: what the completion scripts run. Not listed
 * by `qapi-ts help`; main.ts runs it before looking for --help, which here is
 * a word being completed.
 */
export const completeCommand: Command = {
  name: '__complete',
  synopsis: '__complete WORDS...',
  help: `usage: qapi-ts __complete WORDS...

For the completion scripts (qapi-ts completion bash|zsh): the candidates that
complete the last of WORDS (the words after qapi-ts; '' for a new word), one a
line; a line ':files' or ':dirs' asks the shell for file or directory names.

Exit codes: 0 done (nothing printed when nothing fits); 3 a bug of qapi-ts.

Examples:
  qapi-ts __complete qmp /run/vm.qmp query-st
  qapi-ts __complete diff ''`,
  options: [],
  async run(argv, io) {
    try {
      const out = await complete(argv);
      io.out(out.map((l) => l + '\n').join(''));
      return EXIT.ok;
    } catch (e) {
      // The scripts drop stderr: a failure offers nothing rather than noise on the prompt.
      io.err(`qapi-ts __complete: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      return EXIT.internal;
    }
  },
};
