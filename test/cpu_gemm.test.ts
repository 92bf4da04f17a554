// The CPU backend's thread pool and packed SIMD GEMM (native/cpu/thread_pool.cc, gemm.cc):
// every kernel this CPU has, against float64 over awkward shapes, transposes, strides,
// batches and every epilogue; results independent of the thread count; setNumThreads' errors.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { cpu, linear, matmul, randn, slice, Tensor, tensor } from '../ts/index';
import { ACTIVATION_VARIANTS, TOLERANCE, assertClose, host, poisoned } from './helpers';
import { linearRef, matmulRef } from './reference';

const KERNELS = ['reference', 'scalar', 'best'];
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 7, 7], [1, 1023, 7], [197, 7, 1023], [7, 197, 197], [1023, 1, 7], [197, 97, 300], [0, 7, 7], [7, 7, 0],
];

function withSettings(kernel: string, threads: number, fn: () => void): void {
  const [k0, t0] = [cpu.gemmKernel(), cpu.numThreads()];
  cpu.gemmKernel(kernel);
  cpu.setNumThreads(threads);
  try {
    fn();
  } finally {
    cpu.gemmKernel(k0);
    cpu.setNumThreads(t0);
  }
}

function checkMatmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean, label: string): Float32Array {
  const ref = matmulRef(host(a), a.shape, host(b), b.shape, transA, transB);
  const out = matmul(a, b, { transposeA: transA, transposeB: transB });
  const got = host(out);
  assert.deepEqual(out.shape, ref.shape);
  assertClose(got, ref.out, TOLERANCE.float32, label);
  out.dispose();
  return got;
}

describe('cpu GEMM: every kernel against float64', () => {
  for (const kernel of KERNELS) {
    for (const threads of [1, 2, 5]) {
      it(`${kernel}, ${threads} threads: M, N, K in 0, 1, 7, 197, 1023 with each transpose`, function () {
        this.timeout(300000);
        withSettings(kernel, threads, () => {
          for (const [M, N, K] of SHAPES)
            for (const transA of [false, true])
              for (const transB of [false, true]) {
                const a = randn(transA ? [K, M] : [M, K], { seed: M + 3 * N + 7 * K });
                const b = randn(transB ? [N, K] : [K, N], { seed: 1 + M * N });
                checkMatmul(a, b, transA, transB, `${cpu.gemmKernel()} ${M}x${N}x${K} ${transA}/${transB}`);
                a.dispose();
                b.dispose();
              }
        });
      });
      it(`${kernel}, ${threads} threads: batched, broadcast and strided operands`, () => {
        withSettings(kernel, threads, () => {
          const a = randn([5, 33, 70], { seed: 11 });
          const b = randn([5, 70, 19], { seed: 12 });
          checkMatmul(a, b, false, false, 'batched');
          const one = randn([70, 19], { seed: 13 });
          checkMatmul(a, one, false, false, 'broadcast b');
          // Rows of a wider tensor: lda = 90 for a K = 70 view, and a column slice of b.
          const wide = randn([33, 90], { seed: 14 });
          const view = slice(wide, 1, 10, 80);
          const bWide = randn([70, 40], { seed: 15 });
          const bView = slice(bWide, 1, 3, 22);
          checkMatmul(view, bView, false, false, 'strided a and b');
          checkMatmul(bView, view, true, true, 'strided, both transposed');
          for (const t of [a, b, one, wide, view, bWide, bView]) t.dispose();
        });
      });
      // Few outputs, and more outputs than rows; K over one slice (256); partial tiles.
      it(`${kernel}, ${threads} threads: linear with every epilogue (bias, activations, residual in place)`, () => {
        withSettings(kernel, threads, () => {
          for (const [M, K, N] of [[197, 300, 37], [7, 300, 197], [197, 96, 289]]) linearEpilogues(M, K, N);
        });
      });
    }
  }
});

/** linear [M, K] x [N, K]^T against float64: each activation, with and without bias, into a
 * poisoned out; then with a residual in place. */
