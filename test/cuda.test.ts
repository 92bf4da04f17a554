import * as assert from 'node:assert/strict';
import { cuda, empty, ones, randn, tensor } from '../ts/index';
import { describeDevice } from './helpers';

describeDevice('cuda:0', 'cuda device', () => {
  it('reports the device: name, compute capability, memory, SMs, versions', () => {
    const d = cuda.device();
    assert.ok(d.name.length > 0);
    assert.match(d.computeCapability, /^\d+\.\d+$/);
    assert.ok(d.totalMemory > 1e9 && d.smCount > 0 && d.cublasLtVersion > 0);
    console.log(`      ${d.name}, sm ${d.computeCapability}, ${d.smCount} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, CUDA runtime ${d.runtimeVersion}, cuBLASLt ${d.cublasLtVersion}`);
  });

  it('memory counters rise with an allocation and fall when it is disposed; peak holds until reset', () => {
    cuda.synchronize();
    const before = cuda.memory();
    cuda.resetPeak();
    const bytes = 64 << 20;
    const t = empty([bytes / 4], { device: 'cuda' });
    const during = cuda.memory();
    assert.ok(during.allocated >= before.allocated + bytes, `allocated ${during.allocated} vs ${before.allocated}`);
    assert.ok(during.reserved >= during.allocated);
    t.dispose();
    cuda.synchronize();
    const after = cuda.memory();
    assert.equal(after.allocated, before.allocated);
    assert.ok(after.peak >= before.allocated + bytes, 'peak remembers the allocation');
    assert.ok(after.reserved >= bytes, 'the pool keeps the memory for reuse (high release threshold)');
    cuda.resetPeak();
    assert.equal(cuda.memory().peak, after.allocated);
  });

  it('asking for more memory than the GPU has throws ERR_CUDA_OOM and leaves the library usable', () => {
    const before = cuda.memory().allocated;
    assert.throws(() => empty([2 ** 40], { dtype: 'uint8', device: 'cuda' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_CUDA_OOM');
      assert.match(e.message, /out of memory on cuda:0: asked for 1099511627776 bytes/);
      return true;
    });
    assert.equal(cuda.memory().allocated, before);
    assert.deepEqual(Array.from(ones([3], { device: 'cuda' }).dataSync()), [1, 1, 1]);
  });

  it('times enqueued work with CUDA events', () => {
    const x = randn([1 << 22], { device: 'cuda', seed: 1 });
    const ms = cuda.time(() => { for (let i = 0; i < 10; i++) x.cast('float16').dispose(); });
    assert.ok(ms > 0 && ms < 1000, `${ms} ms`);
  });

  it('await data() reads back without blocking the event loop', async () => {
    const t = tensor([1, 2, 3], [3], { device: 'cuda' });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const pending = t.data();
    assert.equal(ticks, 0);
    const values = await pending;
    clearInterval(timer);
    assert.deepEqual(Array.from(values), [1, 2, 3]);
  });

  it('a read taken before an in-place change sees the old values', async () => {
    const { native } = await import('../ts/native');
    const t = ones([1 << 20], { device: 'cuda' });
    const pending = t.data();
    native().fill(t, 5);
    const old = await pending;
    assert.equal(old[0], 1);
    assert.equal(old[old.length - 1], 1);
    assert.equal(t.dataSync()[0], 5);
  });

  it("an unknown device index is a clear Error", () => {
    assert.throws(() => ones([1], { device: 'cuda:7' }), /cuda:7 does not exist/);
  });
});

describe('cuda API without a GPU', () => {
  it('cuda.isAvailable() agrees with backends()', () => {
    assert.equal(typeof cuda.isAvailable(), 'boolean');
  });
});
