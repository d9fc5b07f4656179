/**
 * A QMP (or guest-agent) byte stream made of libvirt: what the client writes
 * is run through `virsh qemu-monitor-command` / `qemu-agent-command`, and
 * what comes back (replies, events from `virsh qemu-monitor-event`) is
 * written as the peer would. The client above it is the same one that talks
 * to a socket: the same types, validation, errors and timeouts.
 *
 * What libvirt itself refuses (the domain is not running, the agent is not
 * connected, permission denied) comes back as an error reply of class
 * 'libvirt:KIND', which the client turns into a LibvirtError
 * (core/calls.ts), never into a QmpError. Request and reply texts are never
 * parsed into numbers: 64-bit integers pass through exact.
 */
import { Duplex } from 'node:stream';
import { ConnectionError } from '../errors.js';
import { classifyVirshError, VirshShell, virshQuote, watchEvents, type LibvirtTarget } from './virsh.js';

export type { LibvirtTarget } from './virsh.js';

/** The class of an error reply that stands for libvirt's own failure. */
export const LIBVIRT_CLASS_PREFIX = 'libvirt:';

/** Each complete top-level JSON text in `text`, and what is left over. */
function splitJson(text: string): { messages: string[]; rest: string } {
  const messages: string[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if (c === '}' || c === ']') {
      if (--depth === 0 && start >= 0) {
        messages.push(text.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return { messages, rest: start >= 0 ? text.slice(start) : '' };
}

/**
 * A top-level member of an object's JSON text, as raw text, and the object's
 * text without it (libvirt refuses a request that has its own "id").
 */
export function takeMember(text: string, key: string): { value: string | undefined; rest: string } {
  const wanted = JSON.stringify(key);
  let depth = 0;
  let i = 0;
  /** Index just past the JSON string starting at `at` (a '"'). */
  const endOfString = (at: number): number => {
    for (let k = at + 1; k < text.length; k++) {
      if (text[k] === '\\') k++;
      else if (text[k] === '"') return k + 1;
    }
    return text.length;
  };
  /** Index of the ',' or closing bracket ending a value that starts at `at` (depth 1). */
  const endOfValue = (at: number): number => {
    let d = 0;
    for (let k = at; k < text.length; k++) {
      const c = text[k];
      if (c === '"') k = endOfString(k) - 1;
      else if (c === '{' || c === '[') d++;
      else if (c === '}' || c === ']') {
        if (d === 0) return k;
        d--;
      } else if (c === ',' && d === 0) return k;
    }
    return text.length;
  };
  let expectKey = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(i);
      if (depth === 1 && expectKey) {
        const name = text.slice(i, end);
        const colon = text.indexOf(':', end);
        const valueEnd = endOfValue(colon + 1);
        if (name === wanted) {
          const value = text.slice(colon + 1, valueEnd).trim();
          // Take the member and one comma next to it: the one before, else the one after.
          const before = text.slice(0, i).replace(/,\s*$/, '');
          const removedComma = before.length !== text.slice(0, i).length;
          const after = removedComma ? text.slice(valueEnd) : text.slice(valueEnd).replace(/^,\s*/, '');
          return { value, rest: before + after };
        }
        i = valueEnd - 1;
        expectKey = false;
        continue;
      }
      i = end - 1;
      continue;
    }
    if (c === '{') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return { value: undefined, rest: text };
}

/** libvirt's reply with the caller's id in place of its own ("libvirt-42", first or last). */
function withId(reply: string, id: string | undefined): string {
  const stripped = reply
    .trim()
    .replace(/^\{"id":"libvirt-\d+",/, '{')
    .replace(/,"id":"libvirt-\d+"\}$/, '}');
  if (id === undefined) return stripped;
  return stripped.replace(/\}$/, `,"id":${id}}`);
}

function errorReply(kind: string, desc: string, id: string | undefined): string {
  const body = `{"error":{"class":${JSON.stringify(LIBVIRT_CLASS_PREFIX + kind)},"desc":${JSON.stringify(desc)}}`;
  return id === undefined ? `${body}}` : `${body},"id":${id}}`;
}

/** Opens the bridge: the greeting is read from the domain (query-version), so a domain that is not there fails here. */
export async function openLibvirt(target: LibvirtTarget, protocol: 'qmp' | 'qga'): Promise<Duplex> {
  if (typeof target?.domain !== 'string' || !target.domain)
    throw new TypeError('libvirt: { domain } is required (a name, id or UUID)');
  const shell = new VirshShell(target);
  const domain = virshQuote(target.domain);
  type Answer = { reply?: string; error?: { kind: string; text: string } };
  const qmp = (request: string): Promise<Answer> =>
    shell
      .run(
        protocol === 'qmp'
          ? `qemu-monitor-command ${domain} ${virshQuote(request)}`
          : `qemu-agent-command ${domain} ${virshQuote(request)} --timeout ${target.agentTimeout ?? 60}`,
      )
      .then(({ stdout, errors }) => {
        const reply = stdout
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l.startsWith('{'))
          .pop();
        if (errors.length || !reply) {
          const text = errors.join('; ') || 'virsh printed no reply';
          return { error: { kind: classifyVirshError(text), text } };
        }
        return { reply };
      });

  let greeting = '';
  if (protocol === 'qmp') {
    const v: Answer = await qmp('{"execute":"query-version"}').catch((e: Error) => ({
      error: { kind: 'failed', text: e.message },
    }));
    if (v.error) {
      shell.close();
      throw new ConnectionError('connect-failed', `libvirt domain '${target.domain}': ${v.error.text}`, {
        cause: new LibvirtFailure(v.error.kind, v.error.text),
      });
    }
    const version = (JSON.parse(v.reply!) as { return?: unknown }).return;
    greeting = JSON.stringify({ QMP: { version, capabilities: [] } }) + '\n';
  }

  let pending = '';
  let events: { close(): void } | undefined;
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      // A guest agent's client sends 0xFF to resync; libvirt does its own syncing.
      pending += chunk.toString('utf8').replace(/\uFFFD|\u00FF/g, '');
      const { messages, rest } = splitJson(pending);
      pending = rest;
      for (const m of messages) void answer(m);
      done();
    },
    final(done) {
      done();
    },
    destroy(err, done) {
      events?.close();
      shell.close();
      done(err);
    },
  });

  const push = (line: string): void => {
    if (!stream.destroyed) stream.push(line + '\n');
  };

  // Replies in request order: the shell runs one command at a time.
  const answer = async (message: string): Promise<void> => {
    const { value: id, rest } = takeMember(message, 'id');
    let execute: unknown;
    let args: unknown;
    try {
      ({ execute, arguments: args } = JSON.parse(rest) as { execute?: unknown; arguments?: unknown });
    } catch {
      push(errorReply('failed', 'not a request', id));
      return;
    }
    void args;
    if (protocol === 'qmp' && execute === 'qmp_capabilities') return push(`{"return":{}${id ? `,"id":${id}` : ''}}`);
    if (protocol === 'qga' && (execute === 'guest-sync-delimited' || execute === 'guest-sync')) {
      const idArg = takeMember(takeMember(rest, 'arguments').value ?? '{}', 'id').value ?? '0';
      // As qemu-ga answers: guest-sync-delimited's reply comes after a 0xFF byte.
      if (execute === 'guest-sync-delimited' && !stream.destroyed) stream.push(Buffer.from([0xff]));
      return push(`{"return":${idArg}${id ? `,"id":${id}` : ''}}`);
    }
    const r = await qmp(rest).catch((e: Error) => ({
      error: { kind: 'connection-failed', text: e.message },
      reply: undefined,
    }));
    if (r.error) push(errorReply(r.error.kind, r.error.text, id));
    else push(withId(r.reply!, id));
  };

  shell.onExit((e) => stream.destroy(new ConnectionError('closed', `libvirt: ${e.message}`)));
  if (protocol === 'qmp') {
    events = watchEvents(
      target,
      (e) =>
        push(
          `{"event":${JSON.stringify(e.event)},${e.data === undefined ? '' : `"data":${e.data},`}"timestamp":${JSON.stringify(e.timestamp)}}`,
        ),
      () => undefined,
    );
    push(greeting.trimEnd());
  }
  return stream;
}

/** What a libvirt failure at connection time was (the cause of the ConnectionError). */
export class LibvirtFailure extends Error {
  override name = 'LibvirtFailure';
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}
