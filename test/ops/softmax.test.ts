import * as assert from 'node:assert/strict';
import { attention, Device, empty, FLOAT_DTYPES, FloatDType, ones, randn, softmax, Tensor, tensor } from '../../ts/index';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, poisoned, host, AWKWARD_SHAPES } from '../helpers';
import { broadcastOffset, softmaxRef, unravel } from '../reference';

const SHAPES = AWKWARD_SHAPES;

/** A random keep-mask of `shape` (about 3 in 4 kept); rows listed in emptyRows (of the mask's last-dim rows) are all 0. */
function randomMask(shape: readonly number[], seed: number, emptyRows: (row: number) => boolean = () => false): Uint8Array {
  const cols = shape[shape.length - 1];
  const m = new Uint8Array(shape.reduce((a, b) => a * b, 1));
  let r = seed >>> 0;
  for (let i = 0; i < m.length; i++) {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    m[i] = emptyRows(Math.floor(i / cols)) ? 0 : (r >>> 16) % 4 !== 0 ? 1 : 0;
  }
  return m;
}

interface Run { scale?: number; maskShape?: number[]; emptyRows?: (row: number) => boolean; strided?: boolean }

/** Runs softmax on x of `shape` and checks it against float64; returns the output values. */
function check(device: Device, dtype: FloatDType, shape: readonly number[], r: Run = {}): Float32Array {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  const stored = r.strided ? [cols, ...shape.slice(0, -1)] : shape;
  const base = randn(stored, { dtype, device, seed });
  const x = r.strided ? base.transpose() : base;
  let mask: Tensor | null = null;
  let keep: ((i: number) => boolean) | null = null;
  if (r.maskShape) {
    const m = randomMask(r.maskShape, seed + 1, r.emptyRows);
    mask = tensor(m, r.maskShape, { device });
    const ms = r.maskShape;
    keep = (i) => m[broadcastOffset(unravel(i, shape), ms)] !== 0;
  }
  const out = poisoned(shape, dtype, device);
  assert.equal(softmax(x, { scale: r.scale, mask, out }), out);
  const got = host(out);
  const ref = softmaxRef(host(x), cols, r.scale ?? 1, keep);
  assertClose(got, ref, TOLERANCE[dtype], `softmax [${shape}] mask [${r.maskShape ?? ''}] ${dtype} seed ${seed}`);
  for (const t of [base, x, mask, out]) t?.dispose();
  return got;
}

for (const device of DEVICES) {
  describeDevice(device, 'softmax', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const shape of SHAPES) {
        it(`softmax matches float64 at [${shape}] ${dtype}`, () => check(device, dtype, shape));
      }
      it(`softmax with scale 0.125 and with scale 40 (large logits) matches float64, ${dtype}`, () => {
        check(device, dtype, [197, 197], { scale: 0.125 });
        check(device, dtype, [3, 4099], { scale: 40 });
      });
      it(`softmax with a full-shape random mask matches float64 at [197, 97], ${dtype}`, () => {
        check(device, dtype, [197, 97], { maskShape: [197, 97] });
      });
      it(`softmax with a key mask [1, N] broadcast over [B, H, N, N] matches float64, ${dtype}`, () => {
        check(device, dtype, [2, 3, 197, 197], { maskShape: [1, 197], scale: 0.3 });
      });
      it(`softmax with a mask [N, N] and a padding mask [B, 1, 1, N] broadcast over [B, H, N, N] matches float64, ${dtype}`, () => {
        check(device, dtype, [2, 3, 97, 97], { maskShape: [97, 97] });
        check(device, dtype, [2, 3, 97, 97], { maskShape: [2, 1, 1, 97] });
      });
      it(`softmax gives exact zeros on rows the mask empties, ${dtype}`, () => {
        const N = 197;
        const emptyRow = (row: number) => row % 5 === 2;
        const got = check(device, dtype, [2, 2, N, N], { maskShape: [N, N], emptyRows: emptyRow });
        for (let row = 0; row < 4 * N; row++) {
          if (!emptyRow(row % N)) continue;
          for (let c = 0; c < N; c++) assert.equal(got[row * N + c], 0, `row ${row} col ${c}`);
        }
        const all = check(device, dtype, [4, 96], { maskShape: [4, 96], emptyRows: () => true });
        assert.ok(all.every((v) => v === 0), 'a fully masked tensor gives zeros');
      });
      it(`softmax of a transposed (strided) x with a mask matches float64, ${dtype}`, () => {
        check(device, dtype, [197, 96], { strided: true, maskShape: [96] });
      });
      it(`softmax allocates a contiguous result without out and works in place with out = x, ${dtype}`, () => {
        const seed = freshSeed();
        const x = randn([3, 197, 12], { dtype, device, seed });
        const ref = softmaxRef(host(x), 12, 0.5, null);
        const y = softmax(x, { scale: 0.5 });
        assert.deepEqual(y.shape, [3, 197, 12]);
        assert.equal(y.dtype, dtype);
        assert.equal(y.isContiguous, true);
        assertClose(host(y), ref, TOLERANCE[dtype], `allocated, seed ${seed}`);
        assert.equal(softmax(x, { scale: 0.5, out: x }), x);
        assertClose(host(x), ref, TOLERANCE[dtype], `in place, seed ${seed}`);
        x.dispose();
        y.dispose();
      });
    }
  });
}

