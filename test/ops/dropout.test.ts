// dropout and dropPath: Philox against Random123's known answers, the stream and masks
// against a plain TypeScript Philox (test/philox_reference.ts), y = x · keep / (1 − p)
// exactly, keep fractions within statistical bounds, reproducibility by seed and offset,
// the identity cases, gradients, bad input, and CUDA's masks equal to the CPU's bit for bit.
import * as assert from 'node:assert/strict';
import {
  backward, defaultGenerator, Device, dropout, dropPath, FLOAT_DTYPES, FloatDType, RandomGenerator, gradcheck, manualSeed, mean, mul, randn, slice,
  tensor, Tensor,
} from '../../ts/index';
import { liveGradNodes } from '../../ts/autograd/graph';
import { dropoutBackward } from '../../ts/ops/dropout_backward';
import { native } from '../../ts/native';
import { DEVICES, describeDevice, host } from '../helpers';
import { keepMaskRef, philoxRef, streamRef } from '../philox_reference';
import { roundTo } from '../reference';

// Random123's kat_vectors, philox4x32 10: counter[4], key[2] -> output[4].
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

const int32 = (values: number[], shape: number[], device: Device) => tensor(Int32Array.from(values, (v) => v | 0), shape, { dtype: 'int32', device });

/** native().philox over rows of counters and keys, as uint32 words. */
function philoxNative(device: Device, counters: number[][], keys: number[][]): number[][] {
  const n = counters.length;
  const out = tensor(new Int32Array(4 * n), [n, 4], { dtype: 'int32', device });
  const c = int32(counters.flat(), [n, 4], device);
  const k = int32(keys.flat(), [n, 2], device);
  native().philox(out, c, k);
  const words = Array.from(out.dataSync() as Int32Array, (v) => v >>> 0);
  for (const t of [out, c, k]) t.dispose();
  return Array.from({ length: n }, (_, r) => words.slice(4 * r, 4 * r + 4));
}

/** y = x · keep / (1 − p) as the op defines it: the float32 product of x and fround(1/(1 − p)), rounded once to the dtype. */
function expected(x: Float32Array, keep: Uint8Array, p: number, dtype: FloatDType): Float64Array {
  const scale = Math.fround(1 / (1 - p));
  return Float64Array.from(x, (v, i) => (keep[i] ? roundTo(dtype, Math.fround(v * scale)) : 0));
}

const values = (t: Tensor) => Array.from(host(t));

