/** The CLI in-process for any command (async ones too), and how a command's parser takes an option. */
import type { Io } from '../../cli/command.js';
import { COMMANDS, main } from '../../cli/main.js';
import { text } from './cli.js';

/** The CLI in-process; a command that talks to QEMU answers a promise, even for a usage error. */
export async function runCliAsync(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += text(t)), err: (t) => void (err += text(t)) };
  const code = await main(argv, io);
  return { code, out, err };
}

/**
 * How the command's parser takes `option` (`--name`): a flag, an option with
 * a value, or not at all. `OPTION=x --no-such-option` never runs anything: a
 * flag is refused for its value, an option with one gets to the unknown
 * option. Some options are taken only with another (gen --source, with
 * --from-socket): each other option of the command is tried before it.
 */
export async function optionKind(command: string, option: string): Promise<'flag' | 'value' | 'unknown'> {
  const others = COMMANDS.find((c) => c.name === command)?.options ?? [];
  for (const before of [[], ...others.filter((o) => o !== option).map((o) => [`${o}=x`])]) {
    const r = await runCliAsync([command, ...before, `${option}=x`, '--no-such-option']);
    if (r.err.includes(`${option} takes no value`)) return 'flag';
    if (r.err.includes('unknown option --no-such-option')) return 'value';
  }
  return 'unknown';
}
