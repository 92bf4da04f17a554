// softmaxBackward against the float64 chain rule (test/reference.ts), which is itself held to
// finite differences of the forward reference; masks broadcast as the forward's.
import * as assert from 'node:assert/strict';
import { Device, FLOAT_DTYPES, FloatDType, randn, softmax, Tensor, tensor } from '../../ts/index';
import { softmaxBackward } from '../../ts/ops/softmax_backward';
import { native } from '../../ts/native';
import { DEVICES, TOLERANCE, assertClose, describeDevice, freshSeed, host, poison, poisoned } from '../helpers';
import { broadcastOffset, finiteDifferenceVjp, softmaxBackwardRef, softmaxRef, unravel } from '../reference';

const ROWS = [1, 3, 197];
const COLS = [1, 12, 96, 97, 768];

/** A keep-mask of `shape`, about 3 in 4 kept; rows for which emptyRow(row) holds are all 0. */
function randomMask(shape: readonly number[], seed: number, emptyRow: (row: number) => boolean = () => false): Uint8Array {
  const cols = shape[shape.length - 1];
  const m = new Uint8Array(shape.reduce((a, b) => a * b, 1));
  let r = seed >>> 0;
  for (let i = 0; i < m.length; i++) {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    m[i] = emptyRow(Math.floor(i / cols)) ? 0 : (r >>> 16) % 4 !== 0 ? 1 : 0;
  }
  return m;
}

interface Run { scale?: number; maskShape?: number[]; emptyRow?: (row: number) => boolean; strided?: boolean }

/** softmaxBackward on y = softmax(x) of `shape` against float64; returns dx's values. */
function check(device: Device, dtype: FloatDType, shape: readonly number[], r: Run = {}): Float32Array {
  const seed = freshSeed();
  const cols = shape[shape.length - 1];
  const x = randn(shape, { dtype, device, seed });
  let mask: Tensor | null = null;
  let keep: ((i: number) => boolean) | null = null;
  if (r.maskShape) {
    const m = randomMask(r.maskShape, seed + 1, r.emptyRow);
    mask = tensor(m, r.maskShape, { device });
    const ms = r.maskShape;
    keep = (i) => m[broadcastOffset(unravel(i, shape), ms)] !== 0;
  }
  const scale = r.scale ?? 1;
  const y0 = softmax(x, { scale, mask });
  // A strided y: the same values through a transposed copy.
  const yt = r.strided ? y0.transpose().contiguous() : null;
  const y = yt ? yt.transpose() : y0;
  const dy = randn(shape, { dtype, device, seed: seed + 2 });
  const dx = softmaxBackward(dy, y, { scale, mask });
  const got = host(dx);
  assertClose(got, softmaxBackwardRef(host(dy), host(y), cols, scale, keep), TOLERANCE[dtype], `softmaxBackward [${shape}] mask [${r.maskShape ?? ''}] ${dtype} seed ${seed}`);
  for (const t of [x, mask, y0, yt, dy, dx]) t?.dispose();
  return got;
}

describe('softmax backward reference', () => {
  it('softmaxBackwardRef matches finite differences of softmaxRef, scaled and masked', () => {
    const cols = 9;
    const x = Float64Array.from({ length: 3 * cols }, (_, i) => Math.sin(i * 1.3) * 2);
    const dy = Float64Array.from({ length: 3 * cols }, (_, i) => Math.cos(i * 0.7));
    const keep = (i: number) => i % 4 !== 1;
    for (const k of [null, keep]) {
      const y = softmaxRef(x, cols, 0.7, k);
      assertClose(softmaxBackwardRef(dy, y, cols, 0.7, k), finiteDifferenceVjp((v) => softmaxRef(v, cols, 0.7, k), x, dy), 1e-7, `mask ${k !== null}`);
    }
  });
});

for (const device of DEVICES) {
  describeDevice(device, 'softmax backward', () => {
    for (const dtype of FLOAT_DTYPES) {
      for (const rows of ROWS) {
        it(`softmaxBackward matches float64 at rows ${rows}, cols ${COLS.join('/')}, ${dtype}`, () => {
          for (const cols of COLS) {
            check(device, dtype, [rows, cols]);
            check(device, dtype, [rows, cols], { scale: 0.37, maskShape: [rows, cols] });
          }
        });
      }
      it(`softmaxBackward with broadcast masks ([1, N], [B, 1, 1, N]) and a strided y matches float64, ${dtype}`, () => {
        check(device, dtype, [2, 3, 97, 97], { maskShape: [1, 97], scale: 0.3 });
        check(device, dtype, [2, 3, 97, 97], { maskShape: [2, 1, 1, 97] });
        check(device, dtype, [197, 96], { strided: true });
      });
      it(`fully masked rows give exact zeros, never NaN, even where y holds NaN, ${dtype}`, () => {
        const N = 12;
        const got = check(device, dtype, [2, N, N], { maskShape: [N, N], emptyRow: (r) => r % 3 === 0 });
        for (let r = 0; r < 2 * N; r++) {
          if ((r % N) % 3 === 0) for (let c = 0; c < N; c++) assert.equal(got[r * N + c], 0, `row ${r} col ${c}`);
        }
        const mask = tensor(new Uint8Array(3 * 5), [3, 5], { device });
        const y = poisoned([3, 5], dtype, device);
        const dy = randn([3, 5], { dtype, device });
        const dx = poisoned([3, 5], dtype, device);
        native().softmaxBackward(dx, dy, y, mask, 1);
        assert.deepEqual([...host(dx)], new Array(15).fill(0));
        for (const t of [mask, y, dy, dx]) t.dispose();
      });
      it(`the addon writes dx in place over dy, and writes every element of a poisoned dx, ${dtype}`, () => {
        const seed = freshSeed();
        const y = softmax(randn([3, 97], { dtype, device, seed }));
        const dy = randn([3, 97], { dtype, device, seed: seed + 1 });
        const ref = softmaxBackwardRef(host(dy), host(y), 97, 2, null);
        native().softmaxBackward(dy, dy, y, null, 2);
        assertClose(host(dy), ref, TOLERANCE[dtype], `in place, seed ${seed}`);
        poison(dy);
        const dy2 = randn([3, 97], { dtype, device, seed: seed + 1 });
        native().softmaxBackward(dy, dy2, y, null, 2);
        assertClose(host(dy), ref, TOLERANCE[dtype], `poisoned, seed ${seed}`);
        for (const t of [y, dy, dy2]) t.dispose();
      });
    }
  });
}

describe('softmax backward argument errors', () => {
  const y = randn([4, 6]);
  it('rejects a dy of another shape, a rank-0 y, a non-uint8 mask, a mask that does not broadcast, a bad scale', () => {
    assert.throws(() => softmaxBackward(randn([4, 5]), y), { name: 'RangeError', message: /^softmaxBackward: dy must have y's shape \[4, 6\]/ });
    assert.throws(() => softmaxBackward(randn([]), randn([])), { name: 'RangeError', message: /^softmaxBackward: y must be \[\.\.\., C\]/ });
    assert.throws(() => softmaxBackward(y, y, { mask: randn([6]) }), { name: 'TypeError', message: /^softmaxBackward: expected options.mask to be a uint8 tensor/ });
    assert.throws(() => softmaxBackward(y, y, { mask: tensor(new Uint8Array(5), [5]) }), { name: 'RangeError', message: /^softmaxBackward: options.mask \[5\] does not broadcast to \[4, 6\]/ });
    assert.throws(() => softmaxBackward(y, y, { scale: NaN }), /^(TypeError|RangeError): softmaxBackward: .*options\.scale/);
  });
});
