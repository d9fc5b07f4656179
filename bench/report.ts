/** The benchmark output convention: one `BENCH` line per figure, ours against a baseline from the same run. */

export interface Figure {
  name: string;
  ours: number;
  baseline: number;
  unit: string;
  /** 'lower' when smaller is better (times), 'higher' when bigger is better (rates). */
  better: 'lower' | 'higher';
  goal: number;
}

export function report(f: Figure): void {
  const ratio = f.ours / f.baseline;
  const goal = f.better === 'lower' ? `goal<=${f.goal}` : `goal>=${f.goal}`;
  const met = f.better === 'lower' ? ratio <= f.goal : ratio >= f.goal;
  console.log(
    `BENCH ${f.name} ours=${fmt(f.ours)}${f.unit} baseline=${fmt(f.baseline)}${f.unit} ratio=${ratio.toFixed(3)} ${goal}` +
      (met ? '' : ' MISSED'),
  );
}

/**
 * A goal stated as "at most `allowance` more than the baseline" (15 ms over a
 * raw client, 250 ms of check time), as the ratio goal of this run.
 */
export function allowanceGoal(baseline: number, allowance: number): number {
  return Number(((baseline + allowance) / baseline).toFixed(2));
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Median wall time in ms of `runs` calls after `warmup` unmeasured ones. */
export function medianMs(fn: () => void, runs: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
