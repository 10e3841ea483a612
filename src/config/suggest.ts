/**
 * "did you mean" hints for misspelt keys and enum values. A typo in a config key is
 * otherwise a silent default; naming the intended key turns it into a one-second fix.
 */
export function didYouMean(input: unknown, candidates: readonly string[]): string {
  if (typeof input !== 'string' || input === '') return '';
  // Allow about one edit per three characters: 'uptream' -> 'upstream', but 'x' -> nothing.
  const budget = Math.max(1, Math.floor(input.length / 3));
  let best: string | undefined;
  let bestDistance = budget + 1;
  for (const c of candidates) {
    const [a, b] = [input.toLowerCase(), c.toLowerCase()];
    // A prefix either way is a likely intent too: 'warning' -> 'warn', 'conn' -> 'connections'.
    const d = a.length >= 3 && b.length >= 3 && (a.startsWith(b) || b.startsWith(a)) ? 1 : distance(a, b);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/** Levenshtein edit distance (insert, delete, substitute), two-row dynamic programming. */
export function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
