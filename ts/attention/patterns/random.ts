// Random patterns, each seeded so that the same call gives the same pattern on every machine:
// uniform, drawn from a matrix of weights (a Gaussian fall-off on the grid), and the mask of
// xFormers' ViT notebook that combines them.
import { checkInteger, checkNumber, invalidParameterError, rangeError } from '../../errors';
import { Random } from '../../random';
import { axial2d, local2d } from './local';
import { checkDensity, checkEntries, checkSeed, Pattern, ProbabilityMatrix, union, withClassToken } from './pattern';

/**
 * Each of the n x n entries set independently with probability `density`. xFormers'
 * random_pattern takes the sparsity (1 - density) instead; this takes the density.
 * Entry k (row-major) is set when the k-th uniform draw of Random(seed) is < density.
 */
export function random(n: number, density: number, seed: number): Pattern {
  const fn = 'random';
  checkInteger(fn, 'n', n);
  checkDensity(fn, density);
  checkSeed(fn, seed);
  checkEntries(fn, n, n);
  const rng = new Random(seed);
  const data = new Uint8Array(n * n);
  for (let k = 0; k < data.length; k++) data[k] = rng.uniform() < density ? 1 : 0;
  return new Pattern(n, n, data);
}

/**
 * Weights exp(-d² / (2 sigma²)) between the tokens of the h x w grid, d the Euclidean distance
 * (xFormers' local_2d_gausian_distribution). Like xFormers, the rows are NOT normalized: every
 * diagonal entry is 1, so rows of central tokens (more neighbours) weigh more in total.
 * The ViT notebook fixture (vit_notebook_sparse, drawn by xFormers' code) agrees: beyond axial |
 * local2d, its 96 outermost patches (Chebyshev distance > 5.5 from the centre) hold 5.38 entries
 * a row on average and its 36 central ones 7.08; unnormalized weights (plus the 1% uniform part)
 * predict 5.20 and 7.56, row-normalized ones 5.92 and 6.22.
 */
export function gaussian2d(h: number, w: number, sigma: number): ProbabilityMatrix {
  const fn = 'gaussian2d';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkNumber(fn, 'sigma', sigma);
  if (!(sigma > 0 && sigma < Infinity)) throw rangeError(fn, `sigma must be positive and finite, got ${sigma}`);
  const n = h * w;
  checkEntries(fn, n, n);
  const data = new Float64Array(n * n);
  const scale = -0.5 / (sigma * sigma);
  for (let a = 0; a < n; a++) {
    const ra = Math.floor(a / w);
    const ca = a % w;
    for (let b = 0; b < n; b++) {
      const dr = ra - Math.floor(b / w);
      const dc = ca - (b % w);
      data[a * n + b] = Math.exp(scale * (dr * dr + dc * dc));
    }
  }
  return { rows: n, cols: n, data };
}

/**
 * Exactly `nnz` entries drawn without replacement, each draw taking a remaining entry with
 * probability proportional to its weight (what torch.multinomial(weights.flatten(), nnz,
 * replacement=False) samples, as xFormers' random_pattern_from_probability_matrix calls it).
 * Method (Efraimidis–Spirakis, the exponential race): entry k gets the key E_k / weight_k with
 * E_k = -ln(1 - u_k), u_k the k-th uniform draw of Random(seed) in row-major order; the nnz
 * smallest keys are set (ties to the lower index). Zero-weight entries have key Infinity and
 * are never set; asking for more entries than have positive weight is a RangeError.
 * Weights need not sum to 1.
 */
