// SGD with momentum, Nesterov momentum and weight decay: torch.optim.SGD's update (maximize
// off), one fused native step per (device, dtype).
import { checkBoolean, rangeError } from '../errors';
import { Optimizer, OptimizerOptions } from './optimizer';
import { checkNonNegative, OptimizerParams } from './params';

export interface SGDOptions extends OptimizerOptions {
  /** Learning rate. Default 1e-3 (torch's since 2.2). */
  lr?: number;
  /** Default 0: no momentum buffer. */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** L2 penalty, added to the gradient: g + weightDecay · p. Default 0. */
  weightDecay?: number;
}

/**
 * torch.optim.SGD: per element, with g the gradient and p the parameter,
 *   g ← g + weightDecay·p;  with momentum: b ← g on a parameter's first step, else
 *   momentum·b + (1 − dampening)·g, then g ← nesterov ? g + momentum·b : b;  p ← p − lr·g.
 */
export class SGD extends Optimizer {
  #momentum = 0;
  #dampening = 0;
  #nesterov = false;

  constructor(params: OptimizerParams, options: SGDOptions = {}) {
    super({ type: 'SGD', code: 0 }, params, options, { lr: 1e-3, weightDecay: 0 });
    this.setOptions('SGD', { momentum: options.momentum ?? 0, dampening: options.dampening ?? 0, nesterov: options.nesterov ?? false });
  }

  get momentum(): number { return this.#momentum; }
  get dampening(): number { return this.#dampening; }
  get nesterov(): boolean { return this.#nesterov; }

  protected stateNames(): string[] {
    return this.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected hyper(): Float64Array {
    return new Float64Array([this.momentum, this.dampening, this.nesterov ? 1 : 0, 0, 0, 0, 0]);
  }

  protected options(): Record<string, unknown> {
    return { momentum: this.momentum, dampening: this.dampening, nesterov: this.nesterov };
  }

  protected setOptions(fn: string, saved: Record<string, unknown>): void {
    const momentum = checkNonNegative(fn, 'options.momentum', saved.momentum);
    const dampening = checkNonNegative(fn, 'options.dampening', saved.dampening);
    const nesterov = checkBoolean(fn, 'options.nesterov', saved.nesterov);
    if (nesterov && (momentum <= 0 || dampening !== 0)) throw rangeError(fn, 'Nesterov momentum needs a momentum above 0 and a dampening of 0');
    this.#momentum = momentum;
    this.#dampening = dampening;
    this.#nesterov = nesterov;
  }
}
