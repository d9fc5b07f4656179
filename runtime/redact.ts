/**
 * Secrets never reach logs, taps or error objects. Redacted, by member name
 * anywhere in a message: `password`, `new-password`, `passwd`, `secret`,
 * `cookie` (the curl/http block drivers' cookie is the secret itself); the
 * `data` and `props` of a `secret`/`secret_keyring` object; by command: the
 * `value` of `qom-set`, the return of `qom-get` and the `value` of a
 * `{name, value}` pair (qom-list-get) when the property is one of those
 * names, `data` (a secret object's payload) or `key`; whole HMP command
 * lines that mention a password, secret, cookie or key, or that set or read
 * QOM properties or add objects (with their output); the password of any
 * URL written `scheme://user:password@host` (or iSCSI's `user%password@`),
 * an `rbd:` filename's `key=`, and secret members inside `json:` filenames.
 * Guest agent: what may carry a guest's or a program's data, which can be
 * secret: file contents both ways (`buf-b64`), a program's input and output
 * (`input-data`, `out-data`, `err-data`) and the values of its environment.
 *
 * Raw text from the peer that could not be parsed (in error excerpts) is
 * masked by the same names as far as text allows, and a reply's value is
 * never shown.
 */
import type { JsonValue } from './wire/json.js';

export const REDACTED = '<redacted>';
/** Secret-bearing members in JSON text (excerpts, json: filenames). */
const SECRET_MEMBER_TEXT =
  /"(password|new-password|passwd|secret|cookie|key|data|value|command-line)"(\s*:\s*)"(?:[^"\\]|\\.)*"?/g;
const SECRET_KEYS = new Set(['password', 'new-password', 'passwd', 'secret', 'cookie']);
/** QOM types whose 'data' is the secret itself. */
const SECRET_OBJECTS = new Set(['secret', 'secret_keyring']);
/** QOM properties whose value may be a secret: the secret-bearing keys, and a secret object's data. */
const SECRET_PROPERTIES = new Set([...SECRET_KEYS, 'data', 'key']);
/** HMP commands whose line or output may carry a secret whatever it says. */
const SECRET_HMP = /^\s*(qom[-_]set|qom[-_]get|object[-_]add)\b/i;
const SECRET_HMP_WORDS = /pass|secret|cookie|key/i;
/** Guest-agent members that carry file contents or a program's input and output. */
const AGENT_DATA = new Set(['buf-b64', 'input-data', 'out-data', 'err-data']);

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A copy of `value` with secret-bearing members replaced; the input is not changed. */
export function redact(value: JsonValue | undefined): JsonValue | undefined {
  return value === undefined ? undefined : walk(value);
}

/** A command's arguments as they may be shown: per command, then by member name. */
export function redactArguments(command: string, args: JsonValue | undefined): JsonValue | undefined {
  if (!isObj(args)) return redact(args);
  if (
    command === 'human-monitor-command' &&
    typeof args['command-line'] === 'string' &&
    secretHmp(args['command-line'])
  ) {
    return { ...(walk(args) as Obj), 'command-line': REDACTED };
  }
  if (command === 'qom-set' && secretProperty(args) && 'value' in args)
    return { ...(walk(args) as Obj), value: REDACTED };
  if (command.startsWith('guest-')) return agentData(walk(args) as Obj);
  return walk(args);
}

/** A command's return value as it may be shown, given the arguments it was called with. */
export function redactReturn(
  command: string,
  args: JsonValue | undefined,
  ret: JsonValue | undefined,
): JsonValue | undefined {
  if (ret === undefined) return undefined;
  // The arguments are gone when the caller gave up on the call: assume the worst of the commands that can return secrets.
  if (args === undefined && (command === 'qom-get' || command === 'human-monitor-command')) return REDACTED;
  if (command === 'qom-get' && isObj(args) && secretProperty(args)) return REDACTED;
  if (
    command === 'human-monitor-command' &&
    isObj(args) &&
    typeof args['command-line'] === 'string' &&
    secretHmp(args['command-line'])
  ) {
    return REDACTED;
  }
  if (command.startsWith('guest-') && isObj(ret)) return agentData(walk(ret) as Obj);
  return walk(ret);
}

