// What the tests of the low-rank and kernel mechanisms share: seeded inputs, the small ViT's
// training step by mechanism name, and a CUDA-against-CPU comparison.
import * as assert from 'node:assert/strict';
import { buildViT, crossEntropy, Device, FloatDType, randn, SGD, Tensor, tensor, tidy } from '../../ts/index';
import { assertClose, host, TOLERANCE } from '../helpers';
import type { Heads } from './lowrank_reference';

export const SMALL_VIT = { img_size: 32, patch_size: 8, embed_dim: 24, depth: 2, num_heads: 2, num_classes: 5 };

/** A seeded float32 tensor on the CPU with its values (as the reference reads them). */
export function seeded(shape: number[], seed: number, std = 1): { t: Tensor; ref: Heads } {
  const base = randn(shape, { seed });
  const values = Float32Array.from(host(base), (x) => x * std);
  base.dispose();
  return { t: tensor(values, shape), ref: { data: values, shape } };
}

/** Copies a CPU float32 tensor to `device` in `dtype`. */
export function onDevice(t: Tensor, device: Device, dtype: FloatDType): Tensor {
  return tidy(() => {
    const c = dtype === 'float32' ? t.clone() : t.cast(dtype);
    return device === 'cpu' ? c : c.to(device);
  });
}

/**
 * Builds the small ViT with `attention`, takes one SGD step in training mode, and checks that the
 * loss is finite and that every parameter named under attn.attention got a finite gradient.
 * Returns the mechanism's parameter names and the loss before and after the step.
 */
export function vitTrainingStep(attention: Record<string, unknown>, seed = 11): { names: string[]; losses: number[] } {
  const model = buildViT({ ...SMALL_VIT, attention }, { seed });
  const x = randn([2, 3, 32, 32], { seed: seed + 1 });
  const labels = tensor(new Int32Array([1, 4]), [2], { dtype: 'int32' });
  try {
    model.train();
    const opt = new SGD(model.parameters(), { lr: 0.05 });
    const losses: number[] = [];
    for (let step = 0; step < 2; step++) {
      opt.zeroGrad();
      const loss = tidy(() => {
        const l = crossEntropy(model.forward(x), labels);
        l.backward();
        return l.dataSync()[0];
      });
      losses.push(loss);
      if (step === 0) opt.step();
    }
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    const names = [...model.parameters().entries()].filter(([n]) => n.includes('attn.attention.')).map(([n, p]) => {
      const g = p.grad ? Array.from(host(p.grad)) : null;
      assert.ok(g !== null && g.every(Number.isFinite), `${n} has a finite gradient`);
      return n;
    });
    model.eval();
    const logits = tidy(() => Array.from(host(model.forward(x))));
    assert.equal(logits.length, 10);
    assert.ok(logits.every(Number.isFinite));
    return { names, losses };
  } finally {
    for (const t of [x, labels]) t.dispose();
    model.dispose();
  }
}

/** run(device, dtype) on CUDA against run('cpu', 'float32'), within the dtype's tolerance times `slack`. */
export function checkAgainstCpu(device: Device, dtype: FloatDType, run: (device: Device, dtype: FloatDType) => Tensor, slack = 4, label = ''): void {
  const want = tidy(() => Array.from(host(run('cpu', 'float32'))));
  const got = tidy(() => Array.from(host(run(device, dtype))));
  assertClose(got, want, TOLERANCE[dtype] * slack, `${label} ${device} ${dtype}`);
}
