/**
 * The two selections of a search, apart from the index because they are plain array work on
 * its kernel's outputs: how many rows the Hamming prefilter keeps (from the distances'
 * histogram), and which of those the int8 scores send on to the exact re-rank.
 */

/**
 * The counting selection of the `c` smallest distances ≤ maxDist, from their histogram: every
 * slot closer than `threshold`, then `ties` slots at it (the kernel's `select` picks them).
 */
export function cutOff(hist: Uint32Array, c: number, maxDist: number): { threshold: number; ties: number } {
  let threshold = 0;
  let below = 0;
  while (threshold <= maxDist && below + hist[threshold]! < c) below += hist[threshold++]!;
  return { threshold, ties: threshold <= maxDist ? c - below : 0 };
}

/** The slots of the `c` largest scores, best first (a bounded insertion list: c is small). */
export function largest(score: Float32Array, slots: Int32Array, m: number, c: number): Int32Array {
  const top = new Int32Array(Math.min(c, m));
  const val = new Float32Array(top.length);
  let len = 0;
  for (let i = 0; i < m; i++) {
    const s = score[i]!;
    if (len === top.length && s <= val[len - 1]!) continue;
    let j = len < top.length ? len++ : len - 1;
    for (; j > 0 && val[j - 1]! < s; j--) {
      val[j] = val[j - 1]!;
      top[j] = top[j - 1]!;
    }
    val[j] = s;
    top[j] = slots[i]!;
  }
  return top;
}