export function randomFromProbability(matrix: ProbabilityMatrix, nnz: number, seed: number): Pattern {
  const fn = 'randomFromProbability';
  const m = matrix as ProbabilityMatrix;
  if (typeof matrix !== 'object' || matrix === null || !Number.isInteger(m.rows) || !Number.isInteger(m.cols) ||
      m.rows < 0 || m.cols < 0 || !((m.data as unknown) instanceof Float64Array) || m.data.length !== m.rows * m.cols) {
    throw invalidParameterError(fn, 'matrix', 'a probability matrix { rows, cols, data: Float64Array of rows * cols }', matrix);
  }
  checkInteger(fn, 'nnz', nnz);
  checkSeed(fn, seed);
  checkEntries(fn, m.rows, m.cols);
  let positive = 0;
  for (let k = 0; k < m.data.length; k++) {
    const v = m.data[k];
    if (!(v >= 0 && v < Infinity)) throw rangeError(fn, `matrix.data[${k}] = ${v}; weights must be finite and non-negative`);
    if (v > 0) positive++;
  }
  if (nnz > positive) throw rangeError(fn, `cannot draw ${nnz} entries without replacement: only ${positive} have positive weight`);
  const rng = new Random(seed);
  const keys = new Float64Array(m.data.length);
  const candidates: number[] = [];
  for (let k = 0; k < keys.length; k++) {
    const e = -Math.log(1 - rng.uniform());
    if (m.data[k] > 0) {
      keys[k] = e / m.data[k];
      candidates.push(k);
    }
  }
  candidates.sort((a, b) => keys[a] - keys[b] || a - b);
  const data = new Uint8Array(m.rows * m.cols);
  for (let t = 0; t < nnz; t++) data[candidates[t]] = 1;
  return new Pattern(m.rows, m.cols, data);
}

/**
 * For each token of the h x w grid, `perRow` distinct keys drawn from a 2-D normal (sigma in
 * patches, both axes) centred on it, rounded to the nearest patch; draws off the grid or
 * already taken are drawn again (at most 64 * perRow draws a row). The large-N counterpart of
 * randomFromProbability(gaussian2d(h, w, sigma), nnz): that needs the (hw)² weight matrix
 * (1.2 GB of float64 at 112 x 112), this only O(hw * perRow) work, with the same Gaussian
 * fall-off but a fixed count per row instead of a global one.
 */
export function gaussianNeighbours(h: number, w: number, sigma: number, perRow: number, seed: number): Pattern {
  const fn = 'gaussianNeighbours';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkNumber(fn, 'sigma', sigma);
  if (!(sigma > 0 && sigma < Infinity)) throw rangeError(fn, `sigma must be positive and finite, got ${sigma}`);
  checkInteger(fn, 'perRow', perRow);
  checkSeed(fn, seed);
  const n = h * w;
  checkEntries(fn, n, n);
  if (perRow > n) throw rangeError(fn, `perRow ${perRow} is more than the ${n} tokens of the grid`);
  const rng = new Random(seed);
  const data = new Uint8Array(n * n);
  for (let a = 0; a < n; a++) {
    const ra = Math.floor(a / w), ca = a % w;
    let taken = 0;
    for (let draw = 0; draw < 64 * perRow && taken < perRow; draw++) {
      const r = Math.round(ra + sigma * rng.normal()), c = Math.round(ca + sigma * rng.normal());
      if (r < 0 || r >= h || c < 0 || c >= w) continue;
      const k = a * n + r * w + c;
      if (data[k] === 0) {
        data[k] = 1;
        taken++;
      }
    }
  }
  return new Pattern(n, n, data);
}

/**
 * The mask of xFormers' ViT notebook (docs/source/vision_transformers.ipynb) for an h x w
 * patch grid plus a class token: over the patches, axial2d | local2d(distance 2, p = 2) |
 * random(1%) | randomFromProbability(gaussian2d(sigma 5), floor(3% of (hw)²)) — "Gaussian at
 * 97% sparsity" — then withClassToken. The two random parts take seeds drawn from Random(seed).
 * At 14 x 14, seeds 0-9 give densities 0.1940-0.1957 (mean 0.1946); the fixture's mask is
 * 0.1941 dense.
 */
export function vitNotebook(h: number, w: number, seed: number): Pattern {
  const fn = 'vitNotebook';
  checkInteger(fn, 'h', h);
  checkInteger(fn, 'w', w);
  checkSeed(fn, seed);
  const n = h * w;
  checkEntries(fn, n + 1, n + 1);
  const seeds = new Random(seed);
  const uniformSeed = seeds.nextUint32();
  const gaussianSeed = seeds.nextUint32();
  const nnz = Math.floor((n * n * 3) / 100);
  const patches = union(
    axial2d(h, w),
    local2d(h, w, 2),
    random(n, 0.01, uniformSeed),
    randomFromProbability(gaussian2d(h, w, 5), nnz, gaussianSeed),
  );
  return withClassToken(patches);
}
