import * as assert from 'node:assert/strict';
import { cuda, empty, full, matmul, ones, randn, tensor } from '../ts/index';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { native } from '../ts/native';
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

  it('host-time counters: 0 unless NODEFORMERS_HOST_TIMES=1; with it, bench/host_breakdown.ts counts each kind of backend call of a forward', function () {
    this.timeout(120000);
    if (process.env.NODEFORMERS_HOST_TIMES !== '1') {
      ones([4], { device: 'cuda' }).dispose();
      const off = native().cudaHostTimes('cuda:0');
      for (const [part, t] of Object.entries(off)) assert.deepEqual(t, { calls: 0, us: 0 }, `${part} counted with the switch off`);
    }
    const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/host_breakdown.ts', '3', '--tiny'], {
      encoding: 'utf8', env: { ...process.env, NODEFORMERS_HOST_TIMES: '1' },
    });
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout.split('\n').filter((l) => l.startsWith('host-times ')).map((l) => JSON.parse(l.slice('host-times '.length)));
    assert.equal(rows.length, 2, run.stdout);
    for (const r of rows) {
      // The tiny ViT, depth 8: each block 4 GEMMs at least, 2 layer norms and an attention.
      assert.ok(r.parts.gemm.calls >= 32 && r.parts.kernel.calls >= 24 && r.parts.allocate.calls >= 8, JSON.stringify(r));
      assert.equal(r.parts.allocate.calls, r.parts.free.calls, `every allocation of a forward freed in it: ${JSON.stringify(r)}`);
      const inside = Object.values(r.parts as Record<string, { us: number }>).reduce((a, t) => a + t.us, 0);
      assert.ok(inside > 0 && inside <= r.hostUs, `the backend's ${inside} us inside the forward's ${r.hostUs} us`);
    }
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

describeDevice('cuda:0', 'cuda block cache', () => {
  // The sanitizer runs turn the cache off (NODEFORMERS_CUDA_CACHE_MB=0): blocks then have
  // the sizes asked for, and a free goes back to the pool.
  const cacheOn = process.env.NODEFORMERS_CUDA_CACHE_MB !== '0';

  it('a disposed block waits in the cache for the next allocation of its rounded size; emptyCache gives it back', () => {
    cuda.emptyCache();
    const before = cuda.memory();
    assert.equal(before.cached, 0, 'emptyCache left nothing cached');
    const t = empty([1000], { dtype: 'uint8', device: 'cuda' });
    const held = cuda.memory();
    assert.equal(held.allocated - before.allocated, cacheOn ? 1024 : 1000, 'the block, rounded up to 512 with the cache on');
    assert.equal(held.poolUsed - before.poolUsed, cacheOn ? 1024 : held.poolUsed - before.poolUsed);
    t.dispose();
    const freed = cuda.memory();
    assert.equal(freed.allocated, before.allocated);
    assert.equal(freed.cached, cacheOn ? 1024 : 0);
    assert.equal(freed.poolUsed, cacheOn ? held.poolUsed : freed.poolUsed, 'a cached block stays the pool\'s used memory');
    const again = empty([600], { dtype: 'uint8', device: 'cuda' }); // rounds to the same 1024
    assert.equal(cuda.memory().cached, 0, 'the next allocation of that rounded size took it');
    if (cacheOn) assert.equal(cuda.memory().poolUsed, held.poolUsed, 'without asking the pool for more');
    else assert.equal(cuda.memory().allocated - before.allocated, 600, 'without the cache, a block of the size asked for');
    again.dispose();
    cuda.emptyCache();
    const empty_ = cuda.memory();
    assert.equal(empty_.cached, 0);
    assert.equal(empty_.allocated, before.allocated);
    assert.equal(empty_.poolUsed, before.poolUsed, 'emptyCache handed the block back to the pool');
  });

  it('a reused block is written only after the work queued before its free has read it', () => {
    const n = 2048;
    const a = randn([n, n], { device: 'cuda', seed: 31 });
    const b = randn([n, n], { device: 'cuda', seed: 32 });
    const reference = matmul(a, b);
    const expected = reference.dataSync();
    reference.dispose();
    cuda.synchronize();
    const cachedBefore = cuda.memory().cached;
    const out = matmul(a, b); // enqueued, still reading a
    a.dispose();
    const c = full([n, n], 7, { device: 'cuda' }); // a's block, if it waits in the cache
    if (cacheOn) assert.ok(cuda.memory().cached <= cachedBefore, 'the fill took a cached block');
    const got = out.dataSync();
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== expected[i]) assert.fail(`element ${i}: ${got[i]} after the reuse, ${expected[i]} before`);
    }
    assert.ok(c.dataSync().every((v) => v === 7));
    for (const t of [b, out, c]) t.dispose();
  });

  it('an allocation the pool refuses gives the cached blocks back and tries again', function () {
    this.timeout(120_000);
    // A process of its own with no bound on the cache: it fills the device with 4 GiB blocks,
    // caches them all, then asks for 8 GiB, which only the cached blocks' memory can give.
    const script = `
      require('tsx/cjs');
      const nf = require(${JSON.stringify(path.join(__dirname, '..', 'ts', 'index.ts'))});
      const block = 4 * 2 ** 30;
      const blocks = [];
      try {
        for (let i = 0; i < 1024; i++) blocks.push(nf.empty([block / 4], { device: 'cuda' }));
      } catch (e) {
        if (e.code !== 'ERR_CUDA_OOM') throw e;
      }
      for (const t of blocks) t.dispose();
      const cached = nf.cuda.memory().cached;
      const big = nf.ones([block / 2], { device: 'cuda' });
      const after = nf.cuda.memory();
      const tail = nf.slice(big, 0, block / 2 - 1);
      const last = tail.dataSync()[0];
      tail.dispose();
      big.dispose();
      console.log(JSON.stringify({ blocks: blocks.length, cached, last, cachedAfter: after.cached, allocated: after.allocated }));
    `;
    const run = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, NODEFORMERS_CUDA_CACHE_MB: String(1 << 20) }, encoding: 'utf8', timeout: 110_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const r = JSON.parse(run.stdout.trim().split('\n').pop()!);
    console.log(`      ${r.blocks} blocks of 4 GiB filled the device; ${(r.cached / 2 ** 30).toFixed(0)} GiB cached, then 8 GiB allocated with ${(r.cachedAfter / 2 ** 30).toFixed(0)} GiB left cached`);
    const total = cuda.device().totalMemory;
    assert.ok(r.blocks * 4 * 2 ** 30 > total * 0.8, `${r.blocks} blocks filled less than 80% of the device`);
    assert.equal(r.cached, r.blocks * 4 * 2 ** 30, 'every disposed block waited in the cache');
    assert.equal(r.last, 1, 'the 8 GiB block was allocated and written');
    assert.equal(r.cachedAfter, 0, 'the refused allocation emptied the cache');
  });
});
