// EncoderBlock in each of its forms — pre-norm (timm's ViT), post-norm, each with and
// without layer scale, with and without a qkv bias — against a float64 reference written
// from linear, layer norm, attention and GELU references. Every parameter is random
// (biases and norm weights too), so a term left out or applied twice shows.
import * as assert from 'node:assert/strict';
import { Device, EncoderBlock, FloatDType, randn, Tensor } from '../ts/index';
import { attentionReference } from './attention_reference';
import { DEVICES, TOLERANCE, describeDevice, freshSeed, relativeError } from './helpers';
import { linearRef, normRef } from './reference';

interface Form { preNorm: boolean; layerScale: number | null; qkvBias: boolean }

// float32: one op's tolerance (measured 2e-7 to 4e-7 on the CPU); float16 rounds each of
// the ~10 ops' outputs to 11 bits, as the ViT fixture tests allow for.
const BOUND: Partial<Record<FloatDType, number>> = { float32: TOLERANCE.float32, float16: 1e-2 };

const FORMS: Form[] = [
  { preNorm: true, layerScale: null, qkvBias: false },
  { preNorm: true, layerScale: 0.3, qkvBias: true },
  { preNorm: false, layerScale: null, qkvBias: true },
  { preNorm: false, layerScale: 0.7, qkvBias: false },
];

/** The block in float64: x [B, N, C] row-major. */
function blockRef(x: Float64Array, [B, N, C]: number[], H: number, hidden: number, p: Map<string, Float64Array>, f: Form, eps: number): Float64Array {
  const M = B * N, D = C / H;
  const get = (name: string) => p.get(name) ?? null;
  const norm = (v: Float64Array, which: string) => normRef(v, C, get(`${which}.weight`), get(`${which}.bias`), eps, false);
  const attn = (v: Float64Array) => {
    const qkv = linearRef(v, M, C, get('attn.qkv.weight')!, 3 * C, get('attn.qkv.bias'));
    const part = (s: number) => {
      const out = new Float64Array(M * C);
      for (let r = 0; r < M; r++) for (let c = 0; c < C; c++) out[r * C + c] = qkv[r * 3 * C + s * C + c];
      return out;
    };
    const o = attentionReference({ B, Nq: N, Nk: N, H, D, scale: 1 / Math.sqrt(D), causal: false, mask: null, bias: null }, part(0), part(1), part(2));
    return linearRef(o, M, C, get('attn.proj.weight')!, C, get('attn.proj.bias'));
  };
  const mlp = (v: Float64Array) => linearRef(linearRef(v, M, C, get('mlp.fc1.weight')!, hidden, get('mlp.fc1.bias'), 'gelu'), M, hidden, get('mlp.fc2.weight')!, C, get('mlp.fc2.bias'));
  const plus = (a: Float64Array, branch: Float64Array, scale: Float64Array | null) => a.map((v, i) => v + branch[i] * (scale ? scale[i % C] : 1));
  if (f.preNorm) {
    const a = plus(x, attn(norm(x, 'norm1')), get('ls1'));
    return plus(a, mlp(norm(a, 'norm2')), get('ls2'));
  }
  const a = norm(plus(x, attn(x), get('ls1')), 'norm1');
  return norm(plus(a, mlp(a), get('ls2')), 'norm2');
}

for (const device of DEVICES) {
  describeDevice(device, 'EncoderBlock', () => {
    const dtypes: FloatDType[] = device === 'cpu' ? ['float32'] : ['float32', 'float16'];
    for (const dtype of dtypes) {
      for (const f of FORMS) {
        const what = `${f.preNorm ? 'pre' : 'post'}-norm, layer scale ${f.layerScale ?? 'none'}, qkv bias ${f.qkvBias}`;
        it(`${what} matches float64 at B2 N7 C12 H3 mlp 3, ${dtype}`, () => {
          const [B, N, C, H, ratio, eps] = [2, 7, 12, 3, 3, 1e-5];
          const block = new EncoderBlock(C, H, { device: device as Device, dtype, mlpRatio: ratio, qkvBias: f.qkvBias, preNorm: f.preNorm, layerScale: f.layerScale, normEps: eps });
          let seed = freshSeed();
          const state = new Map<string, Tensor>();
          for (const [name, t] of block.parameters()) state.set(name, randn(t.shape, { seed: seed++, dtype: 'float32' }));
          block.loadStateDict(state);
          // The reference reads the values the block holds (rounded to its dtype).
          const values = new Map([...block.parameters()].map(([n, t]) => [n, Float64Array.from(t.dataSync())]));
          const x = randn([B, N, C], { seed: seed++, device, dtype });
          const y = block.forward(x);
          assert.deepEqual(y.shape, [B, N, C]);
          const ref = blockRef(Float64Array.from(x.dataSync()), [B, N, C], H, C * ratio, values, f, eps);
          const err = relativeError(y.dataSync(), ref);
          console.log(`      relative error ${err.toExponential(2)}`);
          assert.ok(err <= BOUND[dtype], `relative error ${err}`);
          for (const t of [...state.values(), x, y]) t.dispose();
          block.dispose();
        });
      }
    }
  });
}
