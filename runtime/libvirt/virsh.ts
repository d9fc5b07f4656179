/**
 * Talking to libvirt through its own tool, virsh, spawned without a shell:
 * one long-lived `virsh` per connection runs the commands one at a time (its
 * interactive mode reads them from stdin), and one `virsh
 * qemu-monitor-event --loop` per QMP connection brings the events.
 *
 * virsh's interactive mode echoes prompts and commands, and writes errors
 * to stderr; after each command, an `echo` to each stream marks where its
 * output ends, so that output and errors are told apart per command. virsh
 * runs in the C locale (its messages are what errors are classified by) and
 * keeps no history: requests may hold secrets.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface LibvirtTarget {
  /** The domain: its name, id or UUID (resolved to its UUID once, at connect). */
  domain: string;
  /** libvirt's connection URI (default: libvirt's own default, e.g. qemu:///session for a user). */
  uri?: string;
  /** The virsh program and any arguments before virsh's own (default ['virsh']): e.g. ['sudo', '-u', 'vm', 'virsh']. */
  virsh?: readonly string[];
  /** Seconds libvirt waits for the guest agent's reply (qemu-agent-command --timeout; default 60). */
  agentTimeout?: number;
}

/** What virsh said went wrong, and what that means for the caller. */
export type VirshErrorKind =
  | 'domain-not-found'
  | 'domain-not-running'
  | 'agent-not-connected'
  | 'agent-timeout'
  | 'permission-denied'
  | 'connection-failed'
  | 'failed';

/** Classifies one of virsh's (libvirt's own, C locale) error lines. */
export function classifyVirshError(text: string): VirshErrorKind {
  if (/failed to get domain|Domain not found|no domain with matching/i.test(text)) return 'domain-not-found';
  if (/domain is not running/i.test(text)) return 'domain-not-running';
  if (/Guest agent not available for now/i.test(text)) return 'agent-timeout';
  if (/guest agent is not (?:connected|responding)|QEMU guest agent is not connected/i.test(text))
    return 'agent-not-connected';
  if (/permission denied|access denied|authentication failed|operation forbidden|read only access/i.test(text))
    return 'permission-denied';
  if (
    /failed to connect|unable to connect|Cannot recv data|End of file while reading|reconnect to the hypervisor/i.test(
      text,
    )
  )
    return 'connection-failed';
  return 'failed';
}

export interface VirshResult {
  stdout: string;
  /** virsh's error lines for this command, "error: " removed; empty when it succeeded. */
  errors: string[];
}

/**
 * Quotes a word for virsh's own command parser: double quotes, backslash
 * escapes. virsh reads its input with readline, which acts on control
 * characters (DEL is a backspace): they, and every non-ASCII character, are
 * written as JSON \u escapes when `json` says the word is JSON text.
 */
