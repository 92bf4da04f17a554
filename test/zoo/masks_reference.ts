// Float64 references of the mask mechanisms (local, global, random), written plainly from their
// definitions as dense [N, N] masks, and the checks every one of them runs: forward and
// gradients against attentionReference under the mask, gradcheck, the ViT by name with a
// training step.
import * as assert from 'node:assert/strict';
import {
  AdamW, attention, AttentionOptions, backward, buildViT, crossEntropy, Device, FloatDType, gradcheck, randn, splitQkv, tensor, Tensor, tidy,
} from '../../ts/index';
import { attentionBackwardReference, attentionReference, AttentionCase } from '../attention_reference';
import { assertClose, host, TOLERANCE } from '../helpers';

/** A dense [n, n] mask (1 = attend) with entry (i, j) = allowed(i, j). */
export function denseMask(n: number, allowed: (i: number, j: number) => boolean): Uint8Array {
  const out = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = allowed(i, j) ? 1 : 0;
  return out;
}

/**
 * 'local': the first `prefix` tokens attend and are attended by all; the others attend the
 * tokens within (window - 1) / 2 of them, on the sequence (grid null) or on each axis of the
 * [h, w] patch grid that follows the prefix.
 */
export function localMaskReference(n: number, window: number, grid: [number, number] | null, prefix: number): Uint8Array {
  const half = (window - 1) / 2;
  return denseMask(n, (i, j) => {
    if (i < prefix || j < prefix) return true;
    if (grid === null) return Math.abs(i - j) <= half;
    const w = grid[1];
    const [a, b] = [i - prefix, j - prefix];
    return Math.abs(Math.floor(a / w) - Math.floor(b / w)) <= half && Math.abs((a % w) - (b % w)) <= half;
  });
}

/** 'global': pairs where either token is global. */
export function globalMaskReference(n: number, tokens: number[]): Uint8Array {
  return denseMask(n, (i, j) => tokens.includes(i) || tokens.includes(j));
}

export const SMALL_VIT = { img_size: 32, patch_size: 8, embed_dim: 24, depth: 2, num_heads: 2, num_classes: 5 };

export interface MaskCase {
  B: number; N: number; H: number; D: number;
  causal?: boolean;
  /** A bias [H, N, N] in q's dtype, with its gradient. */
  bias?: boolean;
}

export const caseLabel = (c: MaskCase) => `B ${c.B}, N ${c.N}, H ${c.H}, D ${c.D}${c.causal ? ', causal' : ''}${c.bias ? ', a bias [H, N, N]' : ''}`;

/** [n, n] (or [H, n, n] when perHead) values broadcast to [B, H, n, n]. */
function expand(values: ArrayLike<number>, B: number, H: number, n: number, perHead: boolean): Float64Array {
  const out = new Float64Array(B * H * n * n);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const from = perHead ? h * n * n : 0;
      for (let x = 0; x < n * n; x++) out[(b * H + h) * n * n + x] = values[from + x];
    }
  }
  return out;
}

/**
 * attention(q, k, v, options) on `device` in `dtype` against the float64 reference under
 * `mask` ([N, N]): the output, and dq, dk, dv (and the bias's gradient) from backward.
 */
export function checkMaskParity(device: Device, dtype: FloatDType, options: AttentionOptions, mask: Uint8Array, c: MaskCase, seed: number): void {
  tidy(() => {
    const { B, N, H, D } = c;
    const [q, k, v] = [0, 1, 2].map((x) => randn([B, N, H, D], { device, dtype, seed: seed + x }).requiresGrad_());
    const bias = c.bias ? randn([H, N, N], { device, dtype, seed: seed + 3 }).requiresGrad_() : null;
    const dO = randn([B, N, H, D], { device, dtype, seed: seed + 4 });
    const out = attention(q, k, v, { ...options, causal: c.causal ?? false, bias });
    const ref: AttentionCase = {
      B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: c.causal ?? false,
      mask: expand(mask, B, H, N, false), bias: bias ? expand(host(bias), B, H, N, true) : null,
    };
    const [hq, hk, hv] = [q, k, v].map(host);
    const label = `${String(options.mechanism)} ${dtype} ${caseLabel(c)} seed ${seed}`;
    assertClose(host(out), attentionReference(ref, hq, hk, hv), TOLERANCE[dtype] * (c.bias ? 2 : 1), `${label}: out`);
    backward(out, dO);
    const want = attentionBackwardReference(ref, hq, hk, hv, host(dO));
    assertClose(host(q.grad!), want.dq, TOLERANCE[dtype] * 2, `${label}: dq`);
    assertClose(host(k.grad!), want.dk, TOLERANCE[dtype] * 2, `${label}: dk`);
    assertClose(host(v.grad!), want.dv, TOLERANCE[dtype] * 2, `${label}: dv`);
    if (bias) {
      const dbias = new Float64Array(H * N * N);
      want.dbias.forEach((x, i) => { dbias[i % (H * N * N)] += x; });
      assertClose(host(bias.grad!), dbias, TOLERANCE[dtype] * 2, `${label}: dbias`);
    }
    for (const t of [q, k, v, bias]) t?.dispose();
  });
}

