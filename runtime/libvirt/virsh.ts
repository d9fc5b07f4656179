/**
 * Talking to libvirt through its own tool, virsh, spawned without a shell:
 * one long-lived `virsh` per connection runs the commands in turn (its
 * interactive mode reads them from stdin), and one `virsh
 * qemu-monitor-event --loop` per QMP connection brings the events.
 *
 * virsh's interactive mode echoes prompts and commands, and writes errors
 * to stderr; after each command, an `echo` to each stream marks where its
 * output ends, so that output and errors are told apart per command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';

export interface LibvirtTarget {
  /** The domain: its name, id or UUID. */
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

/** Classifies one of virsh's error lines ("error: ..."). */
export function classifyVirshError(text: string): VirshErrorKind {
  if (/failed to get domain|Domain not found|no domain with matching/i.test(text)) return 'domain-not-found';
  if (/domain is not running|not running/i.test(text)) return 'domain-not-running';
  if (/guest agent is not (?:connected|responding)|agent is not connected|QEMU guest agent is not/i.test(text)) {
    return /timed? ?out|timeout/i.test(text) && !/not connected/i.test(text) ? 'agent-timeout' : 'agent-not-connected';
  }
  if (/permission denied|access denied|authentication failed|Operation not permitted/i.test(text))
    return 'permission-denied';
  if (/failed to connect|unable to connect|Cannot recv data|End of file while reading/i.test(text))
    return 'connection-failed';
  return 'failed';
}

export interface VirshResult {
  stdout: string;
  /** virsh's error lines for this command, "error: " removed; empty when it succeeded. */
  errors: string[];
}

/** Quotes a word for virsh's own command parser: double quotes, backslash escapes. */
export function virshQuote(word: string): string {
  if (/[\r\n]/.test(word)) throw new TypeError('a virsh argument cannot span lines');
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function argvOf(target: LibvirtTarget, rest: readonly string[]): [string, string[]] {
  const [program, ...pre] = target.virsh?.length ? target.virsh : ['virsh'];
  return [program, [...pre, '-q', ...(target.uri ? ['-c', target.uri] : []), ...rest]];
}

interface Pending {
  marker: string;
  resolve: (r: VirshResult) => void;
  reject: (e: Error) => void;
}

/** One interactive virsh, its commands run one after the other. */
export class VirshShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly queue: Pending[] = [];
  private readonly nonce = randomUUID().slice(0, 8);
  private seq = 0;
  private out = '';
  private err = '';
  private gone: Error | undefined;
  private readonly exitListeners = new Set<(e: Error) => void>();

  constructor(readonly target: LibvirtTarget) {
    const [program, args] = argvOf(target, []);
    this.child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
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
      for (const p of this.queue.splice(0)) p.reject(this.gone);
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
      this.queue.push({ marker, resolve, reject });
      this.child.stdin.write(`${commandLine}\necho ${marker}\necho --err ${marker}\n`);
    });
  }

  /** Completes the commands whose two markers have both come. */
  private settle(): void {
    while (this.queue.length) {
      const { marker, resolve } = this.queue[0];
      const o = this.out.indexOf(marker);
      // On stderr the marker comes as "error: MARKER".
      const e = this.err.indexOf(marker);
      if (o < 0 || e < 0) return;
      const stdout = this.out
        .slice(0, o)
        .split('\n')
        .filter((l) => !/^virsh # /.test(l) && !l.includes(`echo ${marker}`) && !l.includes('echo --err'))
        .join('\n');
      const errors = this.err
        .slice(0, e)
        .split('\n')
        .map((l) => l.replace(/^error: /, '').trim())
        .filter((l) => l && !l.startsWith('@@qapi-ts-'));
      this.out = this.out.slice(o + marker.length);
      this.err = this.err.slice(this.err.indexOf('\n', e) + 1 || this.err.length);
      this.queue.shift();
      resolve({ stdout, errors });
    }
  }

  close(): void {
    this.child.stdin.end('quit\n');
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
  timestamp: { seconds: number; microseconds: number };
}

/** A long-lived `virsh qemu-monitor-event --loop` for one domain: each event as QMP would send it. */
export function watchEvents(
  target: LibvirtTarget,
  onEvent: (event: ParsedEvent) => void,
  onProblem: (line: string) => void,
): { close(): void } {
  const [program, args] = argvOf(target, ['qemu-monitor-event', '--domain', target.domain, '--loop', '--timestamp']);
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', (e) => onProblem(`virsh qemu-monitor-event could not run: ${e.message}`));
  let buffer = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const parsed = parseEventLine(line, target.domain);
      if (parsed) onEvent(parsed);
      else if (line.trim()) onProblem(`unreadable event line from virsh: ${line.slice(0, 120)}`);
    }
    // One line never grows without bound: a stuck partial line is dropped.
    if (buffer.length > 16 * 1024 * 1024) buffer = '';
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    for (const l of d.split('\n')) if (l.trim()) onProblem(l.replace(/^error: /, ''));
  });
  return { close: () => void child.kill('SIGTERM') };
}

/**
 * "2026-11-30 14:23:05.187+0000: event STOP for domain 'qt1': <null>" (or
 * JSON data after the colon) as a QMP event; undefined when it is not one.
 */
export function parseEventLine(line: string, domain: string): ParsedEvent | undefined {
  const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d+)([+-]\d{4}): event (\S+) for domain '(.*)': (.*)$/.exec(line);
  if (!m) return undefined;
  const [, when, fraction, zone, event, , rest] = m;
  void domain;
  const ms = Date.parse(
    `${when.replace(' ', 'T')}.${fraction.padEnd(3, '0').slice(0, 3)}${zone.slice(0, 3)}:${zone.slice(3)}`,
  );
  if (Number.isNaN(ms)) return undefined;
  // The data stays text (64-bit integers exact); the client's parser reads and checks it.
  let data: string | undefined;
  if (rest === '<null>') data = undefined;
  else if (/^\{.*\}$/.test(rest.trim())) data = rest.trim();
  else return undefined;
  return {
    event,
    data,
    timestamp: { seconds: Math.floor(ms / 1000), microseconds: Number(fraction.padEnd(6, '0').slice(0, 6)) },
  };
}
