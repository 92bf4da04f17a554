// AdamW: Adam with decoupled weight decay, torch.optim.AdamW's update (maximize off), one fused
// native step per (device, dtype).
import { checkBoolean, invalidParameterError, rangeError } from '../errors';
import { Optimizer, OptimizerOptions } from './optimizer';
import { checkNonNegative, OptimizerParams } from './params';

export interface AdamWOptions extends OptimizerOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Decay rates of the first and second moments, each in [0, 1). Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay: p ← p · (1 − lr·weightDecay) before the Adam update. Default 1e-2. */
  weightDecay?: number;
  /** Divide by the running maximum of the second moment (AMSGrad). Default false. */
  amsgrad?: boolean;
}

/**
 * torch.optim.AdamW: per element, with g the gradient, t the parameter's step count,
 *   p ← p·(1 − lr·weightDecay);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  (amsgrad: v̂ ← max(v̂, v))
 *   p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
 */
export class AdamW extends Optimizer {
  #betas: readonly [number, number] = [0.9, 0.999];
  #eps = 1e-8;
  #amsgrad = false;

  constructor(params: OptimizerParams, options: AdamWOptions = {}) {
    super({ type: 'AdamW', code: 1 }, params, options, { lr: 1e-3, weightDecay: 1e-2 });
    this.setOptions('AdamW', { betas: options.betas ?? [0.9, 0.999], eps: options.eps ?? 1e-8, amsgrad: options.amsgrad ?? false });
  }

  get betas(): readonly [number, number] { return this.#betas; }
  get eps(): number { return this.#eps; }
  get amsgrad(): boolean { return this.#amsgrad; }

  protected stateNames(): string[] {
    return this.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }

  protected hyper(): Float64Array {
    return new Float64Array([0, 0, 0, this.betas[0], this.betas[1], this.eps, this.amsgrad ? 1 : 0]);
  }

  protected options(): Record<string, unknown> {
    return { betas: [...this.betas], eps: this.eps, amsgrad: this.amsgrad };
  }

  protected setOptions(fn: string, saved: Record<string, unknown>): void {
    const betas = saved.betas;
    if (!Array.isArray(betas) || betas.length !== 2) throw invalidParameterError(fn, 'options.betas', 'a pair of numbers', betas);
    betas.forEach((b, i) => {
      if (typeof b !== 'number') throw invalidParameterError(fn, `options.betas[${i}]`, 'a number', b);
      if (!(b >= 0 && b < 1)) throw rangeError(fn, `options.betas[${i}] must be in [0, 1), got ${b}`);
    });
    const eps = checkNonNegative(fn, 'options.eps', saved.eps);
    const amsgrad = checkBoolean(fn, 'options.amsgrad', saved.amsgrad);
    this.#betas = Object.freeze([betas[0], betas[1]] as const);
    this.#eps = eps;
    this.#amsgrad = amsgrad;
  }
}
