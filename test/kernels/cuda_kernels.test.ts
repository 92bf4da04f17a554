// Kernels users bring, on the GPU: CUDA C++ compiled by NVRTC and launched on tensors against
// the CPU, the compile cache, modules from PTX and cubins, ordering with the other ops, large
// shared memory, CUDA graphs, and the launch and load errors (the TypeScript checks and the
// addon's own), after each of which the device still works.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { add, captureGraph, cuda, empty, Kernel, loadKernel, mul, randn, Tensor, tensor, zeros } from '../../ts/index';
import { clearMemoryCache } from '../../ts/kernels/cache';
import { compileImage } from '../../ts/kernels/compile';
import { paramCodes, parseSignature } from '../../ts/kernels/signature';
import { native } from '../../ts/native';
import { assertClose, describeDevice, host, poisoned } from '../helpers';

const AXPY = 'extern "C" __global__ void axpy(float* out, const float* x, const float* y, float a, int n) {\n' +
  '  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) out[i] = a * x[i] + y[i];\n}';
const AXPY_SIGNATURE = ['ptr<float32> out', 'ptr<float32> x', 'ptr<float32> y', 'f32 a', 'i32 n'];

/** fill_f32(float* out, float value, unsigned n), written in PTX by hand (ptxas -arch=sm_90 accepts it). */
const FILL_PTX = `.version 7.0
.target sm_70
.address_size 64

.visible .entry fill_f32(
	.param .u64 fill_f32_out,
	.param .f32 fill_f32_value,
	.param .u32 fill_f32_n
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<2>;
	.reg .b64 	%rd<5>;

	ld.param.u64 	%rd1, [fill_f32_out];
	ld.param.f32 	%f1, [fill_f32_value];
	ld.param.u32 	%r2, [fill_f32_n];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	setp.ge.u32 	%p1, %r1, %r2;
	@%p1 bra 	$L__done;
	cvta.to.global.u64 	%rd2, %rd1;
	mul.wide.u32 	%rd3, %r1, 4;
	add.s64 	%rd4, %rd2, %rd3;
	st.global.f32 	[%rd4], %f1;
$L__done:
	ret;
}
`;
const FILL_SIGNATURE = ['ptr<float32> out', 'f32 value', 'u32 n'];

const dev = 'cuda:0';
const blocks = (n: number, threads: number) => Math.ceil(n / threads);

/** A float32 vector of n values on the CPU and its copy on the GPU. */
function pair(n: number, seed: number): [Tensor, Tensor] {
  const c = randn([n], { seed });
  return [c, c.to(dev)];
}

function dispose(...ts: Tensor[]): void {
  for (const t of ts) t.dispose();
}

/** The device still computes after an error: a small add read back. */
function assertDeviceWorks(): void {
  const a = tensor([1, 2, 3], undefined, { device: dev });
  const b = add(a, a);
  assert.deepEqual([...host(b)], [2, 4, 6]);
  dispose(a, b);
}

