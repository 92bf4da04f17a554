// ALiBi (Press, Smith and Lewis, "Train Short, Test Long", ICLR 2022): no position embedding;
// each head adds a linear penalty on the query-key distance to its scores, with a slope of its
// own. The bias is a float tensor for attention()'s options.bias.
import { FloatDType, isFloat } from '../../dtype';
import { checkInteger, invalidParameterError } from '../../errors';
import { Tensor, tensorAs, TensorOptions } from '../../tensor';
import { checkEntries } from './pattern';

/** The paper's slopes for a power of two heads n: 2^(-8/n), 2^(-16/n), ..., 2^(-8). */
function powerOfTwoSlopes(n: number): number[] {
  return Array.from({ length: n }, (_, h) => 2 ** ((-8 * (h + 1)) / n));
}

/**
 * The per-head slopes m_h of ALiBi, as the paper's reference code makes them: for a power of
 * two H, m_h = 2^(-8 (h + 1) / H); otherwise the slopes of the largest power of two n below H,
 * then the even-indexed slopes of 2n (2^(-4/n), 2^(-12/n), ...) for the H - n heads left.
 */
export function alibiSlopes(heads: number): Float64Array {
  checkInteger('alibiSlopes', 'heads', heads, 1);
  const slopes = (h: number): number[] => {
    const n = 2 ** Math.floor(Math.log2(h));
    if (n === h) return powerOfTwoSlopes(h);
    return [...powerOfTwoSlopes(n), ...slopes(2 * n).filter((_, k) => k % 2 === 0).slice(0, h - n)];
  };
  return Float64Array.from(slopes(heads));
}

/**
 * ALiBi's additive bias, [H, n, n]: bias[h, i, j] = -m_h · |i - j| (alibiSlopes for m_h), for
 * attention(q, k, v, { bias }) over n tokens. Under a causal mask it is the paper's
 * m_h · (j - i) for the keys j <= i that remain; without one, the penalty is symmetric.
 * A float tensor (options.dtype, default float32) on options.device (default cpu).
 */
export function alibi(heads: number, n: number, options: TensorOptions & { dtype?: FloatDType } = {}): Tensor {
  const fn = 'alibi';
  checkInteger(fn, 'heads', heads, 1);
  checkInteger(fn, 'n', n);
  if (options === null || typeof options !== 'object') throw invalidParameterError(fn, 'options', 'an object', options);
  const dtype = options.dtype ?? 'float32';
  if (typeof dtype !== 'string' || !isFloat(dtype as FloatDType)) throw invalidParameterError(fn, 'options.dtype', 'a float dtype', dtype);
  checkEntries(fn, heads * n, n);
  const slopes = alibiSlopes(heads);
  const data = new Float32Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      const row = (h * n + i) * n;
      for (let j = 0; j < n; j++) data[row + j] = -slopes[h] * Math.abs(i - j);
    }
  }
  return tensorAs(fn, data, [heads, n, n], { ...options, dtype });
}