function linearEpilogues(M: number, K: number, N: number): void {
  const x = randn([M, K], { seed: 21 });
  const w = tensor(randn([N, K], { seed: 22 }).dataSync().map((v) => v / Math.sqrt(K)), [N, K]);
  const bias = randn([N], { seed: 23 });
  for (const act of ACTIVATION_VARIANTS)
    for (const withBias of [true, false]) {
      const out = linear(x, w, withBias ? bias : null, { activation: act.spec, out: poisoned([M, N], 'float32', 'cpu') });
      assertClose(host(out), linearRef(host(x), M, K, host(w), N, withBias ? host(bias) : null, act.name, act.params), TOLERANCE.float32,
        `linear [${M}, ${K}, ${N}] ${act.label} bias ${withBias}`);
      out.dispose();
    }
  const residual = randn([M, N], { seed: 24 });
  const before = host(residual);
  const ref = linearRef(host(x), M, K, host(w), N, host(bias)).map((v, i) => v + before[i]);
  assert.equal(linear(x, w, bias, { residual, out: residual }), residual);
  assertClose(host(residual), ref, TOLERANCE.float32, `linear [${M}, ${K}, ${N}] + residual in place`);
  for (const t of [x, w, bias, residual]) t.dispose();
}

describe('cpu thread pool', () => {
  it('gives bit-identical GEMM results for 1, 2, 3 and 16 threads', () => {
    const a = randn([300, 513], { seed: 31 });
    const b = randn([513, 211], { seed: 32 });
    const batched = randn([6, 40, 50], { seed: 33 });
    const results = [1, 2, 3, 16].map((threads) => {
      let got: Float32Array[] = [];
      withSettings('best', threads, () => {
        got = [matmul(a, b), matmul(batched, batched, { transposeB: true })].map((t) => { const h = host(t); t.dispose(); return h; });
      });
      return got;
    });
    for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
    for (const t of [a, b, batched]) t.dispose();
  });

  it('runs a tiny problem on many threads', () => {
    withSettings('best', 64, () => {
      assert.equal(cpu.numThreads(), 64);
      const a = tensor([2], [1, 1]);
      const b = tensor([3], [1, 1]);
      for (let i = 0; i < 50; i++) assert.deepEqual(Array.from(host(matmul(a, b))), [6]);
      checkMatmul(randn([7, 7], { seed: 41 }), randn([7, 7], { seed: 42 }), false, false, '7x7x7 on 64 threads');
    });
  });

  it('setNumThreads refuses what is not an integer in [1, 256]', () => {
    for (const bad of [0, -1, 1.5, 257, NaN, Infinity, '2', undefined]) {
      assert.throws(() => cpu.setNumThreads(bad as number), /cpu\.setNumThreads/, String(bad));
    }
    assert.ok(cpu.numThreads() >= 1);
  });

  it('gemmKernel names the kernel and refuses one this CPU lacks', () => {
    assert.match(cpu.gemmKernel(), /^(avx512|avx2|neon|scalar|reference)$/);
    assert.throws(() => cpu.gemmKernel('sse9'), /cpu\.gemmKernel: no GEMM kernel 'sse9'/);
    assert.throws(() => cpu.gemmKernel(3 as unknown as string), /cpu\.gemmKernel/);
  });
});

describe('cpu thread pool across worker_threads', () => {
  // One pool per process: calls from several JS threads at once share it or run inline, and
  // each gets the single-threaded result bit for bit.
  const script = `
const { parentPort, workerData } = require('node:worker_threads');
require('tsx/cjs');
const nf = require(workerData.index);
const a = nf.randn([300, 257], { seed: 51 }), b = nf.randn([257, 190], { seed: 52 });
const out = [];
for (let i = 0; i < 5; i++) { const c = nf.matmul(a, b); out.push(Array.from(c.dataSync())); c.dispose(); }
parentPort.postMessage(out);
`;
  it('4 workers multiply at once and each gets the 1-thread result', async function () {
    this.timeout(120000);
    const a = randn([300, 257], { seed: 51 });
    const b = randn([257, 190], { seed: 52 });
    let expected: number[] = [];
    withSettings('best', 1, () => { expected = Array.from(host(matmul(a, b))); });
    const index = path.join(__dirname, '..', 'ts', 'index.ts');
    const results = await Promise.all([0, 1, 2, 3].map(() => new Promise<number[][]>((resolve, reject) => {
      const w = new Worker(script, { eval: true, workerData: { index } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    for (const r of results) for (const got of r) assert.deepEqual(got, expected);
    a.dispose();
    b.dispose();
  });
});
