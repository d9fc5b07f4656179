/** The command line's progress display: a bar redrawn in place on a terminal, a line per tenth otherwise. */
import { describe, expect, it } from 'vitest';
import { progressPrinter } from '../cli/backup-cmd.js';

const MiB = 1024 * 1024;

function run(isTTY: boolean): string {
  let err = '';
  const p = progressPrinter(
    { out: () => undefined, err: (t) => void (err += typeof t === 'string' ? t : Buffer.from(t).toString()), isTTY },
    'full',
  );
  for (const current of [0, 5, 12, 13, 40, 64])
    p.update({ id: 'j', status: current === 64 ? 'concluded' : 'running', current: current * MiB, total: 64 * MiB });
  p.done();
  return err;
}

describe('progressPrinter', () => {
  it('on a terminal: one bar, redrawn with \\r, ending with a newline', () => {
    const out = run(true);
    const frames = out.split('\r').filter(Boolean);
    expect(frames).toHaveLength(6);
    expect(frames[0]).toBe(`full [${'-'.repeat(30)}]   0% 0.0 MiB of 64 MiB`);
    expect(frames.at(-1)).toBe(`full [${'#'.repeat(30)}] 100% 64 MiB of 64 MiB\n`);
  });

  it('otherwise: a line when the tenth changes, nothing redrawn', () => {
    expect(run(false)).toBe(
      [
        'full: 0% (0.0 MiB of 64 MiB, running)',
        'full: 18% (12 MiB of 64 MiB, running)',
        'full: 20% (13 MiB of 64 MiB, running)',
        'full: 62% (40 MiB of 64 MiB, running)',
        'full: 100% (64 MiB of 64 MiB, concluded)',
        '',
      ].join('\n'),
    );
  });
});
