/**
 * A QMP (or guest-agent) byte stream made of libvirt: what the client writes
 * is run through `virsh qemu-monitor-command` / `qemu-agent-command`, and
 * what comes back (replies, events from `virsh qemu-monitor-event`) is
 * written as the peer would. The client above it is the same one that talks
 * to a socket: the same types, validation, errors and timeouts.
 *
 * What libvirt itself refuses (the domain is not running, the agent is not
 * connected, permission denied) comes back as an error reply whose class
 * starts with LIBVIRT_ERROR_CLASS (a secret of this process: no peer can
 * forge it), which the client turns into a LibvirtError (core/calls.ts),
 * never into a QmpError. Request and reply texts are never
 * parsed into numbers: 64-bit integers pass through exact.
 */
import { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { ConnectionError, describeThrown, makeLibvirtErrorClass } from '../errors.js';

/** This process's class for libvirt's own failures (runtime/errors.ts). */
const LIBVIRT_ERROR_CLASS = makeLibvirtErrorClass(randomUUID());
import {
  classifyVirshError,
  VirshShell,
  virshQuote,
  watchEvents,
  type LibvirtTarget,
  type ParsedEvent,
} from './virsh.js';

export type { LibvirtTarget } from './virsh.js';

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

function errorReply(cls: string, desc: string, id: string | undefined): string {
  const body = `{"error":{"class":${JSON.stringify(cls)},"desc":${JSON.stringify(desc)}}`;
  return id === undefined ? `${body}}` : `${body},"id":${id}}`;
}

/** How long the event watcher gets to register before the greeting (libvirt gives no sign it has). */
const WATCH_SETTLE_MS = 250;

/**
 * Opens the bridge: the domain is resolved to its UUID once (a name or an id
 * could later mean another domain), and for QMP the greeting is read from it
 * (query-version), so a domain that is not there fails here.
 */
export async function openLibvirt(
  target: LibvirtTarget,
  protocol: 'qmp' | 'qga',
  signal?: AbortSignal,
): Promise<Duplex> {
  if (typeof target?.domain !== 'string' || !target.domain)
    throw new TypeError('libvirt: { domain } is required (a name, id or UUID)');
  const shell = new VirshShell(target);
  signal?.addEventListener('abort', () => shell.close(), { once: true });
  const fail = (text: string, kind = classifyVirshError(text)): never => {
    shell.close();
    throw new ConnectionError('connect-failed', `libvirt domain '${target.domain}': ${text}`, {
      cause: new LibvirtFailure(kind, text),
    });
  };
  const one = async (line: string): Promise<string> => {
    const r = await shell.run(line).catch((e: unknown) => fail(describeThrown(e), 'connection-failed'));
    const out = r.stdout.trim().split('\n').pop()?.trim() ?? '';
    if (!out) fail(r.errors.join('; ') || 'virsh printed nothing');
    return out;
  };
  const uuid = await one(`domuuid --domain ${virshQuote(target.domain)}`);
  const name = await one(`domname --domain ${virshQuote(uuid)}`);
  const bound: LibvirtTarget = { ...target, domain: uuid };
  type Answer = { reply?: string; error?: { cls: string; text: string } };
  const forward = (request: string): Promise<Answer> =>
    shell
      .run(
        protocol === 'qmp'
          ? `qemu-monitor-command --domain ${virshQuote(uuid)} --cmd ${virshQuote(request, true)}`
          : `qemu-agent-command --domain ${virshQuote(uuid)} --cmd ${virshQuote(request, true)} --timeout ${target.agentTimeout ?? 60}`,
      )
      .then(({ stdout, errors }) => {
        // A reply is the answer, whatever virsh also said on stderr (a reconnect, a warning).
        const reply = stdout
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l.startsWith('{'))
          .pop();
        if (reply) return { reply };
        const text = errors.join('; ') || 'virsh printed no reply';
        // The agent's own error, as libvirt words it (its class is lost on the way): still the agent's answer.
        const agent = /unable to execute QEMU agent command '[^']*': (.*)$/.exec(text);
        if (agent) return { error: { cls: 'GenericError', text: agent[1] } };
        return { error: { cls: LIBVIRT_ERROR_CLASS + classifyVirshError(text), text } };
      });

  let greeting = '';
  let events: { close(): void } | undefined;
  let watcherGone: string | undefined;
  // The stream, once made: the watcher may end before it exists.
  let made: Duplex | undefined;
  if (protocol === 'qmp') {
    // Listening before the greeting: the caller may act (and expect events) as soon as it has it.
    events = watchEvents(
      bound,
      name,
      (e) => onEvent(e),
      (why) => {
        watcherGone = why;
        made?.destroy(new ConnectionError('closed', `libvirt: ${why}: events would be lost`));
      },
    );
    const settle = new Promise((r) => setTimeout(r, WATCH_SETTLE_MS));
    const v = await forward('{"execute":"query-version"}').catch((e: unknown) => ({
      error: { cls: LIBVIRT_ERROR_CLASS + 'failed', text: describeThrown(e) },
      reply: undefined,
    }));
    if (!v.reply) {
      events.close();
      fail(v.error?.text ?? 'no reply');
    }
    await settle;
    if (watcherGone) {
      shell.close();
      fail(watcherGone, 'connection-failed');
    }
    const version = (JSON.parse(v.reply!) as { return?: unknown }).return;
    greeting = JSON.stringify({ QMP: { version, capabilities: [] } });
  }

  let pending = Buffer.alloc(0);
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      // A guest agent's client sends 0xFF bytes to resync; libvirt syncs itself. Only those bytes go.
      pending = Buffer.concat([pending, Buffer.from(chunk).filter((b) => b !== 0xff)]);
      const { messages, rest } = splitJson(pending.toString('utf8'));
      pending = Buffer.from(rest, 'utf8');
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

  made = stream;
  const push = (line: string): void => {
    if (!stream.destroyed) stream.push(line + '\n');
  };
  function onEvent(e: ParsedEvent): void {
    push(
      `{"event":${JSON.stringify(e.event)},${e.data === undefined ? '' : `"data":${e.data},`}"timestamp":${JSON.stringify(e.timestamp)}}`,
    );
  }

  // Replies in request order: the shell runs one command at a time.
  const answer = async (message: string): Promise<void> => {
    const { value: id, rest } = takeMember(message, 'id');
    let execute: unknown;
    try {
      ({ execute } = JSON.parse(rest) as { execute?: unknown });
    } catch {
      push(errorReply('GenericError', 'not a request', id));
      return;
    }
    if (protocol === 'qmp' && execute === 'qmp_capabilities') return push(`{"return":{}${id ? `,"id":${id}` : ''}}`);
    if (protocol === 'qga' && (execute === 'guest-sync-delimited' || execute === 'guest-sync')) {
      const idArg = takeMember(takeMember(rest, 'arguments').value ?? '{}', 'id').value ?? '0';
      // As qemu-ga answers: guest-sync-delimited's reply comes after a 0xFF byte.
      if (execute === 'guest-sync-delimited' && !stream.destroyed) stream.push(Buffer.from([0xff]));
      return push(`{"return":${idArg}${id ? `,"id":${id}` : ''}}`);
    }
    const r: Answer = await forward(rest).catch((e: unknown) => ({
      error: { cls: LIBVIRT_ERROR_CLASS + 'connection-failed', text: describeThrown(e) },
    }));
    if (r.reply) push(withId(r.reply, id));
    else push(errorReply(r.error!.cls, r.error!.text, id));
  };

  shell.onExit((e) => stream.destroy(new ConnectionError('closed', `libvirt: ${e.message}`)));
  if (protocol === 'qmp') push(greeting);
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
