// PyTorch's SGD and AdamW updates in float64, written from torch/optim/sgd.py and adamw.py
// (single-tensor, maximize off), and a way to give a parameter an exact gradient.
import { backward, Device, FloatDType, mul, Tensor, tensor } from '../../ts/index';

export interface SGDHyper { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number }
export interface AdamWHyper { lr: number; weightDecay: number; betas: [number, number]; eps: number; amsgrad: boolean }

/** One parameter's SGD in float64. */
export class SGDRef {
  readonly p: Float64Array;
  buf: Float64Array | null = null;
  constructor(p: ArrayLike<number>) {
    this.p = Float64Array.from(p);
  }
  update(g: ArrayLike<number>, h: SGDHyper): void {
    const first = this.buf === null;
    if (h.momentum !== 0 && first) this.buf = new Float64Array(this.p.length);
    for (let i = 0; i < this.p.length; i++) {
      let d = g[i] + h.weightDecay * this.p[i];
      if (h.momentum !== 0) {
        const b = this.buf as Float64Array;
        b[i] = first ? d : h.momentum * b[i] + (1 - h.dampening) * d;
        d = h.nesterov ? d + h.momentum * b[i] : b[i];
      }
      this.p[i] -= h.lr * d;
    }
  }
}

/** One parameter's AdamW in float64. */
export class AdamWRef {
  readonly p: Float64Array;
  readonly m: Float64Array;
  readonly v: Float64Array;
  readonly vmax: Float64Array;
  step = 0;
  constructor(p: ArrayLike<number>) {
    this.p = Float64Array.from(p);
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
    this.vmax = new Float64Array(p.length);
  }
  update(g: ArrayLike<number>, h: AdamWHyper): void {
    this.step++;
    const [b1, b2] = h.betas;
    const bc1 = 1 - b1 ** this.step, bc2 = 1 - b2 ** this.step;
    for (let i = 0; i < this.p.length; i++) {
      this.p[i] *= 1 - h.lr * h.weightDecay;
      this.m[i] = b1 * this.m[i] + (1 - b1) * g[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * g[i] * g[i];
      this.vmax[i] = Math.max(this.vmax[i], this.v[i]);
      const denom = Math.sqrt(h.amsgrad ? this.vmax[i] : this.v[i]) / Math.sqrt(bc2) + h.eps;
      this.p[i] -= (h.lr / bc1) * (this.m[i] / denom);
    }
  }
}

/** Sets p.grad to exactly g (in p's dtype): the gradient of p·1 under backward(·, g). */
export function setGrad(p: Tensor, g: ArrayLike<number>): void {
  const gt = tensor(Float32Array.from(g), p.shape, { dtype: p.dtype, device: p.device });
  const y = mul(p, 1);
  backward(y, gt);
  y.dispose();
  gt.dispose();
}

/** Values drawn from a seeded generator (mulberry32), scaled: the same on every run and device. */
export function values(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** A leaf parameter that requires grad, of `values`. */
export function param(v: Float32Array, shape: readonly number[], dtype: FloatDType = 'float32', device: Device = 'cpu'): Tensor {
  return tensor(v, shape, { dtype, device }).requiresGrad_();
}

/** Two small float32 parameters, p and q, made before each test of the enclosing suite and disposed after it. */
export function eachTwoParams(): { p: Tensor; q: Tensor } {
  const box = {} as { p: Tensor; q: Tensor };
  beforeEach(() => {
    box.p = param(values(4, 1), [4]);
    box.q = param(values(4, 2), [4]);
  });
  afterEach(() => {
    box.p.dispose();
    box.q.dispose();
  });
  return box;
}
