/**
 * `qapi-ts qmp TARGET COMMAND [ARGS...]`: one QMP command from a terminal
 * or a script, arguments in qmp-shell style (cli/shell-args.ts), the reply
 * as JSON.
 */
import { QmpValidationError } from '../runtime/errors.js';
import { parseJson, type JsonValue } from '../runtime/wire/json.js';
import type { JsonObject } from '../runtime/wire/framing.js';
import {
  EXIT,
  noRest,
  numberOption,
  optionNames,
  parseArgs,
  UsageError,
  type Command,
  type Io,
  type OptionKind,
} from './command.js';
import { connectQmpCli, TARGET_FORMS } from './connect.js';
import { formatJson } from './output.js';
import { commandArguments } from './shell-args.js';

const HELP = `usage: qapi-ts qmp TARGET COMMAND [ARGS...] [--compact] [--timeout MS] [--release V]
       qapi-ts qmp TARGET --hmp 'COMMAND LINE'
       qapi-ts qmp TARGET -          (the request as JSON on stdin)

Runs one QMP command and prints its reply as JSON (64-bit integers exact).
TARGET is ${TARGET_FORMS}.

Arguments, as qmp-shell takes them, converted by the command's schema (the
QEMU's own, from query-qmp-schema):
  key=value       size=1048576 is an integer, read-only=on a boolean, an enum
                  value is checked (with the allowed values when it is wrong)
  a.b=value       nested objects: file.driver=file file.filename=/d.qcow2
  key:=JSON       a raw JSON value: options:='{"driver":"file"}'
  key=x key=y     a repeated key makes a list (or key:='["x","y"]')

Options:
  --compact       the reply on one line
  --hmp LINE      an HMP command through human-monitor-command: prints its
                  text; exit 1 when the text is an HMP error
  --timeout MS    for the reply (default 30000)
  --release V     the release whose docs to use (default: the QEMU's)

Exit codes: 0 done; 1 QEMU answered an error (its class and description on
stderr) or could not be reached; 2 a usage error (nothing sent).

Examples:
  qapi-ts qmp /run/vm.qmp query-status
  qapi-ts qmp /run/vm.qmp blockdev-add driver=qcow2 node-name=d1 file.driver=file file.filename=/var/lib/d1.qcow2
  qapi-ts qmp tcp:127.0.0.1:4444 query-block --compact | jq '.[].device'
  qapi-ts qmp /run/vm.qmp --hmp 'info block'
  echo '{"execute": "query-kvm"}' | qapi-ts qmp /run/vm.qmp -`;

const OPTIONS: Record<string, OptionKind> = { compact: 'flag', hmp: 'value', timeout: 'value', release: 'value' };

async function readStdin(io: Io): Promise<string> {
  if (!io.stdin) throw new UsageError('qmp: no standard input to read the request from');
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** A request read from stdin: {"execute": NAME, "arguments": {...}}. */
function requestOf(text: string): { command: string; args?: JsonObject } {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (e) {
    throw new UsageError(`qmp: stdin is not JSON: ${(e as Error).message}`);
  }
  const req = value as { execute?: unknown; arguments?: unknown };
  if (typeof req !== 'object' || req === null || typeof req.execute !== 'string')
    throw new UsageError('qmp: stdin must hold a request like {"execute": "query-status", "arguments": {...}}');
  if (
    req.arguments !== undefined &&
    (typeof req.arguments !== 'object' || req.arguments === null || Array.isArray(req.arguments))
  )
    throw new UsageError('qmp: "arguments" must be an object');
  return { command: req.execute, args: req.arguments as JsonObject | undefined };
}

export const qmpCommand: Command = {
  name: 'qmp',
  synopsis: 'qmp TARGET COMMAND [KEY=VALUE...] | --hmp LINE | -',
  help: HELP,
  options: optionNames(OPTIONS),
  async run(argv, io) {
    const args = parseArgs('qmp', argv, OPTIONS);
    const [where, command, ...tokens] = args.positional;
    if (!where) throw new UsageError(`qmp: give a TARGET (${TARGET_FORMS})`);
    const hmp = args.values.get('hmp');
    if (hmp === undefined && !command) throw new UsageError('qmp: give a COMMAND (or --hmp LINE, or - to read JSON)');
    if (hmp !== undefined && command) throw new UsageError('qmp: --hmp takes the whole command line; give no COMMAND');
    if (hmp !== undefined && args.flags.has('compact'))
      throw new UsageError('qmp: --compact is for JSON replies, not --hmp');
    noRest('qmp', args.rest);
    const timeout = numberOption('qmp', 'timeout', args.values.get('timeout'), 1) ?? 30_000;
    const stdin = command === '-' ? requestOf(await readStdin(io)) : undefined;
    const { client, release } = await connectQmpCli(where, {
      release: args.values.get('release'),
      warn: (l) => io.err(`qapi-ts: warning: ${l}\n`),
      timeout,
    });
    try {
      if (hmp !== undefined) {
        io.out((await client.hmp(hmp, { timeout, check: true })).replace(/\r\n/g, '\n'));
        return EXIT.ok;
      }
      let name: string;
      let params: JsonObject | undefined;
      if (stdin) {
        ({ command: name, args: params } = stdin);
        if (tokens.length) throw new UsageError('qmp: with -, the request comes from stdin: give no arguments');
      } else {
        name = command;
        // Commands that take members their schema does not list (device_add: the device's properties).
        const open = release.schema.some((e) => e.name === name && e['meta-type'] === 'command' && e.gen === false);
        params = commandArguments(await client.schema({ timeout }), name, tokens, { open });
      }
      const reply = await client.execute(name, ...([params, { timeout }] as never[]));
      io.out(formatJson(reply, args.flags.has('compact')) + '\n');
      return EXIT.ok;
    } catch (e) {
      if (e instanceof QmpValidationError) throw new UsageError(e.message);
      throw e;
    } finally {
      await client.close();
    }
  },
};
