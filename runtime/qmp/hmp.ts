/**
 * Reading errors out of HMP's text. human-monitor-command succeeds whatever
 * the command said; HMP reports its own failures (hmp_handle_error:
 * "Error: ..."; the command parser: "unknown command: ...", "Parameter 'x'
 * is missing", "invalid ...") as lines of that text, and only those can be
 * told. What a command prints to QEMU's own stdout never reaches the reply:
 * qemu-io's results and its errors ("write failed: Input/output error",
 * "Pattern verification failed") go there, in QEMU 7.2 and 11.1 alike.
 */

/** Lines HMP writes for a failure (its parser, and commands reporting through error_report). */
const ERROR_LINE = new RegExp(
  '^(?:' +
    [
      'unknown command: .*',
      "Parameter '[^']*' (?:is missing|expects .*)",
      'invalid (?:char|parameter|number|size|option|CPU index).*',
      'Unknown (?:command|option|device|block device|protocol).*',
      "Device '[^']*' not found",
      'Could not .*',
      'Failed to .*',
      'Permission conflict .*',
      'Conflicts with use by .*',
      // A command's own parser: "qemu-io: extraneous characters at the end of line", "X: string expected".
      '[\\w-]+: (?:extraneous characters.*|string expected|integer expected|unexpected .*)',
      'Try "help .*',
    ].join('|') +
    ')$',
  'm',
);

/** The error line of an HMP output, or undefined when it reports none. */
export function hmpError(output: string): string | undefined {
  const text = output.replace(/\r\n/g, '\n');
  // hmp_handle_error's "Error: ..." is the whole answer; elsewhere (a node named Error in a listing) it is data.
  const first = /^Error: .*$/.exec(text.split('\n')[0] ?? '');
  if (first) return first[0].trim();
  return ERROR_LINE.exec(text)?.[0].trim();
}

/** HMP cuts a string argument at this many bytes, silently (monitor's get_str buffer). */
export const HMP_MAX_ARGUMENT = 1023;

/** What an HmpError names: the command word, and for qemu-io the node; never the rest (it may hold a secret). */
export function hmpCommandName(commandLine: string): string {
  const words = commandLine.trim().split(/\s+/);
  if (words[0] === 'qemu-io') return `qemu-io ${words.slice(1).find((w) => !w.startsWith('-')) ?? ''}`.trim();
  return words[0] ?? '';
}

/** A string as one HMP argument: in double quotes, with backslash and quote escaped (HMP's get_str). */
export function hmpQuote(text: string): string {
  if (/[\r\n]/.test(text)) throw new TypeError('an HMP argument cannot span lines');
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