describe('softmax argument errors', () => {
  const x = randn([2, 4, 6]);
  it('rejects a rank-0 or non-float x', () => {
    assert.throws(() => softmax(randn([])), { name: 'RangeError', message: /^softmax: x must be \[\.\.\., C\], got \[\]/ });
    assert.throws(() => softmax(tensor(new Int32Array(4))), { name: 'TypeError', message: /^softmax: expected x to be a float32, float16 or bfloat16 tensor/ });
  });
  it('rejects a mask that is not uint8 or does not broadcast', () => {
    assert.throws(() => softmax(x, { mask: randn([6]) }), { name: 'TypeError', message: /^softmax: expected options.mask to be a uint8 tensor \(1 = keep\), got Tensor\[6\] float32/ });
    assert.throws(() => softmax(x, { mask: tensor(new Uint8Array(5), [5]) }), { name: 'RangeError', message: /^softmax: options.mask \[5\] does not broadcast to \[2, 4, 6\]/ });
    assert.throws(() => softmax(x, { mask: tensor(new Uint8Array(12), [1, 2, 1, 6]) }), { name: 'RangeError', message: /^softmax: options.mask \[1, 2, 1, 6\] does not broadcast/ });
    const m = tensor(new Uint8Array(6), [6]);
    m.dispose();
    assert.throws(() => softmax(x, { mask: m }), { name: 'TypeError', message: /^softmax: options.mask has been disposed/ });
  });
  it('rejects a bad scale, options and out', () => {
    assert.throws(() => softmax(x, { scale: NaN }), { name: 'TypeError', message: /^softmax: expected options.scale to be a number/ });
    assert.throws(() => softmax(x, { scale: -Infinity }), { name: 'RangeError', message: /^softmax: options.scale must be finite/ });
    assert.throws(() => softmax(x, 2 as never), { name: 'TypeError', message: /^softmax: expected options to be an object/ });
    assert.throws(() => softmax(x, { out: empty([2, 4, 7]) }), { name: 'RangeError', message: /^softmax: options.out must have shape \[2, 4, 6\]/ });
    assert.throws(() => softmax(x, { out: empty([6, 4, 2]).permute([2, 1, 0]) }), { name: 'RangeError', message: /^softmax: options.out must be contiguous/ });
    const d = randn([2]);
    d.dispose();
    assert.throws(() => softmax(d), { name: 'TypeError', message: /^softmax: x has been disposed/ });
  });
});

describeDevice('cuda:0', 'softmax device mismatch', () => {
  it('rejects a mask or out on another device', () => {
    const x = randn([4, 6], { device: 'cuda:0' });
    assert.throws(() => softmax(x, { mask: tensor(new Uint8Array(6), [6]) }), { name: 'TypeError', message: /^softmax: expected options.mask to be on cuda:0 like x/ });
    assert.throws(() => softmax(x, { out: empty([4, 6]) }), { name: 'TypeError', message: /^softmax: expected options.out to be on cuda:0/ });
    x.dispose();
  });
});

describe('the softmax scale, one check for softmax and attention (issue 24)', () => {
  it('a scale that is not a finite number is refused by both, with the same message (attention returned NaN)', () => {
    const q = ones([1, 2, 1, 4]);
    for (const scale of [Infinity, -Infinity, NaN, '1' as unknown as number]) {
      const expected = typeof scale === 'number' && !Number.isNaN(scale)
        ? { name: 'RangeError', message: `options.scale must be finite, got ${scale}` }
        : { name: 'TypeError', message: `expected options.scale to be a number, got ${typeof scale === 'string' ? `'${scale}'` : scale}` };
      assert.throws(() => softmax(q, { scale }), { name: expected.name, message: `softmax: ${expected.message}` }, String(scale));
      for (const mechanism of ['memory_efficient', 'vanilla']) {
        assert.throws(() => attention(q, q, q, { scale, mechanism }), { name: expected.name, message: `attention: ${expected.message}` }, `${mechanism} ${scale}`);
      }
    }
    const out = attention(q, q, q, { scale: 1e30 });
    assert.ok(Array.from(out.dataSync()).every(Number.isFinite), 'a large finite scale still gives numbers');
  });
});