describeDevice(dev, 'user kernels on the GPU', () => {
  let cacheDir = '';
  const previous = process.env.NODEFORMERS_KERNEL_CACHE;
  let nvrtc = true;
  before(() => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-cuda-kernels-'));
    process.env.NODEFORMERS_KERNEL_CACHE = cacheDir;
    clearMemoryCache();
    nvrtc = native().nvrtcInfo().available;
  });
  after(() => {
    if (previous === undefined) delete process.env.NODEFORMERS_KERNEL_CACHE;
    else process.env.NODEFORMERS_KERNEL_CACHE = previous;
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  const needsNvrtc = (ctx: Mocha.Context) => {
    if (!nvrtc) {
      console.log(`      (skipping: NVRTC is not available: ${native().nvrtcInfo().error})`);
      ctx.skip();
    }
  };

  it('cuda.compile builds axpy with NVRTC for this GPU, and its launch matches the CPU at n = 1, 1000, 65537', function () {
    needsNvrtc(this);
    const k = cuda.compile(AXPY, { name: 'axpy', signature: AXPY_SIGNATURE });
    assert.ok(k instanceof Kernel);
    assert.equal(k.device, dev);
    const a = k.attributes;
    assert.ok(a.maxThreadsPerBlock >= 256);
    if (a.paramSizes !== null) assert.deepEqual(a.paramSizes, [8, 8, 8, 4, 4]);
    for (const n of [1, 1000, 65537]) {
      const [x, xd] = pair(n, n);
      const [y, yd] = pair(n, n + 1);
      const out = poisoned([n], 'float32', dev);
      k.launch({ grid: blocks(n, 256), block: 256 }, out, xd, yd, 0.75, n);
      const hx = host(x), hy = host(y);
      assertClose(host(out), Float64Array.from(hx, (v, i) => 0.75 * v + hy[i]), 1e-6, `axpy n=${n}`);
      dispose(x, xd, y, yd, out);
    }
  });

  it('a template instance on float16, with cuda_fp16.h from CUDA\'s include directory', function () {
    needsNvrtc(this);
    if (native().nvrtcInfo().includeDir === '') this.skip();
    const src = '#include <cuda_fp16.h>\ntemplate <typename T> __global__ void scale(T* x, float s, int n) {\n' +
      '  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) x[i] = T(float(x[i]) * s);\n}\n';
    const k = cuda.compile(src, { name: 'scale<__half>', signature: ['ptr<float16> x', 'f32 s', 'i32 n'] });
    const x = randn([777], { seed: 3, dtype: 'float16' });
    const xd = x.to(dev);
    k.launch({ grid: blocks(777, 128), block: 128 }, xd, -1.5, 777);
    assertClose(host(xd), Float64Array.from(host(x), (v) => -1.5 * v), 2e-3, 'scale<__half>');
    dispose(x, xd);
  });

  it('the second compile comes from memory, faster; a new process would read the disk; each launches alike', function () {
    needsNvrtc(this);
    const source = `${AXPY}\n// cache test ${Date.now()}`;
    clearMemoryCache();
    let t = performance.now();
    const first = cuda.compile(source, { name: 'axpy', signature: AXPY_SIGNATURE });
    const compileMs = performance.now() - t;
    t = performance.now();
    const second = cuda.compile(source, { name: 'axpy', signature: AXPY_SIGNATURE });
    const hitMs = performance.now() - t;
    clearMemoryCache();
    const third = cuda.compile(source, { name: 'axpy', signature: AXPY_SIGNATURE });
    assert.deepEqual([first.origin, second.origin, third.origin], ['nvrtc', 'memory-cache', 'disk-cache']);
    assert.ok(hitMs < compileMs, `memory hit ${hitMs.toFixed(2)} ms, compile ${compileMs.toFixed(1)} ms`);
    assert.ok(fs.readdirSync(cacheDir).some((f) => f.endsWith('.cubin') || f.endsWith('.ptx')));
    const [x, xd] = pair(300, 7);
    const outs = [first, second, third].map((k) => {
      const out = poisoned([300], 'float32', dev);
      k.launch({ grid: 2, block: 256 }, out, xd, xd, 2, 300);
      return out;
    });
    assert.deepEqual(host(outs[1]), host(outs[0]));
    assert.deepEqual(host(outs[2]), host(outs[0]));
    dispose(x, xd, ...outs);
  });

  it('loadKernel takes hand-written PTX, NVRTC\'s PTX and a cubin; the driver\'s parameter sizes are checked against the signature', function () {
    const fill = loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: FILL_SIGNATURE });
    assert.equal(fill.origin, 'ptx');
    const out = poisoned([1000], 'float32', dev);
    fill.launch({ grid: 4, block: 256 }, out, 2.5, 1000);
    assert.ok(host(out).every((v) => v === 2.5));
    const sizes = fill.attributes.paramSizes;
    if (sizes !== null) {
      assert.deepEqual(sizes, [8, 4, 4]);
      assert.throws(() => loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: ['ptr<float32>', 'f32'] }),
        /loadKernel: 'fill_f32' takes 3 parameters of \[8, 4, 4\] bytes, but the signature declares 2 of \[8, 4\] bytes/);
      assert.throws(() => loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: ['ptr<float32>', 'f32', 'u64'] }), /declares 3 of \[8, 4, 8\] bytes/);
    }
    if (nvrtc) {
      const [major, minor] = cuda.device().computeCapability.split('.').map(Number);
      const cubin = compileImage('test', AXPY, 'axpy', [], major * 10 + minor).entry;
      assert.equal(cubin.ptx, false);
      const fromCubin = loadKernel({ cubin: cubin.image, name: cubin.loweredName, signature: AXPY_SIGNATURE });
      const ptx = compileImage('test', AXPY, 'axpy', ['--gpu-architecture=compute_75'], major * 10 + minor).entry;
      const fromPtx = loadKernel({ ptx: new TextDecoder().decode(ptx.image), name: ptx.loweredName, signature: AXPY_SIGNATURE });
      for (const k of [fromCubin, fromPtx]) {
        const o = poisoned([1000], 'float32', dev);
        k.launch({ grid: 4, block: 256 }, o, out, out, 2, 1000);
        assert.ok(host(o).every((v) => v === 7.5), k.origin);
        o.dispose();
      }
    }
    out.dispose();
  });

  it('launches are ordered with the ops around them on the device\'s stream', () => {
    const fill = loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: FILL_SIGNATURE });
    const n = 1 << 22;
    const [x, xd] = pair(n, 11);
    const a = add(xd, xd); // queued before the launch: the kernel overwrites its result
    fill.launch({ grid: blocks(n, 256), block: 256 }, a, 3, n);
    const b = mul(a, a); // queued after: reads what the kernel wrote
    assert.ok(host(b).every((v) => v === 9));
    dispose(x, xd, a, b);
  });

  it('dynamic shared memory above 48 KiB: the kernel is opted in', function () {
    needsNvrtc(this);
    const src = 'extern "C" __global__ void reverse(float* out, const float* x, int n) {\n' +
      '  extern __shared__ float s[];\n  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = x[i];\n  __syncthreads();\n' +
      '  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = s[n - 1 - i];\n}';
    const k = cuda.compile(src, { name: 'reverse', signature: ['ptr<float32>', 'ptr<float32>', 'i32'] });
    const n = 24576; // 96 KiB of floats
    assert.ok(k.attributes.maxDynamicSharedBytes >= 4 * n);
    const [x, xd] = pair(n, 5);
    const out = poisoned([n], 'float32', dev);
    k.launch({ grid: 1, block: 1024, sharedMem: 4 * n }, out, xd, n);
    assert.deepEqual(host(out), host(x).reverse());
    assert.throws(() => k.launch({ grid: 1, block: 1024, sharedMem: k.attributes.maxDynamicSharedBytes + 4 }, out, xd, n),
      /kernel\.launch: sharedMem \d+ bytes is more than 'reverse' may take on cuda:0/);
    dispose(x, xd, out);
    assertDeviceWorks();
  });

  it('a launch records in a CUDA graph and each replay runs it again on the input\'s new values', () => {
    const fill = loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: FILL_SIGNATURE });
    const x = zeros([512], { device: dev });
    fill.launch({ grid: 2, block: 256 }, x, 0, 512); // outside the capture first
    const { graph, result } = captureGraph(dev, () => {
      fill.launch({ grid: 2, block: 256 }, x, 4, 256); // the first half
      return add(x, x);
    });
    const ones = tensor(new Float32Array(512).fill(1), [512], { device: dev });
    mul(ones, 1, { out: x });
    graph.launch();
    const r = host(result);
    assert.ok(r.subarray(0, 256).every((v) => v === 8) && r.subarray(256).every((v) => v === 2));
    graph.dispose();
    dispose(x, ones, result);
  });

  it('bad launches and loads are clear Errors, and the device works after each', function () {
    const fill = loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: FILL_SIGNATURE });
    const cpu = zeros([4]);
    assert.throws(() => fill.launch({ grid: 1, block: 4 }, cpu, 1, 4), /kernel\.launch: argument 0 \(out\) is on cpu, but the kernel is on cuda:0/);
    assert.throws(() => loadKernel({ ptx: FILL_PTX, name: 'nope', signature: [] }), /loadKernel: the module has no kernel named 'nope'/);
    assert.throws(() => loadKernel({ ptx: 'this is no PTX', name: 'f', signature: [] }),
      (e: Error & { code?: string }) => e.code === 'ERR_CUDA' && /loadKernel: cuModuleLoadData \(\d+ bytes\) failed: CUDA_ERROR_/.test(e.message));
    assertDeviceWorks();
    if (nvrtc) {
      const bounded = cuda.compile('extern "C" __global__ void __launch_bounds__(64) noop(int n) {}', { name: 'noop', signature: ['i32'] });
      assert.equal(bounded.attributes.maxThreadsPerBlock, 64);
      assert.throws(() => bounded.launch({ grid: 1, block: 128 }, 1),
        /kernel\.launch: block \[128, 1, 1\] \(128 threads\) is more than 'noop' takes: at most 64 threads a block/);
      bounded.launch({ grid: 1, block: 64 }, 1);
      assert.throws(() => cuda.compile('extern "C" __global__ void f(float* x) { x[0] = y; }', { name: 'f', signature: ['ptr<float32>'] }),
        (e: Error & { code?: string; log?: string }) => e.code === 'ERR_NVRTC_COMPILE' && /identifier "y" is undefined/.test(e.log ?? ''));
    }
    cpu.dispose();
    assertDeviceWorks();
  });

  it('the addon checks a raw launch itself: dtype, device, contiguity, disposal (by a getter too), ranges, counts', () => {
    const addon = native();
    const handle = addon.loadKernel(dev, new TextEncoder().encode(FILL_PTX), 'fill_f32', paramCodes(parseSignature('t', FILL_SIGNATURE)));
    const x = zeros([4, 4], { device: dev });
    const ints = zeros([16], { dtype: 'int32', device: dev });
    const cpu = zeros([16]);
    const view = x.transpose();
    const launch = (args: unknown[], grid = 1) => addon.kernelLaunch(handle, grid, 1, 1, 16, 1, 1, 0, args);
    launch([x, 1, 16]);
    assert.ok(host(x).every((v) => v === 1));
    const dead = zeros([16], { device: dev });
    dead.dispose();
    const cases: [unknown[], RegExp][] = [
      [[ints, 1, 16], /kernel\.launch: argument 0 is int32 but the parameter is a pointer to float32/],
      [[cpu, 1, 16], /argument 0 is on cpu but the kernel is on cuda:0/],
      [[view, 1, 16], /argument 0 must be contiguous/],
      [[dead, 1, 16], /argument 0 has been disposed/],
      [[x, 1, -1], /argument 2 must be an integer in \[0, 4294967295\]/],
      [[x, 1, 2n ** 32n], /argument 2 is out of range for its u32/],
      [[x, '1', 16], /argument 1 must be a number/],
      [[x, 1], /'fill_f32' takes 3 arguments, got 2/],
      [[{ _storage: null }, 1, 16], /argument 0 must be a Tensor/],
    ];
    for (const [args, message] of cases) assert.throws(() => launch(args), message);
    assert.throws(() => launch([x, 1, 16], 0), /gridX must be an integer in \[1, 2147483647\]/);
    const victim = zeros([16], { device: dev });
    const hostile = [victim, 1, 16];
    Object.defineProperty(hostile, 2, { get() { victim.dispose(); return 16; } });
    assert.throws(() => launch(hostile), /argument 0 has been disposed/);
    dispose(x, ints, cpu, view);
    assertDeviceWorks();
  });

  it('empty() outputs and kernels compose: a kernel fills a tensor the next op reads', () => {
    const fill = loadKernel({ ptx: FILL_PTX, name: 'fill_f32', signature: FILL_SIGNATURE });
    const t = empty([3, 5], { device: dev });
    fill.launch({ grid: 1, block: 32 }, t, -2, 15);
    const s = add(t, 1);
    assert.ok(host(s).every((v) => v === -1));
    dispose(t, s);
  });
});
