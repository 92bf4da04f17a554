// gradcheck: the analytic backward against central finite differences (the idea of
// torch.autograd.gradcheck). The library has no float64 dtype, so fn runs on float32
// tensors while everything around it is float64: each input element is stepped by
// ±h·max(1, |x|), the step actually taken is the difference of the two float32 inputs
// (exact), and the directional derivative of a random projection L = Σ v·y is formed in
// float64 from the two outputs. What float32 leaves is the rounding of the outputs, so
// the tolerance is atol + rtol·|numeric| + roundoff·eps32·Σ|v·y| / step, the sum over the
// outputs that the step changed: an honest bound of float32 noise, not a loose constant
// (a wrong gradient, off by a factor or a missed broadcast sum, is far outside it; the
// tests prove that gradcheck fails one). The projections cover every output at once, so
// the cost is two evaluations of fn per input element and one backward per projection.
import { invalidParameterError, rangeError } from '../errors';
import { Random } from '../random';
import { isTensor, Tensor, tensorAs, tidy } from '../tensor';
import { backwardFrom } from './backward';
import { withGradMode } from './graph';

export interface GradcheckOptions {
  /** Relative step: each element moves by ±eps·max(1, |x|). Default 1e-2 (central differences of the ops here have no truncation error below cubic terms). */
  eps?: number;
  /** Absolute tolerance. Default 1e-5. */
  atol?: number;
  /** Relative tolerance on the numeric derivative (covers the truncation of nonlinear fns). Default 1e-3. */
  rtol?: number;
  /** Multiplies float32's eps in the rounding term (operations rounded in a row per output). Default 8. */
  roundoff?: number;
  /** Random projections of the output checked. Default 2. */
  projections?: number;
  /** Seed of the projections. Default 0. */
  seed?: number;
  /** Throw an Error describing the mismatches (default), or return false. */
  raiseException?: boolean;
}

const EPS32 = 2 ** -23;
const fn = 'gradcheck';

/**
 * Checks the gradients `fn`'s backward gives every input that requires grad (float32 on any
 * device) against finite differences. Returns true, or throws an Error naming the first
 * mismatches (false with raiseException: false). Inputs' own `.grad` are left untouched.
 */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): boolean {
  if (typeof f !== 'function') throw invalidParameterError(fn, 'fn', 'a function', f);
  if (!Array.isArray(inputs) || inputs.some((t) => !isTensor(t) || t.disposed)) throw invalidParameterError(fn, 'inputs', 'an array of live Tensors', inputs);
  const o = { eps: 1e-2, atol: 1e-5, rtol: 1e-3, roundoff: 8, projections: 2, seed: 0, raiseException: true, ...options };
  const checked = inputs.map((t, i) => (t.requiresGrad ? i : -1)).filter((i) => i >= 0);
  if (checked.length === 0) throw rangeError(fn, 'no input requires grad (requiresGrad_())');
  for (const i of checked) if (inputs[i].dtype !== 'float32') throw invalidParameterError(fn, `inputs[${i}]`, 'a float32 tensor (its steps are exact in float64)', inputs[i]);

  const y0 = evaluate(f, inputs, -1, null);
  const rng = new Random(o.seed);
  const vs = Array.from({ length: o.projections }, () => Float64Array.from(y0.values, () => rng.normal()));
  const analytic = vs.map((v) => analyticGrads(f, inputs, checked, y0.shape, v));

  const failures: string[] = [];
  for (const [c, i] of checked.entries()) {
    const x = inputs[i].dataSync() as Float32Array;
    for (let e = 0; e < x.length && failures.length < 5; e++) {
      const h = o.eps * Math.max(1, Math.abs(x[e]));
      const plus = Math.fround(x[e] + h);
      const minus = Math.fround(x[e] - h);
      const step = plus - minus;
      const yp = evaluate(f, inputs, i, withElement(x, e, plus)).values;
      const ym = evaluate(f, inputs, i, withElement(x, e, minus)).values;
      vs.forEach((v, k) => {
        let diff = 0;
        let noise = 0;
        for (let m = 0; m < v.length; m++) {
          if (yp[m] === ym[m]) continue;
          diff += v[m] * (yp[m] - ym[m]);
          noise += Math.abs(v[m]) * Math.max(Math.abs(yp[m]), Math.abs(ym[m]));
        }
        const numeric = diff / step;
        const got = analytic[k][c][e];
        const tol = o.atol + o.rtol * Math.abs(numeric) + (o.roundoff * EPS32 * noise) / step;
        if (!(Math.abs(got - numeric) <= tol)) {
          failures.push(`inputs[${i}] element ${e}, projection ${k}: analytic ${got} vs numeric ${numeric} (tolerance ${tol.toPrecision(3)})`);
        }
      });
    }
  }
  if (failures.length === 0) return true;
  if (!o.raiseException) return false;
  throw new Error(`${fn}: the backward disagrees with finite differences:\n  ${failures.join('\n  ')}`);
}

function withElement(x: Float32Array, e: number, value: number): Float32Array {
  const c = x.slice();
  c[e] = value;
  return c;
}

/** fn's output values (float64) with input `at` replaced by `values` (none when at is -1), recording off. */
function evaluate(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], at: number, values: Float32Array | null): { values: Float64Array; shape: readonly number[] } {
  return withGradMode(false, () => tidy(() => {
    const args = inputs.map((t, i) => (i === at ? tensorAs(fn, values as Float32Array, t.shape, { dtype: 'float32', device: t.device }) : t.detach()));
    const y = f(...args);
    if (!isTensor(y)) throw invalidParameterError(fn, 'the result of fn', 'a Tensor', y);
    return { values: Float64Array.from(y.dataSync()), shape: y.shape };
  }));
}

/** The gradient of Σ v·fn(inputs) for each checked input, by backward from fresh leaves (views of the inputs). */
function analyticGrads(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], checked: number[], shape: readonly number[], v: Float64Array): Float64Array[] {
  return withGradMode(true, () => tidy(() => {
    const args = inputs.map((t, i) => (checked.includes(i) ? t.detach().requiresGrad_() : t.detach()));
    const y = f(...args);
    if (!isTensor(y) || !y.requiresGrad) throw rangeError(fn, 'fn\'s result does not require grad: it does not depend on the inputs that do through recorded ops');
    backwardFrom(y, tensorAs(fn, Float32Array.from(v), shape, { dtype: y.dtype, device: y.device }));
    return checked.map((i) => {
      const g = args[i].grad;
      return g === null ? new Float64Array(inputs[i].size) : Float64Array.from(g.dataSync());
    });
  }));
}
