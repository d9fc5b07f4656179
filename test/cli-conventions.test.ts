/**
 * What every subcommand of the command line keeps to (cli/command.ts): help
 * through --help and `help COMMAND` alike, with usage, exit codes and
 * examples; unknown options are usage errors (exit 2) that name the option;
 * the options a command lists (for completion) are the ones its parser takes,
 * and its help documents them; the commands with JSON output say so.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../cli/main.js';
import { optionKind, runCliAsync as run } from './support/cli-options.js';

const names = COMMANDS.map((c) => c.name);

describe('every command', () => {
  it.each(names)('%s --help: usage, exit codes and examples, exit 0', async (name) => {
    const c = COMMANDS.find((x) => x.name === name)!;
    const r = await run([name, '--help']);
    expect(r).toEqual({ code: 0, out: c.help + '\n', err: '' });
    expect(c.help).toMatch(new RegExp(`^usage: qapi-ts ${name}\\b`));
    expect(c.help).toContain('Exit codes');
    // At least one example, and of this command.
    const examples = c.help.slice(c.help.indexOf('Examples:'));
    expect(examples).toMatch(/^Examples:\n {2}\S/);
    expect(examples).toContain(name);
    expect(c.synopsis.startsWith(name)).toBe(true);
  });

  it.each(names)('qapi-ts help %s prints the same as --help', async (name) => {
    expect(await run(['help', name])).toEqual(await run([name, '--help']));
    expect((await run([name, '-h'])).out).toBe((await run([name, '--help'])).out);
  });

  it.each(names)('%s: an unknown option exits 2 and is named', async (name) => {
    const r = await run([name, '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('--no-such-option');
    expect(r.err).toMatch(new RegExp(`^qapi-ts ${name}: `));
  });

  it.each(names)('%s: the options it lists are the ones its parser takes, and its help has them', async (name) => {
    const c = COMMANDS.find((x) => x.name === name)!;
    for (const option of c.options ?? []) {
      expect(option).toMatch(/^--[a-z][a-z-]*$/);
      expect(await optionKind(name, option), option).not.toBe('unknown');
      expect(c.help, option).toMatch(new RegExp(`${option}\\b`));
    }
  });

  it('each lists its options, for completion (cli/shell.ts, being written, may not yet)', () => {
    const missing = COMMANDS.filter((c) => c.options === undefined).map((c) => c.name);
    expect(missing.filter((n) => n !== 'shell')).toEqual([]);
  });

  it('qapi-ts help lists each by its synopsis; help of an unknown one is a usage error', async () => {
    const r = await run(['help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.out).toContain(`  ${c.synopsis}`);
    expect(r.out).toContain('Exit codes');
    const unknown = await run(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown command 'frobnicate'");
  });
});

describe('JSON output is documented', () => {
  it.each(['check-schema', 'gen', 'drift', 'diff', 'compat'])('%s takes --json and its help says so', (name) => {
    const c = COMMANDS.find((x) => x.name === name)!;
    expect(c.options).toContain('--json');
    expect(c.help).toMatch(/--json\b/);
  });

  it('events prints JSON lines, and says so', () => {
    expect(COMMANDS.find((x) => x.name === 'events')!.help).toMatch(/JSON lines/);
  });
});
