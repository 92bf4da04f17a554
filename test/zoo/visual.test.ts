// `visual` (VAN's large-kernel attention): the module's forward against the float64 reference
// over awkward grids and kernel options on every device and dtype, its gradient (tokens and
// every weight) by finite differences, the ViT by name, and its errors.
import * as assert from 'node:assert/strict';
import { attention, buildViT, Device, FLOAT_DTYPES, FloatDType, MechanismGeometry, randn, TokenGrid } from '../../ts/index';
import { liveGradNodes } from '../../ts/autograd/graph';
import { largeKernelAttention } from '../../ts/attention/zoo/visual';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, itGradchecks } from '../helpers';
import { itTrainsInViT, makeModule, SMALL } from './mixing_cases';
import { visualRef } from './mixing_reference';

interface Case { label: string; B: number; E: number; grid: TokenGrid; options?: { kernel_size?: number; dilated_kernel_size?: number; dilation?: number } }

const CASES: Case[] = [
  { label: "the small ViT's 4x4 grid after a class token, E=24 (VAN's 5, 7, dilation 3)", B: 2, E: 24, grid: { height: 4, width: 4, prefixTokens: 1 } },
  { label: 'N = 197 (14x14 and a class token), E=12', B: 2, E: 12, grid: { height: 14, width: 14, prefixTokens: 1 } },
  { label: 'a 1x1 grid', B: 3, E: 12, grid: { height: 1, width: 1, prefixTokens: 1 } },
  { label: 'a 7x5 grid without a prefix, kernel 3, dilated 5, dilation 2', B: 2, E: 7, grid: { height: 7, width: 5, prefixTokens: 0 }, options: { kernel_size: 3, dilated_kernel_size: 5, dilation: 2 } },
];

const geometryOf = (c: Case): MechanismGeometry => ({ dim: c.E, heads: 1, tokens: c.grid.prefixTokens + c.grid.height * c.grid.width, grid: c.grid });

/** The module's output for tokens drawn from `seed`, with the inputs and parameters read back. */
function forward(device: Device, dtype: FloatDType, c: Case, seed: number) {
  const module = makeModule('visual', c.options ?? {}, geometryOf(c), { device, dtype, seed });
  const p = (name: string) => host(module.parameters().get(name)!);
  // Biases start at zero: give them values, so that the reference checks where they go.
  for (const name of ['conv0.bias', 'conv_spatial.bias', 'conv1.bias']) {
    const b = module.parameters().get(name)!;
    const values = randn(b.shape, { dtype, device, seed: seed + name.length });
    module.loadStateDict(new Map([[name, values]]), { strict: false });
    values.dispose();
  }
  const x = randn([c.B, geometryOf(c).tokens!, c.E], { dtype, device, seed: seed + 1 });
  const y = module.forwardTokens(x, {});
  const k0 = c.options?.kernel_size ?? 5, k1 = c.options?.dilated_kernel_size ?? 7;
  const params = {
    w0: p('conv0.weight'), b0: p('conv0.bias'), k0, w1: p('conv_spatial.weight'), b1: p('conv_spatial.bias'), k1,
    dilation: c.options?.dilation ?? 3, w2: p('conv1.weight'), b2: p('conv1.bias'),
  };
  const r = { x: host(x), y: host(y), params };
  for (const t of [x, y]) t.dispose();
  module.dispose();
  return r;
}

for (const device of DEVICES) {
  describeDevice(device, 'visual', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const c of CASES) {
        it(`matches float64: ${c.label}, ${dtype}`, () => {
          const seed = freshSeed();
          const r = forward(device, dtype, c, seed);
          assertClose(r.y, visualRef(r.x, c.B, c.E, c.grid, r.params), TOLERANCE[dtype], `${c.label} ${dtype} seed ${seed}`);
        });
      }
    }
  });
}

