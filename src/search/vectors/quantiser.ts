/**
 * The per-dimension statistics VectorIndex quantises against. Sign bits and int8 codes are
 * taken of (v − mean), not of v: real embeddings share a large offset (and `random()`-made ones
 * are all positive), so the raw signs are nearly the same in every row and say nothing. The
 * int8 step of a dimension is 4σ/127 (values beyond 4σ are clipped): dimensions of very
 * different spread (models' "rogue" dimensions) each keep their resolution.
 */

/** What a quantisation was computed from. */
export interface Basis {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  /** Rows the statistics were taken over (0: a placeholder, before any row was seen). */
  readonly count: number;
}

/** Sums kept up to date as rows arrive and leave, so the mean and spread are known at any time. */
export class RunningStats {
  readonly sum: Float64Array;
  readonly squares: Float64Array;
  count = 0;

  constructor(readonly dim: number) {
    this.sum = new Float64Array(dim);
    this.squares = new Float64Array(dim);
  }

  /** Adds (sign 1) or takes away (sign −1) one row. */
  add(v: ArrayLike<number>, sign: 1 | -1): void {
    for (let d = 0; d < this.dim; d++) {
      const x = v[d]!;
      this.sum[d] += sign * x;
      this.squares[d] += sign * x * x;
    }
    this.count += sign;
  }

  basis(): Basis {
    if (this.count <= 0) return placeholderBasis(this.dim);
    const mean = this.sum.map((s) => s / this.count);
    const std = this.squares.map((q, d) => Math.sqrt(Math.max(0, q / this.count - mean[d]! ** 2)));
    return { mean, std, count: this.count };
  }
}

/** Before any row: centred at 0, with the spread of a unit vector's component. */
export function placeholderBasis(dim: number): Basis {
  return { mean: new Float64Array(dim), std: new Float64Array(dim).fill(1 / Math.sqrt(dim)), count: 0 };
}

/** The int8 step of each dimension (4σ / 127; a constant dimension keeps a tiny step). */
export function stepsOf(basis: Basis): Float64Array {
  const floor = 1e-6 + Math.max(0, ...Array.from(basis.std)) * 1e-3;
  return basis.std.map((s) => (Math.max(s, floor) * 4) / 127);
}

/**
 * How far the data moved from the basis it was quantised against: the larger of the mean's
 * shift in units of the basis' overall spread, and the root-mean-square log ratio of each
 * dimension's spread. 0.2 means the centre moved by a fifth of the spread or the spreads
 * changed by about ×1.22 on average — enough to start costing recall.
 */
export function drift(basis: Basis, now: Basis): number {
  let shift = 0;
  let spread = 0;
  let logRatio = 0;
  for (let d = 0; d < basis.mean.length; d++) {
    shift += (now.mean[d]! - basis.mean[d]!) ** 2;
    spread += basis.std[d]! ** 2;
    const r = Math.log((now.std[d]! + 1e-12) / (basis.std[d]! + 1e-12));
    logRatio += r * r;
  }
  return Math.max(Math.sqrt(shift / (spread || 1e-12)), Math.sqrt(logRatio / basis.mean.length));
}
