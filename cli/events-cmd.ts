/**
 * `qapi-ts events TARGET`: QMP events as JSON lines, for a terminal or a
 * script; `--wait NAME --where data.id=j1` waits for one and says by its exit
 * code whether it came.
 */
import { suggest } from '../runtime/suggest.js';
import type { QmpEvent } from '../runtime/qmp/events.js';
import type { JsonValue } from '../runtime/wire/json.js';
import {
  EXIT,
  noRest,
  numberOption,
  optionNames,
  parseArgs,
  UsageError,
  type Command,
  type OptionKind,
} from './command.js';
import { connectQmpCli, TARGET_FORMS } from './connect.js';
import { formatJson } from './output.js';

/** `data.id=j1`: a dotted path into the event and the value it must have (compared as JSON text, or as the string). */
function condition(where: string): (event: object) => boolean {
  const m = /^([^=]+)=(.*)$/.exec(where);
  if (!m) throw new UsageError(`events: --where takes PATH=VALUE, such as data.id=j1 (not '${where}')`);
  const [, path, expected] = m;
  const keys = path.split('.');
  return (event) => {
    let at: unknown = event;
    for (const k of keys) {
      if (typeof at !== 'object' || at === null) return false;
      at = (at as Record<string, unknown>)[k];
    }
    if (at === undefined) return false;
    return typeof at === 'string' ? at === expected : formatJson(at, true) === expected;
  };
}

const OPTIONS: Record<string, OptionKind> = {
  name: 'list',
  count: 'value',
  timeout: 'value',
  wait: 'value',
  where: 'list',
};

export const eventsCommand: Command = {
  name: 'events',
  synopsis: 'events TARGET [--name NAME...] [--count N] [--timeout MS] [--wait NAME [--where PATH=VALUE...]]',
  help: `usage: qapi-ts events TARGET [--name NAME...] [--count N] [--timeout MS]
       qapi-ts events TARGET --wait NAME [--where PATH=VALUE...] [--timeout MS]

Prints QMP events as they come, as JSON lines: one object a line ({"event",
"data" when it has some, "timestamp"}; 64-bit integers exact), listened for from
the moment the connection is up. A QMP monitor serves one client at a time: to
watch while another program drives the same QEMU, give QEMU a second monitor
(another -qmp unix:PATH,server=on,wait=off) and watch that one.

  --name NAME      only these events (repeatable); names are checked against
                   the QEMU's schema, with a near miss when one is wrong
  --count N        stop after N events
  --timeout MS     stop after MS milliseconds
  --wait NAME      wait for one event NAME (matching every --where), print it,
                   and exit 0; exit 1 if --timeout passes first
  --where P=V      a dotted path into the event and its value: data.id=j1,
                   data.status=concluded (strings as they are, else JSON)

Exit codes: 0 done (the count reached, the awaited event came, or the timeout
ended a plain listing); 1 --count or --wait not met before --timeout, or the
connection was lost; 2 a usage error.

Examples:
  qapi-ts events /run/vm.qmp
  qapi-ts events /run/vm.qmp --name BLOCK_JOB_COMPLETED --name JOB_STATUS_CHANGE
  qapi-ts events /run/vm.qmp --wait JOB_STATUS_CHANGE --where data.id=j1 --where data.status=concluded --timeout 60000 && echo done`,
  options: optionNames(OPTIONS),
  async run(argv, io) {
    const args = parseArgs('events', argv, OPTIONS);
    if (args.positional.length !== 1) throw new UsageError(`events: give one TARGET (${TARGET_FORMS})`);
    noRest('events', args.rest);
    const count = numberOption('events', 'count', args.values.get('count'), 1);
    const timeout = numberOption('events', 'timeout', args.values.get('timeout'), 1);
    const wait = args.values.get('wait');
    const names = args.lists.get('name') ?? [];
    if (wait !== undefined && (names.length || count !== undefined))
      throw new UsageError('events: --wait takes one event; --name and --count are for listing');
    if (args.lists.has('where') && wait === undefined) throw new UsageError('events: --where goes with --wait');
    const wheres = (args.lists.get('where') ?? []).map(condition);
    const started = Date.now();
    const connected = await connectQmpCli(args.positional[0], { warn: (l) => io.err(`qapi-ts: warning: ${l}\n`) });
    const { client } = connected;
    // Listening from the first moment (those from the handshake included): none is lost while names are checked.
    const early: QmpEvent<string, JsonValue>[] = connected.early;
    let handle: ((event: QmpEvent<string, JsonValue>) => void) | undefined;
    client.onAny((event) => (handle ? handle(event) : early.push(event)));
    try {
      const known = (await client.schema()).filter((e) => e['meta-type'] === 'event').map((e) => e.name);
      for (const n of wait !== undefined ? [wait] : names)
        if (!known.includes(n)) throw new UsageError(`events: this QEMU has no event '${n}'${suggest(n, known)}`);
      const wanted = wait !== undefined ? new Set([wait]) : names.length ? new Set(names) : undefined;
      return await new Promise<number>((resolve) => {
        let seen = 0;
        let finished = false;
        const left = timeout === undefined ? undefined : Math.max(0, timeout - (Date.now() - started));
        const timer =
          left !== undefined
            ? setTimeout(() => done(wait !== undefined || count !== undefined ? EXIT.no : EXIT.ok), left)
            : undefined;
        function done(code: number): void {
          if (finished) return;
          finished = true;
          if (timer) clearTimeout(timer);
          resolve(code);
        }
        client.onClose((reason) => {
          if (finished) return;
          io.err(`qapi-ts events: ${reason.message}\n`);
          done(EXIT.no);
        });
        handle = (event) => {
          if (finished) return;
          if (wanted && !wanted.has(event.event)) return;
          if (wait !== undefined && !wheres.every((w) => w(event))) return;
          // "data" only when the event has some, as QEMU sends it.
          const line = {
            event: event.event,
            ...(event.data === undefined ? {} : { data: event.data }),
            timestamp: event.timestamp,
          };
          io.out(formatJson(line, true) + '\n');
          seen++;
          if (wait !== undefined || (count !== undefined && seen >= count)) done(EXIT.ok);
        };
        for (const e of early.splice(0)) handle(e);
      });
    } finally {
      await client.close();
    }
  },
};
