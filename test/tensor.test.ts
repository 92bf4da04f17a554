import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DTYPES, empty, full, ones, rand, randn, tensor, tidy, keep, zeros, Tensor, DType } from '../ts/index';
import { DEVICES, describeDevice, freshSeed, poison } from './helpers';
import { roundTo } from './reference';

function sample(dtype: DType, n: number, seed: number): number[] {
  // Values every dtype holds exactly after its own rounding.
  const out: number[] = [];
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = s / 2 ** 32;
    if (dtype === 'uint8') out.push(Math.floor(u * 256));
    else if (dtype === 'int32') out.push(Math.floor((u - 0.5) * 2 ** 31));
    else out.push(roundTo(dtype, (u - 0.5) * 200));
  }
  return out;
}

for (const device of DEVICES) {
  describeDevice(device, 'tensor', () => {
    it('counts its storage in the backend\'s native buffer bytes and their peak, and gives them back on dispose', async () => {
      const { native } = await import('../ts/native');
      const nat = native();
      const before = nat.bufferBytes(device, true);
      const a = empty([3, 1000], { dtype: 'float32', device });
      const b = empty([5, 100], { dtype: 'float16', device });
      assert.equal(nat.bufferBytes(device).bytes, before.bytes + 12000 + 1000);
      a.dispose();
      const mid = nat.bufferBytes(device, true);
      assert.equal(mid.bytes, before.bytes + 1000);
      assert.equal(mid.peak, before.bytes + 13000, 'the peak since the reset, taken before this reset');
      b.dispose();
      const after = nat.bufferBytes(device);
      assert.equal(after.bytes, before.bytes);
      assert.equal(after.peak, before.bytes + 1000, 'the peak since the last reset');
      assert.throws(() => nat.bufferBytes('gpu:7'), /bufferBytes/);
    });
    for (const dtype of DTYPES) {
      for (const shape of [[0], [1], [7], [3, 5], [2, 3, 197], [1, 1, 1, 4099]]) {
        it(`round-trips ${dtype} [${shape}] through data() and dataSync()`, async () => {
          const n = shape.reduce((a, b) => a * b, 1);
          const values = sample(dtype, n, freshSeed());
          const t = tensor(values, shape, { dtype, device });
          assert.deepEqual(t.shape, shape);
          assert.equal(t.dtype, dtype);
          assert.equal(t.device, device);
          assert.equal(t.size, n);
          const back = await t.data();
          assert.equal(back.constructor, dtype === 'int32' ? Int32Array : dtype === 'uint8' ? Uint8Array : Float32Array);
          assert.deepEqual(Array.from(back), values);
          assert.deepEqual(Array.from(t.dataSync()), values);
          t.dispose();
        });
      }
    }

    it('zeros, ones and full fill every element, overwriting poison', () => {
      for (const dtype of DTYPES) {
        const z = zeros([3, 4], { dtype, device });
        assert.ok(Array.from(z.dataSync()).every((v) => v === 0), `zeros ${dtype}`);
        const o = ones([5], { dtype, device });
        assert.ok(Array.from(o.dataSync()).every((v) => v === 1), `ones ${dtype}`);
        const f = full([2, 2], 7, { dtype, device });
        assert.ok(Array.from(f.dataSync()).every((v) => v === 7), `full ${dtype}`);
        const e = empty([9], { dtype, device });
        poison(e);
        const f2 = full([9], 3, { dtype, device });
        assert.ok(Array.from(f2.dataSync()).every((v) => v === 3));
        for (const t of [z, o, f, e, f2]) t.dispose();
      }
    });

    it('randn and rand are deterministic by seed and the same on every device', () => {
      const a = randn([1000], { seed: 42, device }).dataSync();
      const b = randn([1000], { seed: 42, device: 'cpu' }).dataSync();
      assert.deepEqual(Array.from(a), Array.from(b));
      const mean = a.reduce((s, v) => s + v, 0) / a.length;
      const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
      assert.ok(Math.abs(mean) < 0.15 && Math.abs(variance - 1) < 0.15, `mean ${mean} variance ${variance}`);
      const u = rand([1000], { seed: 7, device }).dataSync();
      assert.ok(u.every((v) => v >= 0 && v < 1));
      assert.notDeepEqual(Array.from(randn([8], { seed: 1, device }).dataSync()), Array.from(randn([8], { seed: 2, device }).dataSync()));
    });

    it('reshape is a view when contiguous and keeps values; -1 is inferred', () => {
      const values = Array.from({ length: 24 }, (_, i) => i);
      const t = tensor(values, [2, 3, 4], { device });
      const r = t.reshape([4, -1]);
      assert.deepEqual(r.shape, [4, 6]);
      assert.deepEqual(Array.from(r.dataSync()), values);
      t.dispose();
      assert.deepEqual(Array.from(r.dataSync()), values, 'a view keeps its storage alive after the base is disposed');
      r.dispose();
    });

    it('permute and transpose are views; contiguous() and data() materialize them', () => {
      const t = tensor(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4], { device });
      const p = t.permute([2, 0, 1]);
      assert.deepEqual(p.shape, [4, 2, 3]);
      assert.equal(p.isContiguous, false);
      const expected: number[] = [];
      for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expected.push(i * 12 + j * 4 + k);
      assert.deepEqual(Array.from(p.dataSync()), expected);
      const c = p.contiguous();
      assert.equal(c.isContiguous, true);
      assert.deepEqual(Array.from(c.dataSync()), expected);
      const tr = t.transpose(0, 2).reshape([24]);
      assert.equal(tr.isContiguous, true);
      assert.equal(tr.dataSync()[1], 12);
    });

    it('to() copies across devices and back exactly, in every dtype', () => {
      for (const dtype of DTYPES) {
        const values = sample(dtype, 33, freshSeed());
        const t = tensor(values, [3, 11], { dtype, device });
        const there = t.to(device === 'cpu' ? 'cpu' : 'cpu');
        const back = there.to(device);
        assert.equal(back.device, device);
        assert.deepEqual(Array.from(back.dataSync()), values);
        const strided = t.transpose().to('cpu');
        assert.deepEqual(strided.shape, [11, 3]);
        assert.equal(strided.dataSync()[1], values[11]);
      }
    });

    it('dispose() frees once, Symbol.dispose works, and a disposed tensor throws a TypeError naming the call', () => {
      const t = ones([4], { device });
      t.dispose();
      t.dispose();
      assert.equal(t.disposed, true);
      assert.throws(() => t.dataSync(), { name: 'TypeError', message: /dataSync: tensor has been disposed/ });
      assert.throws(() => t.reshape([2, 2]), /reshape: tensor has been disposed/);
      {
        using u = ones([2], { device });
        assert.equal(u.disposed, false);
      }
    });

    it('a retired storage is reused with fresh memory, and the tensor that gave it up stays disposed', async () => {
      const { native } = await import('../ts/native');
      // Drain the retired storages (at most 256), so that the next one retired is the next reused.
      const drain = Array.from({ length: 300 }, () => empty([1], { device }));
      const a = full([300], 7, { device });
      const view = a.reshape([3, 100]);
      const storage = a._storage;
      a.dispose();
      assert.equal(view._storage, storage, 'the view still holds the storage');
      view.dispose();
      assert.equal(storage?.disposed, true);
      const b = full([500], 3, { dtype: 'float16', device });
      assert.equal(b._storage, storage, 'the retired storage object is given the new memory');
      assert.equal(storage?.disposed, false);
      assert.equal(storage?.bytes, 1000);
      assert.deepEqual(Array.from(b.dataSync()), new Array(500).fill(3));
      for (const gone of [a, view]) {
        assert.equal(gone.disposed, true);
        assert.equal(gone._storage, null);
        assert.throws(() => gone.dataSync(), { name: 'TypeError', message: /dataSync: tensor has been disposed/ });
      }
      // The addon gives memory only to a disposed storage of its own.
      assert.throws(() => native().allocate(device, 64, b._storage!), { code: 'ERR_INVALID_ARG', message: /allocate: spare is a Storage still in use/ });
      assert.throws(() => native().allocate(device, 64, {} as never), { code: 'ERR_INVALID_ARG', message: /allocate: spare must be a Storage/ });
      assert.deepEqual(Array.from(b.dataSync()), new Array(500).fill(3));
      b.dispose();
      for (const t of drain) t.dispose();
    });

    it('tidy() disposes what fn made but did not return, and nests', () => {
      let inner: Tensor | undefined;
      let dropped: Tensor | undefined;
      const result = tidy(() => {
        dropped = ones([2], { device });
        const kept = tidy(() => {
          inner = zeros([2], { device });
          return [ones([3], { device })];
        });
        assert.equal(inner?.disposed, true);
        return { kept: kept[0] };
      });
      assert.equal(dropped?.disposed, true);
      assert.equal(result.kept.disposed, false);
      let escaped: Tensor | undefined;
      tidy(() => { escaped = keep(ones([1], { device })); });
      assert.equal(escaped?.disposed, false);
      assert.throws(() => tidy(() => { zeros([1], { device }); throw new Error('boom'); }), /boom/);
      assert.throws(() => tidy((async () => 1) as unknown as () => number), /tidy: fn must be synchronous/);
    });
  });
}

