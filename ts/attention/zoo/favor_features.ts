// FAVOR+'s random feature matrix (Choromanski et al. 2021, "Rethinking Attention with
// Performers", section 2.4): m rows of dimension D, drawn on the host in float64 from a seed.
// Orthogonal: blocks of D mutually orthogonal rows (Gram–Schmidt of a Gaussian D x D block,
// the last block cut to m mod D rows), each row then scaled to the norm of an independent
// Gaussian D-vector, so that every row is marginally N(0, I) as in the unstructured case.
import { Random } from '../../random';

/** A seeded m x D feature matrix, row-major. */
export function favorFeatures(m: number, D: number, seed: number, orthogonal: boolean): Float64Array {
  const rng = new Random(seed);
  const w = new Float64Array(m * D);
  for (let i = 0; i < m * D; i++) w[i] = rng.normal();
  if (!orthogonal) return w;
  for (let start = 0; start < m; start += D) {
    const end = Math.min(m, start + D);
    for (let r = start; r < end; r++) {
      const row = w.subarray(r * D, (r + 1) * D);
      for (let p = start; p < r; p++) {
        const prev = w.subarray(p * D, (p + 1) * D);
        let dot = 0;
        for (let d = 0; d < D; d++) dot += row[d] * prev[d];
        for (let d = 0; d < D; d++) row[d] -= dot * prev[d];
      }
      let norm = 0;
      for (let d = 0; d < D; d++) norm += row[d] * row[d];
      norm = Math.sqrt(norm);
      for (let d = 0; d < D; d++) row[d] /= norm;
    }
  }
  // The rows are unit vectors now; give each the length of a Gaussian vector.
  for (let r = 0; r < m; r++) {
    let len = 0;
    for (let d = 0; d < D; d++) len += rng.normal() ** 2;
    len = Math.sqrt(len);
    for (let d = 0; d < D; d++) w[r * D + d] *= len;
  }
  return w;
}
