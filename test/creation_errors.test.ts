// Creating tensors (issue 24): one rule for the values an int32 or uint8 tensor takes, from
// plain arrays and typed arrays alike, and errors that name the public function and the
// problem for shapes too large to index, never an internal op.
import * as assert from 'node:assert/strict';
import { backends, empty, full, ones, rand, randn, tensor, zeros } from '../ts/index';

const HUGE = [0, 2 ** 52, 2 ** 52];

describe('tensor creation errors (issue 24)', () => {
  it('a typed array is range-checked like a plain array: no wrapping, truncation or NaN into int32 and uint8', () => {
    const refused: [ArrayLike<number>, 'int32' | 'uint8', RegExp][] = [
      [new Int32Array([300, -1]), 'uint8', /data\[0\] = 300 is not representable as uint8 \(an integer in \[0, 255\]\)/],
      [[300, -1], 'uint8', /data\[0\] = 300 is not representable as uint8/],
      [new Int32Array([5, -1]), 'uint8', /data\[1\] = -1 is not representable as uint8/],
      [new Int16Array([-5]), 'uint8', /data\[0\] = -5/],
      [new Float32Array([1.5]), 'int32', /data\[0\] = 1.5 is not representable as int32/],
      [new Float64Array([2 ** 31]), 'int32', /data\[0\] = 2147483648 is not representable as int32/],
      [new Uint32Array([2 ** 32 - 1]), 'int32', /data\[0\] = 4294967295/],
      [new Float32Array([NaN]), 'int32', /data\[0\] = NaN is not representable as int32/],
      [[NaN], 'uint8', /data\[0\] = NaN/],
      [new Float64Array([Infinity]), 'uint8', /data\[0\] = Infinity/],
    ];
    for (const [data, dtype, message] of refused) {
      assert.throws(() => tensor(data as Int32Array, [data.length], { dtype }), { name: 'RangeError', message }, `${data.constructor.name} to ${dtype}`);
    }
    assert.deepEqual(Array.from(tensor(new Int8Array([-128, 127]), [2], { dtype: 'int32' }).dataSync()), [-128, 127]);
    assert.deepEqual(Array.from(tensor(new Uint8Array([0, 255]), [2], { dtype: 'int32' }).dataSync()), [0, 255]);
    assert.deepEqual(Array.from(tensor(new Float64Array([-3, 255]), [2], { dtype: 'int32' }).dataSync()), [-3, 255]);
    assert.deepEqual(Array.from(tensor(new Int32Array([0, 255]), [2], { dtype: 'uint8' }).dataSync()), [0, 255]);
    assert.deepEqual(Array.from(tensor(new Int32Array([2 ** 31 - 1, -(2 ** 31)])).dataSync()), [2 ** 31 - 1, -(2 ** 31)]);
    assert.ok(Number.isNaN(tensor(new Float64Array([NaN]))!.dataSync()[0]), 'a float dtype takes NaN');
    assert.throws(() => tensor(new BigInt64Array(2) as unknown as Int32Array), { name: 'TypeError', message: /^tensor: expected data to be a TypedArray of numbers or an array of numbers, got BigInt64Array/ });
    assert.throws(() => tensor(new DataView(new ArrayBuffer(4)) as unknown as Int32Array), { name: 'TypeError', message: /^tensor: expected data/ });
  });

  it('a plain array is read once: what is checked is what is stored', () => {
    let reads = 0;
    const data = [1, 2];
    Object.defineProperty(data, 0, { get() { return reads++ === 0 ? 7 : 'x'; } });
    assert.deepEqual(Array.from(tensor(data).dataSync()), [7, 2]);
    assert.equal(reads, 1);
  });

  it('full refuses a value its integer dtype cannot hold', () => {
    assert.throws(() => full([2], 1.5, { dtype: 'int32' }), { name: 'RangeError', message: /^full: value = 1.5 is not representable as int32/ });
    assert.throws(() => full([2], 256, { dtype: 'uint8' }), { name: 'RangeError', message: /^full: value = 256 is not representable as uint8/ });
    assert.deepEqual(Array.from(full([2], -7, { dtype: 'int32' }).dataSync()), [-7, -7]);
  });

  it('a shape whose non-zero dims multiply past 2^53 - 1 is a RangeError naming the public function, even with a 0 dim', () => {
    const calls: [string, () => unknown][] = [
      ['zeros', () => zeros(HUGE)], ['ones', () => ones(HUGE)], ['empty', () => empty(HUGE)], ['full', () => full(HUGE, 2)],
      ['tensor', () => tensor([], HUGE)], ['randn', () => randn(HUGE)], ['rand', () => rand(HUGE)],
      ['reshape', () => zeros([0]).reshape(HUGE)], ['zeros', () => zeros([2 ** 30, 2 ** 30])],
    ];
    for (const [fn, call] of calls) {
      assert.throws(call, {
        name: 'RangeError',
        message: new RegExp(`^${fn}: shape \\[.*\\] is too large: the product of its non-zero dimensions is over 2\\^53 - 1`),
      }, fn);
    }
    // Within the index range but past the bytes a storage can count: the function, not 'allocate', is named.
    assert.throws(() => zeros([2 ** 51]), { name: 'RangeError', message: /^zeros: a float32 tensor of shape \[2251799813685248\] would take 9007199254740992 bytes, over 2\^53 - 1/ });
    // Too many values to draw on the host: a RangeError naming randn, not a bare 'Invalid typed array length'.
    assert.throws(() => randn([2 ** 40]), { name: 'RangeError', message: /^randn: cannot draw 1099511627776 values/ });
    assert.deepEqual(zeros([0, 2 ** 20, 2 ** 20]).shape, [0, 2 ** 20, 2 ** 20], 'an empty tensor of large dims is fine');
  });

  it('errors of cast, contiguous, clone and the random functions name themselves, not the function they call', function () {
    const t = ones([2, 3]);
    const view = t.transpose();
    t.dispose();
    view.dispose();
    assert.throws(() => view.cast('float16'), { name: 'TypeError', message: /^cast: tensor has been disposed/ });
    assert.throws(() => view.contiguous(), { name: 'TypeError', message: /^contiguous: tensor has been disposed/ });
    assert.throws(() => view.clone(), { name: 'TypeError', message: /^clone: tensor has been disposed/ });
    assert.throws(() => ones([2]).cast('toString' as 'float32'), { name: 'TypeError', message: /^cast: expected dtype to be one of/ });
    if (backends().includes('cuda')) return;
    // Without CUDA: each names itself (randn made its tensor through tensor(), and named that).
    for (const [fn, call] of [
      ['randn', () => randn([2], { device: 'cuda' })], ['rand', () => rand([2], { device: 'cuda', dtype: 'float16' })],
      ['tensor', () => tensor([1, 2], [2], { device: 'cuda', dtype: 'bfloat16' })], ['to', () => ones([2]).to('cuda')],
    ] as const) {
      assert.throws(call, { message: new RegExp(`^${fn}: cannot allocate on cuda:0: this build of nodeformers has no CUDA backend`) }, fn);
    }
  });
});

describe('view method errors name the method (issue 24)', () => {
  it('transpose and permute of a disposed tensor, or with bad dims, name themselves', () => {
    const t = ones([2, 3]);
    assert.throws(() => t.transpose(0, 2), { name: 'RangeError', message: /^transpose: dimension 2 is out of range for a tensor of rank 2/ });
    assert.throws(() => t.permute([1, 1]), { name: 'TypeError', message: /^permute: expected dims to be a permutation of 0..1/ });
    t.dispose();
    assert.throws(() => t.transpose(), { name: 'TypeError', message: /^transpose: tensor has been disposed/ });
    assert.throws(() => t.permute([1, 0]), { name: 'TypeError', message: /^permute: tensor has been disposed/ });
  });
});
