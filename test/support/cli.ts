/** Runs the CLI in-process with its output captured. */
import { main } from '../../cli/main.js';

export function runCli(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  if (typeof code !== 'number') throw new Error('runCli: this command is asynchronous; run the binary instead');
  return { code, out, err };
}