/** A guest-agent message as it may be shown, whatever call it answers (or none): data members hidden. */
export function redactAgentMessage(msg: Obj): Obj {
  const out = walk(msg) as Obj;
  if (isObj(out.return)) agentData(out.return);
  if (isObj(out.arguments)) agentData(out.arguments);
  return out;
}

/** A guest-agent message's data members hidden, and the values of a program's environment. */
function agentData(o: Obj): Obj {
  for (const k of Object.keys(o)) if (AGENT_DATA.has(k) && typeof o[k] === 'string') o[k] = REDACTED;
  if (Array.isArray(o.env))
    o.env = o.env.map((e) =>
      typeof e === 'string' && e.includes('=') ? `${e.slice(0, e.indexOf('='))}=${REDACTED}` : e,
    );
  return o;
}

/** A request message (execute or exec-oob) with its arguments redacted. */
export function redactRequest(msg: Obj): Obj {
  const command = (msg.execute ?? msg['exec-oob']) as string | undefined;
  return 'arguments' in msg ? { ...msg, arguments: redactArguments(String(command), msg.arguments) as JsonValue } : msg;
}

function secretProperty(args: Obj): boolean {
  return typeof args.property === 'string' && SECRET_PROPERTIES.has(args.property);
}

function secretHmp(line: string): boolean {
  return SECRET_HMP.test(line) || SECRET_HMP_WORDS.test(line);
}

/** A redacted copy, with its own stack: any depth the decoder lets through. */
function walk(root: JsonValue): JsonValue {
  const stack: [JsonValue[] | Obj, JsonValue[] | Obj][] = [];
  const copy = (v: JsonValue): JsonValue => {
    if (typeof v === 'string') return maskUrl(v);
    if (typeof v !== 'object' || v === null) return v;
    const shell: JsonValue[] | Obj = Array.isArray(v) ? [] : {};
    stack.push([v, shell]);
    return shell;
  };
  const out = copy(root);
  while (stack.length) {
    const [src, dst] = stack.pop()!;
    if (Array.isArray(src)) {
      for (let i = 0; i < src.length; i++) (dst as JsonValue[])[i] = copy(src[i]);
      continue;
    }
    const secretObject = typeof src['qom-type'] === 'string' && SECRET_OBJECTS.has(src['qom-type']);
    // {name, value} pairs, as qom-list-get returns properties: the value of a secret-bearing name.
    const secretPair = typeof src.name === 'string' && SECRET_PROPERTIES.has(src.name);
    for (const k of Object.keys(src)) {
      const hidden =
        SECRET_KEYS.has(k) || (secretObject && (k === 'data' || k === 'props')) || (secretPair && k === 'value');
      // defineProperty: a '__proto__' member stays an own member, as JSON.parse makes it.
      Object.defineProperty(dst, k, {
        value: hidden ? REDACTED : copy(src[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out;
}

/**
 * A URL's user info: from '://' to its last '@' before the path. Anchored on
 * the literal '://', so the scan is linear (a pattern that starts at every
 * letter for the scheme is quadratic on hostile text).
 */
const URL_USERINFO = /:\/\/([^/\s"]*)@/g;

/** A URL's password (after ':' or, as iSCSI writes it, '%'), an rbd key, a json: filename's secret members. */
export function maskUrl(v: string): string {
  let out = v;
  if (out.includes('://') && out.includes('@')) {
    out = out.replace(URL_USERINFO, (whole, info: string) => {
      const cut = info.search(/[:%]/);
      return cut < 0 ? whole : `://${info.slice(0, cut + 1)}${REDACTED}@`;
    });
  }
  if (out.startsWith('rbd:')) out = out.replace(/(:key=)[^:]*/g, `$1${REDACTED}`);
  if (out.startsWith('json:')) out = out.replace(SECRET_MEMBER_TEXT, `"$1"$2"${REDACTED}"`);
  return out;
}

/** Raw text from the peer, masked as far as text allows: secret-bearing members, URL passwords, and any reply's value. */
export function maskText(text: string): string {
  if (/^\s*\{\s*"return"\s*:/.test(text)) return `{"return": ${REDACTED}...`;
  return maskUrl(text.replace(SECRET_MEMBER_TEXT, `"$1"$2"${REDACTED}"`));
}