export function virshQuote(word: string, json = false): string {
  if (/[\r\n]/.test(word)) throw new TypeError('a virsh argument cannot span lines');
  const safe = json
    ? word.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : word;
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  if (!json && /[\u0000-\u001f\u007f]/.test(word))
    throw new TypeError('a virsh argument cannot hold control characters');
  return `"${safe.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** virsh's environment: C locale, no history, its cache in a private folder (removed by `dispose`). */
function virshEnv(): { env: NodeJS.ProcessEnv; dispose(): void } {
  const cache = mkdtempSync(path.join(tmpdir(), 'qapi-ts-virsh-'));
  return {
    env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8', VIRSH_HISTSIZE: '0', XDG_CACHE_HOME: cache },
    dispose: () => rmSync(cache, { recursive: true, force: true }),
  };
}

function argvOf(target: LibvirtTarget, rest: readonly string[]): [string, string[]] {
  const [program, ...pre] = target.virsh?.length ? target.virsh : ['virsh'];
  return [program, [...pre, '-q', ...(target.uri ? ['-c', target.uri] : []), ...rest]];
}

interface Pending {
  line: string;
  marker: string;
  resolve: (r: VirshResult) => void;
  reject: (e: Error) => void;
}

/** One interactive virsh, its commands run one after the other (the next written only when one is done). */
export class VirshShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: Pending[] = [];
  private inFlight: Pending | undefined;
  private readonly nonce = randomUUID().slice(0, 8);
  private seq = 0;
  private out = '';
  private err = '';
  private gone: Error | undefined;
  private readonly exitListeners = new Set<(e: Error) => void>();
  private readonly env = virshEnv();

  constructor(readonly target: LibvirtTarget) {
    const [program, args] = argvOf(target, []);
    this.child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: this.env.env });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.out += d;
      this.settle();
    });
    this.child.stderr.on('data', (d: string) => {
      this.err += d;
      this.settle();
    });
    const die = (why: string): void => {
      if (this.gone) return;
      this.gone = new Error(why);
      this.env.dispose();
      for (const p of [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)]) p.reject(this.gone);
      this.inFlight = undefined;
      for (const l of this.exitListeners) l(this.gone);
    };
    this.child.on('error', (e) => die(`virsh could not run: ${e.message}`));
    this.child.on('exit', (code, signal) =>
      die(`virsh exited (${signal ?? code})${this.err.trim() ? `: ${lastLine(this.err)}` : ''}`),
    );
    this.child.stdin.on('error', () => undefined);
  }

  /** Called once if virsh goes away. */
  onExit(listener: (e: Error) => void): void {
    this.exitListeners.add(listener);
  }

  /** Runs one virsh command line (already quoted) and resolves with its output and error lines. */
  run(commandLine: string): Promise<VirshResult> {
    if (this.gone) return Promise.reject(this.gone);
    const marker = `@@qapi-ts-${this.nonce}-${++this.seq}@@`;
    return new Promise<VirshResult>((resolve, reject) => {
      this.queue.push({ line: commandLine, marker, resolve, reject });
      this.next();
    });
  }

  /** One command at a time: what is still queued when the connection closes is never run. */
  private next(): void {
    if (this.inFlight || this.gone) return;
    const p = this.queue.shift();
    if (!p) return;
    this.inFlight = p;
    this.child.stdin.write(`${p.line}\necho ${p.marker}\necho --err ${p.marker}\n`);
  }

  /** Completes the command in flight once both its markers have come. */
  private settle(): void {
    const p = this.inFlight;
    if (!p) return;
    // The echo's own output starts a line (virsh's echo of the command line has it after "echo ").
    const atLineStart = (text: string, prefix: string): number => {
      const m = new RegExp(`(?:^|\\n)${prefix}${p.marker.replace(/[@-]/g, (c) => `\\${c}`)}`).exec(text);
      return m ? m.index + m[0].length - p.marker.length : -1;
    };
    const o = atLineStart(this.out, '');
    // On stderr the marker comes as "error: MARKER".
    const e = atLineStart(this.err, 'error: ');
    if (o < 0 || e < 0) return;
    // Only the echoed prompt lines of this command and its markers are virsh's own: the rest is output.
    const own = new Set([
      `virsh # ${p.line}`,
      `virsh # echo ${p.marker}`,
      `virsh # echo --err ${p.marker}`,
      'virsh # ',
    ]);
    const stdout = this.out
      .slice(0, o)
      .split('\n')
      .filter((l) => !own.has(l.replace(/\s+$/, '')) && !own.has(l))
      .join('\n');
    const errors = this.err
      .slice(0, e)
      .split('\n')
      .filter((l) => l.startsWith('error: '))
      .map((l) => l.slice('error: '.length).trim())
      .filter((l) => l && l !== p.marker);
    this.out = this.out.slice(o + p.marker.length);
    this.err = this.err.slice(this.err.indexOf('\n', e) + 1 || this.err.length);
    this.inFlight = undefined;
    p.resolve({ stdout, errors });
    this.next();
  }

  /** Ends virsh at once: commands queued or running are not run or waited for. */
  close(): void {
    if (!this.gone) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    t.unref();
    this.child.once('exit', () => clearTimeout(t));
  }
}

function lastLine(text: string): string {
  return text
    .trim()
    .split('\n')
    .pop()!
    .replace(/^error: /, '');
}

export interface ParsedEvent {
  event: string;
  /** The event's data as JSON text, or undefined when it has none. */
  data: string | undefined;
  /** QEMU's own timestamp. */
  timestamp: { seconds: number; microseconds: number };
}

/**
 * A long-lived `virsh qemu-monitor-event --loop` for one domain: each event as
 * QMP would send it. `onExit` is called if it ends (libvirtd restarted, the
 * domain gone): events would stop without a word otherwise.
 */
export function watchEvents(
  target: LibvirtTarget,
  name: string,
  onEvent: (event: ParsedEvent) => void,
  onExit: (why: string) => void,
): { close(): void } {
  const [program, args] = argvOf(target, ['qemu-monitor-event', '--domain', target.domain, '--loop']);
  const env = virshEnv();
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env.env });
  let closing = false;
  let stderr = '';
  child.on('error', (e) => onExit(`virsh qemu-monitor-event could not run: ${e.message}`));
  child.on('exit', (code, signal) => {
    env.dispose();
    if (!closing)
      onExit(`virsh qemu-monitor-event ended (${signal ?? code})${stderr.trim() ? `: ${lastLine(stderr)}` : ''}`);
  });
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const parsed = parseEventLine(line, name);
      if (parsed) onEvent(parsed);
    }
    // One line never grows without bound: a stuck partial line is dropped.
    if (buffer.length > 16 * 1024 * 1024) buffer = '';
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => void (stderr = (stderr + d).slice(-4000)));
  return {
    close: () => {
      closing = true;
      child.kill('SIGTERM');
    },
  };
}

/**
 * "event STOP at 1796049285.756375 for domain 'qt1': <null>" (or JSON data
 * after the colon) as a QMP event; undefined when it is not one. The domain's
 * name is matched exactly: the data may hold "': " itself.
 */
export function parseEventLine(line: string, domain: string): ParsedEvent | undefined {
  const m = /^event (\S+) at (\d+)\.(\d{1,6}) for domain '/.exec(line);
  if (!m) return undefined;
  const prefix = `${m[0]}${domain}': `;
  if (!line.startsWith(prefix)) return undefined;
  const rest = line.slice(prefix.length).trim();
  // The data stays text (64-bit integers exact); the client's parser reads and checks it.
  let data: string | undefined;
  if (rest === '<null>') data = undefined;
  else if (rest.startsWith('{') && rest.endsWith('}')) data = rest;
  else return undefined;
  return { event: m[1], data, timestamp: { seconds: Number(m[2]), microseconds: Number(m[3].padEnd(6, '0')) } };
}
