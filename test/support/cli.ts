/** Runs the CLI in-process with its output captured. */
import { main } from '../../cli/main.js';

/** What the CLI wrote, bytes decoded as the terminal would show them. */
export const text = (t: string | Uint8Array): string => (typeof t === 'string' ? t : Buffer.from(t).toString());

export function runCli(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { out: (t) => void (out += text(t)), err: (t) => void (err += text(t)) });
  if (typeof code !== 'number') throw new Error('runCli: this command is asynchronous; run the binary instead');
  return { code, out, err };
}