describe('Philox4x32-10', () => {
  it('the TypeScript reference gives Random123\'s known answers', () => {
    for (const [counter, key, out] of KAT) assert.deepEqual(philoxRef(counter, key), out);
  });
  it('the stream of a seed is the blocks of counters {block, 0, 0} under key {seed lo, seed hi}', () => {
    const seed = 2 ** 40 + 12345;
    const words = streamRef(seed, 4 * (2 ** 33 + 7), 8);
    assert.deepEqual(Array.from(words.slice(0, 4)), philoxRef([7, 2, 0, 0], [12345, 256]));
    assert.deepEqual(Array.from(words.slice(4)), philoxRef([8, 2, 0, 0], [12345, 256]));
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'Philox4x32-10 native', () => {
    it('native philox gives Random123\'s known answers', () => {
      assert.deepEqual(philoxNative(device, KAT.map((k) => k[0]), KAT.map((k) => k[1])), KAT.map((k) => k[2]));
    });
    it('native philox refuses shapes and dtypes other than int32 [n, 4], [n, 4], [n, 2]', () => {
      const out = tensor(new Int32Array(4), [1, 4], { dtype: 'int32', device });
      const c = int32([0, 0, 0, 0], [1, 4], device);
      const k = int32([0, 0, 0], [1, 3], device);
      assert.throws(() => native().philox(out, c, k), /philox: out and counter must be \[n, 4\] and key \[n, 2\]/);
      for (const t of [out, c, k]) t.dispose();
    });
  });
}

for (const device of DEVICES) {
  describeDevice(device, 'dropout', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`keeps exactly the reference mask and writes x · fround(1/(1 − p)) there, 0 elsewhere, ${dtype}`, () => {
        for (const [n, p] of [[1, 0.5], [7, 0.1], [197 * 12, 0.3], [4099, 0.9]] as const) {
          const x = randn([n], { dtype, device, seed: n });
          const y = dropout(x, p, { seed: 2 ** 35 + 17, offset: 4 * 1001 });
          const keep = keepMaskRef(2 ** 35 + 17, 4 * 1001, n, p);
          assert.deepEqual(values(y), Array.from(expected(host(x), keep, p, dtype)), `n ${n} p ${p}`);
          x.dispose();
          y.dispose();
        }
      });
    }

    it('keeps a fraction 1 − p of 200,000 elements within 5 standard deviations, for p = 0.01 .. 0.99', () => {
      const n = 200_000;
      for (const p of [0.01, 0.1, 0.5, 0.9, 0.99]) {
        const x = tensor(new Float32Array(n).fill(1), [n], { device });
        const y = dropout(x, p, { seed: 7, offset: 0 });
        const kept = host(y).reduce((a, v) => a + (v !== 0 ? 1 : 0), 0) / n;
        const sd = Math.sqrt((p * (1 - p)) / n);
        assert.ok(Math.abs(kept - (1 - p)) < 5 * sd, `p ${p}: kept ${kept}, expected ${1 - p} ± ${5 * sd}`);
        x.dispose();
        y.dispose();
      }
    });

    it('the same seed and offset give the same mask; another offset or seed another one', () => {
      const x = randn([1000], { device, seed: 3 });
      const a = values(dropout(x, 0.5, { seed: 11, offset: 0 }));
      assert.deepEqual(values(dropout(x, 0.5, { seed: 11, offset: 0 })), a);
      assert.notDeepEqual(values(dropout(x, 0.5, { seed: 11, offset: 1000 })), a);
      assert.notDeepEqual(values(dropout(x, 0.5, { seed: 12, offset: 0 })), a);
      // An offset is a position in the stream: offset 8 reads what offset 0 reads from element 8.
      assert.deepEqual(values(dropout(slice(x, 0, 8, 1000), 0.5, { seed: 11, offset: 8 })).map((v) => v !== 0),
        a.slice(8).map((v) => v !== 0));
      x.dispose();
    });

    it('the default generator advances by the words drawn (rounded up to 4); manualSeed repeats a run', () => {
      const x = randn([10], { device, seed: 4 });
      manualSeed(123);
      const g = defaultGenerator(device);
      assert.deepEqual(g.getState(), { seed: 123, offset: 0 });
      const first = values(dropout(x, 0.5));
      assert.equal(g.offset, 12);
      const second = values(dropout(x, 0.5));
      assert.equal(g.offset, 24);
      assert.notDeepEqual(second, first);
      dropPath(randn([3, 5], { device, seed: 5 }), 0.5);
      assert.equal(g.offset, 28, 'dropPath draws one word per sample');
      manualSeed(123);
      assert.deepEqual(values(dropout(x, 0.5)), first);
      assert.deepEqual(values(dropout(x, 0.5)), second);
      x.dispose();
    });

    it('a RandomGenerator of its own draws its stream and leaves the default one alone', () => {
      const x = randn([64], { device, seed: 6 });
      const before = defaultGenerator(device).getState();
      const gen = new RandomGenerator(99);
      const y = dropout(x, 0.25, { generator: gen });
      assert.equal(gen.offset, 64);
      assert.deepEqual(defaultGenerator(device).getState(), before);
      assert.deepEqual(values(y), values(dropout(x, 0.25, { seed: 99, offset: 0 })));
      gen.setState({ seed: 99, offset: 0 });
      assert.deepEqual(values(dropout(x, 0.25, { generator: gen })), values(y));
      x.dispose();
    });

    it('p = 0 and training false return x itself, record nothing and draw nothing; p = 1 gives zeros', () => {
      const x = randn([3, 5], { device, seed: 8 }).requiresGrad_();
      const nodes = liveGradNodes();
      const g = defaultGenerator(device);
      const offset = g.offset;
      assert.equal(dropout(x, 0), x);
      assert.equal(dropout(x, 0.5, { training: false }), x);
      assert.equal(dropout(x, 0.5, false), x);
      assert.equal(dropPath(x, 0.5, false), x);
      assert.equal(dropPath(x, 0), x);
      assert.equal(liveGradNodes(), nodes);
      assert.equal(g.offset, offset);
      const z = dropout(x, 1);
      assert.deepEqual(values(z), new Array(15).fill(0));
      assert.equal(g.offset, offset, 'p = 1 draws nothing');
      backward(z, tensor(new Float32Array(15).fill(1), [3, 5], { device }));
      assert.deepEqual(values(x.grad!), new Array(15).fill(0));
      x.dispose();
      z.dispose();
    });

    it('a strided x is dropped in its row-major order; an empty x gives an empty result', () => {
      const x = randn([6, 7], { device, seed: 9 });
      const xt = x.transpose();
      const y = dropout(xt, 0.4, { seed: 5, offset: 16 });
      assert.deepEqual(values(y), values(dropout(xt.contiguous(), 0.4, { seed: 5, offset: 16 })));
      const e = dropout(randn([0, 3], { device }), 0.5, { seed: 1 });
      assert.deepEqual(e.shape, [0, 3]);
      x.dispose();
    });

    it('its gradient is g · keep / (1 − p) with the forward\'s mask, regenerated; dropoutBackward gives the same', () => {
      const x = randn([5, 9], { device, seed: 10 }).requiresGrad_();
      const y = dropout(x, 0.3, { seed: 21, offset: 40 });
      const g = randn([5, 9], { device, seed: 11 });
      backward(y, g);
      const keep = keepMaskRef(21, 40, 45, 0.3);
      assert.deepEqual(values(x.grad!), Array.from(expected(host(g), keep, 0.3, 'float32')));
      assert.deepEqual(values(dropoutBackward(g, 0.3, { seed: 21, offset: 40 })), values(x.grad!));
      x.dispose();
      y.dispose();
    });
  });

  describeDevice(device, 'dropPath', () => {
    for (const dtype of FLOAT_DTYPES) {
      it(`drops whole samples along dim 0 by the reference's words and scales the rest, ${dtype}`, () => {
        const [B, N, C] = [13, 5, 7];
        const x = randn([B, N, C], { dtype, device, seed: 12 });
        const y = dropPath(x, 0.4, { seed: 77, offset: 8 });
        const keep = keepMaskRef(77, 8, B * N * C, 0.4, N * C);
        assert.deepEqual(values(y), Array.from(expected(host(x), keep, 0.4, dtype)));
        x.dispose();
        y.dispose();
      });
    }

    it('keeps a fraction 1 − p of 20,000 samples within 5 standard deviations', () => {
      const B = 20_000;
      const x = tensor(new Float32Array(B * 3).fill(1), [B, 3], { device });
      const y = host(dropPath(x, 0.3, { seed: 3 }));
      let kept = 0;
      for (let b = 0; b < B; b++) {
        assert.ok(y[3 * b] === y[3 * b + 1] && y[3 * b] === y[3 * b + 2], `sample ${b} is all kept or all dropped`);
        if (y[3 * b] !== 0) kept++;
      }
      const sd = Math.sqrt((0.3 * 0.7) / B);
      assert.ok(Math.abs(kept / B - 0.7) < 5 * sd, `kept ${kept / B}`);
      x.dispose();
    });
  });
}

