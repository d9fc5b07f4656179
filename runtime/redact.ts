/**
 * Secrets never reach logs, taps or error objects: passwords, the data of
 * secret objects, and HMP lines that carry passwords are replaced.
 */
import type { JsonValue } from './json.js';

const HIDDEN = '<redacted>';
const SECRET_KEYS = new Set(['password', 'new-password', 'passwd', 'secret']);
/** QOM types whose 'data' is the secret itself. */
const SECRET_OBJECTS = new Set(['secret', 'secret_keyring']);

type Obj = { [key: string]: JsonValue };

function isObj(v: JsonValue | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A copy of `value` with secrets replaced; the input is not changed. */
export function redact(value: JsonValue | undefined, command?: string): JsonValue | undefined {
  if (value === undefined) return undefined;
  if (command === 'human-monitor-command' && isObj(value) && typeof value['command-line'] === 'string') {
    if (/pass|secret/i.test(value['command-line'])) return { ...value, 'command-line': HIDDEN };
  }
  return walk(value);
}

function walk(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(walk);
  if (!isObj(v)) return v;
  const out: Obj = {};
  const secretObject = typeof v['qom-type'] === 'string' && SECRET_OBJECTS.has(v['qom-type']);
  for (const [k, x] of Object.entries(v)) {
    out[k] = SECRET_KEYS.has(k) || (secretObject && (k === 'data' || k === 'props')) ? HIDDEN : walk(x);
  }
  return out;
}

/** Redacts a whole request message ({execute|exec-oob, arguments, id}). */
export function redactRequest(msg: Obj): Obj {
  const command = (msg.execute ?? msg['exec-oob']) as string | undefined;
  return 'arguments' in msg ? { ...msg, arguments: redact(msg.arguments, command) as JsonValue } : msg;
}
