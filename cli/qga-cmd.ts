/**
 * `qapi-ts qga TARGET COMMAND [ARGS...]`: one guest-agent command, arguments
 * as for `qapi-ts qmp`; and `qapi-ts qga TARGET exec -- PROGRAM ARGS...`,
 * which runs a program in the guest and passes its output and exit code on.
 */
import { QmpError, QmpValidationError } from '../runtime/errors.js';

/** What the agent answers only when it refuses: success is the guest going down. */
const NO_REPLY = new Set(['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid']);
import { EXIT, numberOption, optionNames, parseArgs, UsageError, type Command, type OptionKind } from './command.js';
import { connectQgaCli, TARGET_FORMS } from './connect.js';
import { formatJson } from './output.js';
import { commandArguments } from './shell-args.js';

const HELP = `usage: qapi-ts qga TARGET COMMAND [KEY=VALUE...] [--compact] [--timeout MS]
       qapi-ts qga TARGET exec [--timeout MS] [--input TEXT] -- PROGRAM [ARGS...]

Runs one guest-agent (qemu-ga) command and prints its reply as JSON. TARGET is
the agent's: ${TARGET_FORMS}
(a socket is the host end of the virtio-serial channel, or qemu-ga -m
unix-listen). Arguments as for 'qapi-ts qmp' (key=value, a.b=value,
key:=JSON, repeated keys for lists), converted by the newest guest-agent schema.

exec runs PROGRAM in the guest (guest-exec), writes its stdout and stderr here
(byte for byte, once it has ended: the agent gives them then), and exits with its
exit code (128+N when a signal N ended it; 1 when the agent cut its output at 16
MiB). --input gives its stdin.

Options:
  --compact       the reply on one line
  --timeout MS    for the reply, or for exec the whole run (default 30000)

Exit codes: 0 done; 1 the agent answered an error (its class and description
on stderr) or could not be reached; 2 a usage error; with exec, the program's.

Examples:
  qapi-ts qga /run/vm.qga guest-info --compact
  qapi-ts qga /run/vm.qga guest-file-open path=/etc/hostname
  qapi-ts qga /run/vm.qga exec -- ip addr list
  qapi-ts qga /run/vm.qga exec --input 'hello' -- cat`;

const OPTIONS: Record<string, OptionKind> = { compact: 'flag', timeout: 'value', input: 'value' };

export const qgaCommand: Command = {
  name: 'qga',
  synopsis: 'qga TARGET COMMAND [KEY=VALUE...] | exec -- PROGRAM [ARGS...]',
  help: HELP,
  options: optionNames(OPTIONS),
  async run(argv, io) {
    const args = parseArgs('qga', argv, OPTIONS);
    const [where, command, ...tokens] = args.positional;
    if (!where) throw new UsageError(`qga: give a TARGET (the agent's: ${TARGET_FORMS})`);
    if (!command) throw new UsageError('qga: give a COMMAND (or exec -- PROGRAM)');
    const timeout = numberOption('qga', 'timeout', args.values.get('timeout')) ?? 30_000;
    const exec = command === 'exec';
    if (exec && !args.rest.length)
      throw new UsageError('qga: exec needs the program after --: exec -- PROGRAM ARGS...');
    if (exec && tokens.length) throw new UsageError('qga: exec takes the program after --');
    if (!exec && args.rest.length) throw new UsageError('qga: only exec takes a program after --');
    if (!exec && args.values.has('input')) throw new UsageError('qga: --input goes with exec');
    const { client, release } = await connectQgaCli(where, { timeout });
    try {
      if (exec) {
        const [program, ...programArgs] = args.rest;
        const r = await client.exec(program, programArgs, { timeout, input: args.values.get('input') });
        // The bytes as the program wrote them (binary output stays binary).
        if (r.stdout.length) io.out(r.stdout);
        if (r.stderr.length) io.err(r.stderr);
        if (r.stdoutTruncated || r.stderrTruncated) {
          io.err('qapi-ts qga: the agent cut the output at 16 MiB\n');
          if (r.exitCode === 0) return EXIT.no;
        }
        return r.exitCode ?? (r.signal !== undefined ? 128 + r.signal : EXIT.no);
      }
      const params = commandArguments(release.schema, command, tokens);
      // Commands that never reply when they work (shutdown, suspend): a refusal comes later, as a
      // problem of the connection; a round trip after them tells.
      let refused: Error | undefined;
      const watch = client.onError((p) => {
        if (p instanceof QmpError && p.command === command) refused = p;
      });
      const reply = await client.execute(command, ...([params, { timeout }] as never[]));
      if (NO_REPLY.has(command)) {
        await client.execute('guest-ping', ...([undefined, { timeout: 5000 }] as never[])).catch(() => undefined);
        watch.dispose();
        if (refused) throw refused;
      } else watch.dispose();
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