describeDevice('cuda:0', 'dropout and dropPath on CUDA against the CPU', () => {
  /** op on CUDA and on the CPU from the same float32 values (cast to dtype), read back. */
  function both(dtype: FloatDType, shape: number[], op: (x: Tensor) => Tensor, view: (x: Tensor) => Tensor = (x) => x): [number[], number[]] {
    const base = randn(shape, { seed: shape.reduce((a, b) => a + b, 0) });
    const results = (['cuda:0', 'cpu'] as const).map((device) => {
      const x = base.to(device).cast(dtype);
      const y = op(view(x));
      const v = values(y);
      x.dispose();
      y.dispose();
      return v;
    });
    base.dispose();
    return results as [number[], number[]];
  }
  for (const dtype of FLOAT_DTYPES) {
    it(`dropout gives the CPU's values bit for bit, aligned and misaligned, ${dtype}`, () => {
      for (const shape of [[1], [3], [5, 7], [197, 12, 5], [4099], [64, 1024]]) {
        for (const p of [0.1, 0.5, 0.93]) {
          const [gpu, cpu] = both(dtype, shape, (x) => dropout(x, p, { seed: 2 ** 33 + shape.length, offset: 4 * shape[0] }));
          assert.deepEqual(gpu, cpu, `[${shape}] p ${p}`);
        }
      }
      // A view one element in: no vector path.
      const [gpu, cpu] = both(dtype, [1001], (x) => dropout(x, 0.5, { seed: 9 }), (x) => slice(x, 0, 1, 1001));
      assert.deepEqual(gpu, cpu, 'misaligned view');
    });
    it(`dropPath gives the CPU's values bit for bit for samples of 1, 2, 3, 5 and 197·12 elements, ${dtype}`, () => {
      for (const shape of [[37], [37, 2], [37, 3], [37, 5], [8, 197, 12]]) {
        const [gpu, cpu] = both(dtype, shape, (x) => dropPath(x, 0.45, { seed: 4, offset: 12 }));
        assert.deepEqual(gpu, cpu, `[${shape}]`);
      }
    });
  }
  it('in place on CUDA (out = x) gives what a new output gets', () => {
    const x = randn([3, 333], { device: 'cuda:0', seed: 5 });
    const y = dropout(x, 0.5, { seed: 3 });
    native().dropout(x, x, 0.5, 3, 0, 1);
    assert.deepEqual(values(x), values(y));
    x.dispose();
    y.dispose();
  });
  it('after manualSeed the default generators of the CPU and CUDA give one mask sequence', () => {
    const x = randn([2, 50], { seed: 6 });
    const xc = x.to('cuda:0');
    manualSeed(2024);
    const cpu = [values(dropout(x, 0.3)), values(dropPath(x, 0.3)), values(dropout(x, 0.3))];
    const gpu = [values(dropout(xc, 0.3)), values(dropPath(xc, 0.3)), values(dropout(xc, 0.3))];
    assert.deepEqual(gpu, cpu);
    x.dispose();
    xc.dispose();
  });
});