/** gradcheck of attention(q, k, v, options) (and a bias [H, N, N] where asked) on the CPU. */
export function checkMaskGradients(options: AttentionOptions, c: MaskCase): void {
  const { B, N, H, D } = c;
  const inputs = [0, 1, 2].map((x) => randn([B, N, H, D], { seed: 40 + x }).requiresGrad_());
  if (c.bias) inputs.push(randn([H, N, N], { seed: 43 }).requiresGrad_());
  try {
    const f = (q: Tensor, k: Tensor, v: Tensor, bias?: Tensor) => attention(q, k, v, { ...options, causal: c.causal ?? false, bias });
    assert.equal(gradcheck(f, inputs, { rtol: 1e-4 }), true);
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/**
 * The small ViT with `attention` by name: its forward, then one AdamW step whose loss is finite
 * and that reaches every parameter. Returns the model (eval mode), for further checks.
 */
export function trainViTStep(attentionConfig: Record<string, unknown>, seed = 1): ReturnType<typeof buildViT> {
  const model = buildViT({ ...SMALL_VIT, attention: attentionConfig }, { seed });
  const x = randn([2, 3, 32, 32], { seed: seed + 1 });
  const labels = tensor(new Int32Array([1, 4]), [2], { dtype: 'int32' });
  try {
    const logits = tidy(() => host(model.forward(x)));
    assert.equal(logits.length, 10);
    assert.ok(logits.every(Number.isFinite), 'finite logits');
    model.train();
    const params = [...model.parameters().values()];
    const opt = new AdamW(params, { lr: 1e-3 });
    const before = host(params[0]).slice();
    const loss = tidy(() => {
      const l = crossEntropy(model.forward(x), labels);
      l.backward();
      return l.dataSync()[0];
    });
    assert.ok(Number.isFinite(loss), `finite loss (${loss})`);
    for (const [name, p] of model.parameters()) assert.ok(p.grad !== null && host(p.grad).every(Number.isFinite), `${name} gets a finite gradient`);
    opt.step();
    assert.ok(host(params[0]).some((value, i) => value !== before[i]), 'the step moves the parameters');
    opt.dispose();
    model.eval();
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    x.dispose();
    labels.dispose();
  }
}

/**
 * Block `block` of the small ViT with `config` against the function form with `explicit`
 * options (what the layer's geometry should resolve to): the layer's attention branch on
 * random tokens, both ways. Eval mode.
 */
export function checkLayerMatches(config: Record<string, unknown>, explicit: AttentionOptions, block = 0): void {
  const model = buildViT({ ...SMALL_VIT, attention: config }, { seed: 2 });
  const attn = model.blocks[block].attn;
  const tokens = randn([2, 17, 24], { seed: 3 });
  try {
    const got = tidy(() => host(attn.forward(tokens)));
    assert.deepEqual(tidy(() => host(attn.forward(tokens))), got, 'two eval calls agree');
    const want = tidy(() => {
      const { q, k, v } = splitQkv(attn.qkv!.forward(tokens).reshape([2, 17, 3, 2, 12]));
      return host(attn.proj.forward(attention(q, k, v, explicit).reshape([2, 17, 24])));
    });
    assertClose(got, want, 1e-6, `the layer against ${JSON.stringify(explicit)}`);
  } finally {
    tokens.dispose();
    model.dispose();
  }
}

/** attention(x, x, x, { mechanism, ...options }) on an x [1, 10, 1, 4]: what the bad-option tests call. */
export function attendTen(mechanism: string, options: Record<string, unknown>): Tensor {
  const x = randn([1, 10, 1, 4], { seed: 5 });
  try {
    return attention(x, x, x, { mechanism, ...options });
  } finally {
    x.dispose();
  }
}