describe('visual gradient by finite differences (CPU, float32)', () => {
  const grid: TokenGrid = { height: 3, width: 4, prefixTokens: 1 };
  itGradchecks('the tokens and all six weights, a 3x4 grid after a class token, E=3, kernels 3 and 3, dilation 2',
    (x, w0, b0, w1, b1, w2, b2) => largeKernelAttention(x, grid, { conv0: [w0, b0], convSpatial: [w1, b1], conv1: [w2, b2] }, 2),
    [
      randn([2, 13, 3], { seed: 1 }), randn([3, 1, 3, 3], { seed: 2 }), randn([3], { seed: 3 }), randn([3, 1, 3, 3], { seed: 4 }),
      randn([3], { seed: 5 }), randn([3, 3], { seed: 6 }), randn([3], { seed: 7 }),
    ].map((t) => t.requiresGrad_()));
});

describeDevice('cuda:0', 'visual, CUDA against the CPU', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`the module's output on CUDA matches the CPU's at B=4, N=197, E=96, ${dtype}`, () => {
      const seed = freshSeed();
      const c: Case = { label: 'N=197', B: 4, E: 96, grid: { height: 14, width: 14, prefixTokens: 1 } };
      assertClose(forward('cuda:0', dtype, c, seed).y, forward('cpu', dtype, c, seed).y, TOLERANCE[dtype], `${dtype} seed ${seed}`);
    });
  }
});

describe('visual in a ViT and its errors', () => {
  itTrainsInViT({ mechanism: 'visual' }, ['conv0.weight', 'conv0.bias', 'conv_spatial.weight', 'conv_spatial.bias', 'conv1.weight', 'conv1.bias']);
  it('its parameters are named under attn.attention with VAN\'s shapes, and an eval forward records nothing', () => {
    const model = buildViT({ ...SMALL, attention: { mechanism: 'visual', kernel_size: 3 } }, { seed: 1 });
    const shapes = Object.fromEntries([...model.parameters()].filter(([n]) => n.startsWith('blocks.0.attn.attention.')).map(([n, t]) => [n.slice(24), t.shape]));
    assert.deepEqual(shapes, {
      'conv0.weight': [24, 1, 3, 3], 'conv0.bias': [24], 'conv_spatial.weight': [24, 1, 7, 7], 'conv_spatial.bias': [24], 'conv1.weight': [24, 24], 'conv1.bias': [24],
    });
    model.dispose();
    // The module itself: its parameters require grad once trained, yet an eval forward records nothing.
    const module = makeModule('visual', {}, { dim: 6, heads: 1, grid: { height: 3, width: 3, prefixTokens: 1 } });
    module.train();
    module.eval();
    const x = randn([1, 10, 6], { seed: 2 });
    const before = liveGradNodes();
    const evaluated = module.forwardTokens(x, {});
    assert.equal(liveGradNodes(), before, 'no tape records in eval mode');
    assert.equal(evaluated.requiresGrad, false);
    evaluated.dispose();
    module.train();
    const y = module.forwardTokens(x, {});
    assert.ok(y.requiresGrad, 'a training forward records');
    for (const t of [x, y]) t.dispose();
    module.dispose();
  });
  it('bad options and a call on q, k, v throw saying what is wrong', () => {
    const g: MechanismGeometry = { dim: 8, heads: 2, grid: { height: 2, width: 2, prefixTokens: 1 } };
    assert.throws(() => makeModule('visual', { kernel_size: 4 }, g), /^RangeError: test: visual option kernel_size must be odd/);
    assert.throws(() => makeModule('visual', { dilated_kernel_size: 0 }, g), /^RangeError: test: visual option dilated_kernel_size must be at least 1/);
    assert.throws(() => makeModule('visual', { dilation: 0 }, g), /^RangeError: test: visual option dilation must be at least 1/);
    assert.throws(() => makeModule('visual', { kernel: 5 }, g), /mechanism 'visual' takes no option 'kernel' \(it takes 'kernel_size', 'dilated_kernel_size', 'dilation'\)/);
    assert.throws(() => makeModule('visual', {}, { dim: 8, heads: 2 }), /mechanism 'visual' mixes the tokens on their patch grid and needs it/);
    const q = randn([1, 5, 2, 4]);
    assert.throws(() => attention(q, q, q, { mechanism: 'visual' } as never), /mechanism 'visual' works as a module only/);
    q.dispose();
  });
});