describe('dropout and dropPath: gradcheck (CPU, fixed seeds)', () => {
  const leaf = (shape: number[], seed: number) => randn(shape, { seed }).requiresGrad_();
  for (const [shape, p] of [[[1], 0.5], [[197, 3], 0.2], [[2, 3, 5], 0.7]] as const) {
    it(`dropout [${shape}] p ${p}`, () => {
      const x = leaf([...shape], 20);
      assert.equal(gradcheck((a) => dropout(a, p, { seed: 5, offset: 4 }), [x]), true);
      x.dispose();
    });
    it(`dropPath [${shape}] p ${p}`, () => {
      const x = leaf([...shape], 21);
      assert.equal(gradcheck((a) => dropPath(a, p, { seed: 6 }), [x]), true);
      x.dispose();
    });
  }
  it('dropout inside a chain: mul then dropout then mean', () => {
    const x = leaf([4, 6], 22);
    assert.equal(gradcheck((a) => mean(dropout(mul(a, a), 0.5, { seed: 8 }), 1), [x]), true);
    x.dispose();
  });
});

describe('dropout and dropPath: bad input', () => {
  const x = randn([2, 3], { seed: 1 });
  after(() => x.dispose());
  it('refuses a p outside [0, 1], NaN, or not a number', () => {
    for (const p of [-0.1, 1.5, NaN, '0.5']) {
      assert.throws(() => dropout(x, p as number), /dropout: expected p to be a probability in \[0, 1\]/);
      assert.throws(() => dropPath(x, p as number), /dropPath: expected p to be a probability in \[0, 1\]/);
    }
  });
  it('refuses a non-float x, a scalar for dropPath, and malformed options', () => {
    const i = tensor(new Int32Array(3), [3], { dtype: 'int32' });
    assert.throws(() => dropout(i, 0.5), /dropout: expected x to be a float32, float16 or bfloat16 tensor/);
    i.dispose();
    const s = tensor([1], []);
    assert.throws(() => dropPath(s, 0.5), /dropPath: x must have a batch dim/);
    s.dispose();
    assert.throws(() => dropout(x, 0.5, { seed: 1, offset: 6 }), /dropout: expected options.offset to be an integer in \[0, 2\^53\) and a multiple of 4/);
    assert.throws(() => dropout(x, 0.5, { offset: 4 }), /dropout: options.offset needs options.seed/);
    assert.throws(() => dropout(x, 0.5, { seed: -1 }), /dropout: expected options.seed to be an integer in \[0, 2\^53\)/);
    assert.throws(() => dropout(x, 0.5, { seed: 1, generator: new RandomGenerator(1) }), /dropout: options.seed and options.generator/);
    assert.throws(() => dropout(x, 0.5, { generator: {} as RandomGenerator }), /dropout: expected options.generator to be a RandomGenerator/);
    assert.throws(() => dropout(x, 0.5, { training: 1 as unknown as boolean }), /dropout: expected options.training to be a boolean/);
  });
  it('RandomGenerator and manualSeed refuse seeds and offsets that are not integers in [0, 2^53)', () => {
    assert.throws(() => manualSeed(1.5), /manualSeed: expected seed to be an integer in \[0, 2\^53\)/);
    assert.throws(() => new RandomGenerator(-3), /RandomGenerator: expected seed/);
    assert.throws(() => new RandomGenerator(1).setState({ seed: 1, offset: 3 }), /RandomGenerator.setState: expected state.offset to be an integer in \[0, 2\^53\) and a multiple of 4/);
  });
  it('dropoutBackward refuses a malformed draw', () => {
    assert.throws(() => dropoutBackward(x, 0.5, null as never), /dropoutBackward: expected draw to be an object \{ seed, offset, group\? \}/);
    assert.throws(() => dropoutBackward(x, 0.5, { seed: 1, offset: 2 }), /dropoutBackward: expected draw.offset to be an integer in \[0, 2\^53\) and a multiple of 4/);
    assert.throws(() => dropoutBackward(x, 0.5, { seed: 2 ** 53, offset: 0 }), /dropoutBackward: expected draw.seed to be an integer in \[0, 2\^53\)/);
    assert.throws(() => dropoutBackward(x, 0.5, { seed: 1, offset: 0, group: 0 }), /dropoutBackward: draw.group must be at least 1/);
  });
  it('the native op refuses an offset off a block and an out that overlaps x partly', () => {
    const out = randn([2, 3], { seed: 2 });
    assert.throws(() => native().dropout(out, x, 0.5, 1, 2, 1), /dropout: offset must be a multiple of 4/);
    assert.throws(() => native().dropout(out, x, 1.5, 1, 0, 1), /dropout: p must be a probability in \[0, 1\]/);
    assert.throws(() => native().dropout(out, x, 0.5, 2 ** 60, 0, 1), /dropout: seed must be an integer in \[0, 2\^53\]/);
    const wide = randn([8], { seed: 3 });
    assert.throws(() => native().dropout(slice(wide, 0, 1, 7), slice(wide, 0, 0, 6), 0.5, 1, 0, 1), /dropout: out must be x itself or not overlap it/);
    out.dispose();
    wide.dispose();
  });
});
