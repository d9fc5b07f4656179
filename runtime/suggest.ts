/** Near misses for names the caller got wrong: members, commands, events, options. */

/** " (did you mean 'x'?)" for a near miss among `names`, else "". */
export function suggest(word: string, names: Iterable<string>): string {
  // Accepted distances are below `cap`; among equals, one of the word's length wins ('qcow3': 'qcow2', not 'qcow').
  const cap = Math.max(2, Math.floor(word.length / 3)) + 1;
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = cap;
  let bestSameLength = false;
  for (const name of names) {
    const d = editDistance(w, name.toLowerCase(), Math.min(cap, bestDistance + 1));
    if (d >= cap) continue;
    const sameLength = name.length === word.length;
    if (d < bestDistance || (d === bestDistance && sameLength && !bestSameLength)) {
      best = name;
      bestDistance = d;
      bestSameLength = sameLength;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/**
 * Edit distance with adjacent transpositions counting one (optimal string
 * alignment: 'stauts' is one edit from 'status'), giving up (returning
 * `limit`) once it is at least `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      row.push(d);
      if (d < rowMin) rowMin = d;
    }
    if (rowMin >= limit) return limit;
    before = prev;
    prev = row;
  }
  return Math.min(prev[b.length], limit);
}
