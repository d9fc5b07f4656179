/** What counts as an error in HMP's text (runtime/qmp/hmp.ts): the lines QEMU 7.2 and 11.1 print, and data that only looks like one. */
import { describe, expect, it } from 'vitest';
import { hmpCommandName, hmpError, hmpQuote } from '../runtime/qmp/hmp.js';

describe('hmpError', () => {
  it.each([
    ["Error: Cannot find device='' nor node-name='nosuch'\r\n", "Error: Cannot find device='' nor node-name='nosuch'"],
    ["unknown command: 'info nosuch'\r\n", "unknown command: 'info nosuch'"],
    ["Permission conflict on node 'src': permissions 'write' are both required by x\r\n", /^Permission conflict/],
    ['qemu-io: extraneous characters at the end of line\r\nTry "help qemu-io" for more information\r\n', /extraneous/],
    ['X: string expected\r\n', 'X: string expected'],
    ["Device 'nosuch' not found\r\n", "Device 'nosuch' not found"],
    ['invalid CPU index\r\n', 'invalid CPU index'],
    ["Unknown protocol 'https'\r\n", "Unknown protocol 'https'"],
    ["Parameter 'id' is missing\r\n", "Parameter 'id' is missing"],
  ])('finds the error in %j', (output, expected) => {
    const e = hmpError(output);
    if (typeof expected === 'string') expect(e).toBe(expected);
    else expect(e).toMatch(expected);
  });

  it.each([
    '',
    'ide0-hd0 (#block123): /var/lib/d.qcow2 (qcow2)\r\n    Attached to: /machine/unattached/device[15]\r\n',
    // A node named Error in a listing is data, not HMP's "Error:" answer (which is the whole output).
    'disk0: /d.qcow2 (qcow2)\r\nError: null-co:// (null-co)\r\n',
    'VM status: running\r\n',
  ])('finds none in %j', (output) => {
    expect(hmpError(output)).toBeUndefined();
  });

  it('names only the command (and the node for qemu-io), never the rest: it may hold a secret', () => {
    expect(hmpCommandName('change vnc password s3cret')).toBe('change');
    expect(hmpCommandName('qemu-io -d src "write 0 4k"')).toBe('qemu-io src');
  });

  it('quotes an argument as HMP reads it', () => {
    expect(hmpQuote('write -P 0x1 0 4k')).toBe('"write -P 0x1 0 4k"');
    expect(hmpQuote('a\\b"c')).toBe('"a\\\\b\\"c"');
    expect(() => hmpQuote('a\nb')).toThrow(/span lines/);
  });
});
