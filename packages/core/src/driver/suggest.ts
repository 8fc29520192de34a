/**
 * "Did you mean" for names a user typed: a scheme, a query parameter, an
 * option. One measure everywhere, so that `rabit://` and `?gruop=` are
 * answered alike.
 */

/** Names longer than this are not compared: a typo is short, and the work grows with the square. */
const MAX_COMPARED = 64;

/**
 * The candidate nearest to `typed` (case aside), when it is near enough to be
 * a slip: one edit in a name of up to 4 characters, two in a longer one,
 * three from 10 characters on. An edit is an insertion, a deletion, a change
 * or a swap of two neighbours. Undefined when none is near, or `typed` is one
 * of the candidates.
 */
export function closestName(typed: string, candidates: Iterable<string>): string | undefined {
  const wanted = typed.toLowerCase();
  if (wanted.length === 0 || wanted.length > MAX_COMPARED) return undefined;
  const limit = wanted.length <= 4 ? 1 : wanted.length < 10 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate.length > MAX_COMPARED) continue;
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance === 0 && candidate === typed) return undefined;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein with swaps of neighbours. */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current[j] = d;
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}
