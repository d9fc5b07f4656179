/**
 * The one timer behind every deadline (core/deadline.ts): deadlines fire in
 * order whatever order they were armed in, a disposed one never fires, and
 * the shared timer holds the process open only while a deadline is live.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deadline } from '../runtime/core/deadline.js';
import { ROOT } from './support/qemu-sources.js';

describe('deadlines on one shared timer', () => {
  it('fire in deadline order, each once; disposed ones never; abort still wins', async () => {
    const fired: string[] = [];
    const at = (name: string, ms: number) => deadline({ timeout: ms }, (why) => fired.push(`${name}:${why.kind}`));
    at('c', 60);
    const b = at('b', 40);
    at('a', 20);
    // Many armed and disposed at once, as settled calls do: none of them fires.
    for (let i = 0; i < 500; i++) at(`x${i}`, 30).dispose();
    b.dispose();
    b.dispose();
    const ctl = new AbortController();
    deadline({ timeout: 10_000, signal: ctl.signal }, (why) => fired.push(`d:${why.kind}`));
    ctl.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(fired).toEqual(['d:abort', 'a:timeout', 'c:timeout']);
  });

  it('a deadline armed earlier than the pending timer re-arms it', async () => {
    const t0 = performance.now();
    let late = 0;
    deadline({ timeout: 2000 }, () => undefined).dispose();
    const long = deadline({ timeout: 2000 }, () => undefined);
    await new Promise<void>((r) => deadline({ timeout: 20 }, () => ((late = performance.now() - t0), r())));
    long.dispose();
    expect(late).toBeGreaterThanOrEqual(19);
    expect(late).toBeLessThan(1000);
  });

  it('keeps the process alive while a deadline is live, and not after it was disposed', () => {
    const mod = JSON.stringify(path.join(ROOT, 'dist/runtime/core/deadline.js'));
    const run = (body: string): { ms: number; out: string } => {
      const t0 = Date.now();
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `import { deadline } from ${mod};\n${body}`],
        {
          encoding: 'utf8',
        },
      );
      return { ms: Date.now() - t0, out: r.stdout + r.stderr };
    };
    // Disposed: the process exits at once, not 5 s later.
    expect(run(`deadline({ timeout: 5000 }, () => {}).dispose();`).ms).toBeLessThan(2500);
    // Live: the process waits for it.
    const live = run(`deadline({ timeout: 300 }, () => console.log('fired'));`);
    expect(live.out).toBe('fired\n');
    expect(live.ms).toBeGreaterThanOrEqual(300);
  });
});