describe('tensor argument errors', () => {
  it('rejects bad shapes, data lengths, dtypes and devices before native code runs', () => {
    assert.throws(() => tensor([1, 2, 3], [2, 2]), { name: 'RangeError', message: /tensor: data has 3 elements but shape \[2, 2\] needs 4/ });
    assert.throws(() => zeros([-1]), { name: 'RangeError', message: /zeros: shape must hold non-negative integers/ });
    assert.throws(() => zeros([1.5]), { name: 'RangeError' });
    assert.throws(() => zeros([NaN]), { name: 'RangeError' });
    assert.throws(() => zeros('3' as unknown as number[]), { name: 'TypeError', message: /zeros: expected shape/ });
    assert.throws(() => zeros([2], { dtype: 'float64' as DType }), { name: 'TypeError', message: /expected options.dtype to be one of/ });
    assert.throws(() => zeros([2], { device: 'tpu' as 'cpu' }), { name: 'TypeError', message: /expected options.device to be 'cpu', 'cuda' or 'cuda:N'/ });
    assert.throws(() => tensor(['a'] as unknown as number[]), { name: 'TypeError', message: /data\[0\]/ });
    assert.throws(() => tensor([1.5], [1], { dtype: 'int32' }), { name: 'RangeError', message: /not representable as int32/ });
    assert.throws(() => tensor({} as unknown as number[]), { name: 'TypeError' });
    assert.throws(() => ones([2, 3]).reshape([4]), { name: 'RangeError', message: /cannot reshape \[2, 3\]/ });
    assert.throws(() => ones([2, 3]).permute([0, 0]), { name: 'TypeError', message: /permute/ });
    assert.throws(() => randn([2], { seed: -1 }), { name: 'RangeError', message: /randn: options.seed/ });
  });

  it('the addon itself rejects a forged tensor that reaches past its storage', async () => {
    const { native } = await import('../ts/native');
    const t = ones([4]);
    const forged = { _storage: t._storage, offset: 2, shape: [4], strides: [1], dtype: 'float32' };
    assert.throws(() => native().fill(forged as never, 0), { code: 'ERR_INVALID_ARG', message: /outside its storage/ });
    assert.throws(() => native().fill({ shape: [1] } as never, 0), { code: 'ERR_INVALID_ARG' });
    // Wrong types where the addon reads the shape, strides and offset, and an element whose
    // getter throws (its error goes on as it is).
    const base = { _storage: t._storage, offset: 0, shape: [4], strides: [1], dtype: 'float32' };
    assert.throws(() => native().fill({ ...base, shape: { length: 1, 0: 4 } } as never, 0), { code: 'ERR_INVALID_ARG', message: /fill: dst must be a Tensor/ });
    assert.throws(() => native().fill({ ...base, offset: '0' } as never, 0), { code: 'ERR_INVALID_ARG', message: /fill: dst must be a Tensor/ });
    assert.throws(() => native().fill({ ...base, strides: ['1'] } as never, 0), { code: 'ERR_INVALID_ARG', message: /fill: dst has a bad shape/ });
    const throwing = [4];
    Object.defineProperty(throwing, 0, { get() { throw new Error('forged getter'); } });
    assert.throws(() => native().fill({ ...base, shape: throwing } as never, 0), { message: 'forged getter' });
    native().fill(base as never, 2);
    assert.deepEqual(Array.from(t.dataSync()), [2, 2, 2, 2]);
  });

  it('the addon refuses a storage given as a tensor without its layout, and a layout a nested call overwrote', async () => {
    const { native } = await import('../ts/native');
    // native() packs each tensor's layout into a shared buffer and passes its storage; the
    // addon underneath (its prototype) refuses a storage whose slot holds no fresh layout.
    const raw = Object.getPrototypeOf(native()) as { fill(dst: unknown, value: number): void };
    const t = ones([4]);
    native().fill(t, 3); // leaves slot 0 read
    assert.throws(() => raw.fill(t._storage, 0), { code: 'ERR_INVALID_ARG', message: /fill: dst must be a Tensor/ });
    // Forged layouts that reach the slots are checked as before: NaN, fractional, negative, too far.
    const base = { _storage: t._storage, offset: 0, shape: [4], strides: [1], dtype: 'float32' };
    for (const [forged, why] of [
      [{ ...base, offset: NaN }, /bad offset/], [{ ...base, offset: 0.5 }, /bad offset/], [{ ...base, shape: [-1] }, /bad shape or strides/],
      [{ ...base, shape: [2], strides: [4] }, /outside its storage/], [{ ...base, shape: [4, 1], strides: [1] }, /must be a Tensor|bad rank/],
      [{ ...base, dtype: 'toString' }, /unknown dtype/], [{ ...base, shape: new Array(9).fill(1), strides: new Array(9).fill(1) }, /bad rank/],
    ] as const) {
      assert.throws(() => native().fill(forged as never, 0), { code: 'ERR_INVALID_ARG', message: why }, JSON.stringify(forged));
    }
    // A getter that calls another op while the outer call's layouts are being written: that
    // call takes slot 0, so the outer one is refused rather than run on a stale layout.
    const other = ones([4]);
    const out = ones([4]);
    const sneaky = { ...base, get shape() { native().fill(other, 5); return [4]; } };
    assert.throws(() => native().binary(out, t, sneaky as never, 0, 1), { code: 'ERR_INVALID_ARG', message: /binary: out must be a Tensor/ });
    assert.deepEqual(Array.from(other.dataSync()), [5, 5, 5, 5]);
    assert.deepEqual(Array.from(out.dataSync()), [1, 1, 1, 1]);
    native().binary(out, t, t, 0, 1);
    assert.deepEqual(Array.from(out.dataSync()), [6, 6, 6, 6]);
  });

  it('a second instance of the addon on this thread keeps its own layout buffer', async () => {
    const { native } = await import('../ts/native');
    const raw = Object.getPrototypeOf(native()) as { buildInfo: unknown };
    // The addon file this process loaded, opened once more: a second instance with its own state.
    const file = process.env.NODEFORMERS_ADDON ? path.resolve(process.env.NODEFORMERS_ADDON) : require.resolve('../build/Release/nodeformers.node');
    const second = { exports: {} as { setArgLayouts(b: Float64Array): void; fill(dst: unknown, v: number): void } };
    process.dlopen(second as never, file);
    assert.notEqual(second.exports, raw);
    const theirs = new Float64Array(16 * 20);
    second.exports.setArgLayouts(theirs);
    const t = ones([3]);
    native().fill(t, 4); // this instance reads its own slots, not the second one's
    assert.deepEqual(Array.from(t.dataSync()), [4, 4, 4]);
    assert.throws(() => second.exports.fill(t._storage, 1), { message: /fill: dst must be a Tensor/ }); // nothing written in its slot 0
    t.dispose();
  });

  it('frees a dropped tensor through the FinalizationRegistry', async function () {
    if (typeof global.gc !== 'function') this.skip();
    const { native } = await import('../ts/native');
    let storage: { disposed: boolean } | null = null;
    (() => {
      const t = ones([1024]);
      storage = t._storage;
    })();
    for (let i = 0; i < 20 && !storage!.disposed; i++) {
      global.gc!();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(storage!.disposed, true);
    void native;
  });
});
