// Kernels users bring, without a GPU: signatures, every argument check kernel.launch makes
// before the driver is touched (against a Kernel whose launcher records instead of launching),
// hostile values, and the clear Errors cuda.compile, loadKernel and loadTritonKernel give on a
// machine without CUDA. The launches themselves: cuda_kernels.test.ts.
import * as assert from 'node:assert/strict';
import { cuda, loadKernel, loadTritonKernel, tensor, zeros } from '../../ts/index';
import { Kernel, KernelArg } from '../../ts/kernels/kernel';
import { formatParam, paramCodes, parseSignature } from '../../ts/kernels/signature';
import { native, NativeKernel } from '../../ts/native';
import type { Device } from '../../ts/dtype';

interface Launch { grid: readonly number[]; block: readonly number[]; sharedMem: number; args: KernelArg[] }

/** A Kernel on `device` whose launches are recorded, not run. */
function recording(signature: string[], device: Device = 'cpu', fixed?: { block: [number, number, number]; sharedMem: number }) {
  const launches: Launch[] = [];
  const kernel = new Kernel({
    handle: {} as NativeKernel, name: 'k', device, params: parseSignature('test', signature), origin: 'ptx', fixed,
    launcher: (_h, grid, block, sharedMem, args) => launches.push({ grid, block, sharedMem, args }),
  });
  return { kernel, launches };
}

describe('user kernels: signatures', () => {
  it('parses ptr<T> and scalar entries, C aliases and names, and formats them back', () => {
    const params = parseSignature('t', ['ptr<float>', 'ptr<half> x', 'ptr<__nv_bfloat16>', 'ptr<int>', 'ptr<uint8_t>', 'ptr<void> any', 'int n', 'unsigned', 'int64_t', 'u64', 'float a', 'double']);
    assert.deepEqual(params.map(formatParam), [
      'ptr<float32>', 'ptr<float16> x', 'ptr<bfloat16>', 'ptr<int32>', 'ptr<uint8>', 'ptr<void> any', 'i32 n', 'u32', 'i64', 'u64', 'f32 a', 'f64',
    ]);
    assert.deepEqual([...paramCodes(params.slice(0, 7), 2)], [0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, -1, 1, -1, 7, -1, 7, -1]);
  });

  it('refuses what is no parameter type, naming the entry', () => {
    assert.throws(() => parseSignature('cuda.compile', 'ptr<float>'), /cuda\.compile: expected signature to be an array/);
    for (const bad of ['ptr<double>', 'float*', 'ptr<float', 'i16', 'constructor', 'toString', 'ptr<constructor>', 'i32 n extra', '']) {
      assert.throws(() => parseSignature('cuda.compile', ['i32', bad]), (e: Error) => e instanceof RangeError && e.message.includes(`signature[1] '${bad}'`), bad);
    }
    assert.throws(() => parseSignature('cuda.compile', [5]), /expected signature\[0\] to be a parameter type/);
  });
});

describe('user kernels: kernel.launch checks its arguments against the signature', () => {
  const sig = ['ptr<float32> out', 'ptr<float32> x', 'i32 n', 'f32 alpha'];

  it('passes a valid launch on with the grid, block and shared memory as [x, y, z]', () => {
    const { kernel, launches } = recording(sig);
    const out = zeros([4]);
    const x = tensor([1, 2, 3, 4]);
    kernel.launch({ grid: 2, block: [2, 1] }, out, x, 4, 0.5);
    kernel.launch({ grid: [1, 2, 3], block: 32, sharedMem: 1024 }, out, x, 2n ** 31n - 1n, -1);
    assert.deepEqual(launches.map((l) => [l.grid, l.block, l.sharedMem]), [[[2, 1, 1], [2, 1, 1], 0], [[1, 2, 3], [32, 1, 1], 1024]]);
    assert.equal(launches[0].args[0], out);
    assert.deepEqual(launches[0].args.slice(2), [4, 0.5]);
    assert.equal(launches[1].args[2], 2n ** 31n - 1n);
    assert.equal(String(kernel), 'Kernel k(ptr<float32> out, ptr<float32> x, i32 n, f32 alpha) on cpu');
    out.dispose();
    x.dispose();
  });

  it('refuses a wrong argument count, kind, dtype, device, disposed or strided tensor, naming kernel.launch and the argument', () => {
    const { kernel, launches } = recording(sig);
    const out = zeros([2, 3]);
    const x = zeros([2, 3]);
    const ints = zeros([6], { dtype: 'int32' });
    const strided = x.transpose();
    const dead = zeros([6]);
    dead.dispose();
    const cases: [string, () => void, RegExp][] = [
      ['too few', () => kernel.launch({ grid: 1, block: 1 }, out, x, 6), /kernel\.launch: 'k' takes 4 arguments \(ptr<float32> out, ptr<float32> x, i32 n, f32 alpha\), got 3/],
      ['too many', () => kernel.launch({ grid: 1, block: 1 }, out, x, 6, 1, 2), /takes 4 arguments .* got 5/],
      ['number for a pointer', () => kernel.launch({ grid: 1, block: 1 }, 0, x, 6, 1), /kernel\.launch: expected argument 0 \(out\) to be a Tensor \(its parameter is ptr<float32> out\), got 0/],
      ['dtype', () => kernel.launch({ grid: 1, block: 1 }, out, ints, 6, 1), /argument 1 \(x\) is int32, but its parameter is ptr<float32> x/],
      ['disposed', () => kernel.launch({ grid: 1, block: 1 }, out, dead, 6, 1), /argument 1 \(x\) has been disposed/],
      ['strided', () => kernel.launch({ grid: 1, block: 1 }, out, strided, 6, 1), /argument 1 \(x\) must be contiguous .*strides \[1, 3\]/],
      ['tensor for a scalar', () => kernel.launch({ grid: 1, block: 1 }, out, x, out as never, 1), /expected argument 2 \(n\) to be an integer \(its parameter is i32 n\)/],
      ['fraction for i32', () => kernel.launch({ grid: 1, block: 1 }, out, x, 1.5, 1), /argument 2 \(n\) to be an integer/],
      ['NaN for i32', () => kernel.launch({ grid: 1, block: 1 }, out, x, NaN, 1), /argument 2 \(n\) to be an integer/],
      ['2^31 for i32', () => kernel.launch({ grid: 1, block: 1 }, out, x, 2 ** 31, 1), /argument 2 \(n\) is 2147483648, outside i32's range \[-2147483648, 2147483647\]/],
      ['bigint past i32', () => kernel.launch({ grid: 1, block: 1 }, out, x, -(2n ** 31n) - 1n, 1), /argument 2 \(n\) is -2147483649, outside i32's range/],
      ['string for f32', () => kernel.launch({ grid: 1, block: 1 }, out, x, 6, '1' as never), /expected argument 3 \(alpha\) to be a number/],
      ['bigint for f32', () => kernel.launch({ grid: 1, block: 1 }, out, x, 6, 1n), /expected argument 3 \(alpha\) to be a number/],
    ];
    for (const [label, call, message] of cases) assert.throws(call, message, label);
    assert.equal(launches.length, 0);
    for (const t of [out, x, ints, strided]) t.dispose();
  });

  it('checks integer ranges of u32, i64 and u64, by number and by bigint', () => {
    const { kernel, launches } = recording(['u32', 'i64', 'u64']);
    kernel.launch({ grid: 1, block: 1 }, 2 ** 32 - 1, -(2 ** 53) + 1, 2n ** 64n - 1n);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, -1, 0, 0), /argument 0 is -1, outside u32's range/);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, 0, 2 ** 53, 0), /argument 1 is 9007199254740992, not exact as a number: pass a bigint/);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, 0, 2n ** 63n, 0), /argument 1 is 9223372036854775808, outside i64's range/);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, 0, 0, -1n), /argument 2 is -1, outside u64's range/);
    assert.equal(launches.length, 1);
  });

  it('checks the grid, block and shared memory', () => {
    const { kernel, launches } = recording([]);
    const cases: [unknown, RegExp][] = [
      [null, /expected config to be an object/],
      [{ block: 1 }, /expected config\.grid to be a positive integer or an array of 1 to 3 of them, got undefined/],
      [{ grid: 0, block: 1 }, /expected config\.grid\[0\] to be a positive integer, got 0/],
      [{ grid: [1, 1, 1, 1], block: 1 }, /config\.grid to be .* array of 1 to 3/],
      [{ grid: [1, 65536], block: 1 }, /config\.grid\[1\] is 65536; CUDA allows at most 65535/],
      [{ grid: 2 ** 31, block: 1 }, /config\.grid\[0\] is 2147483648; CUDA allows at most 2147483647/],
      [{ grid: 1 }, /expected config\.block to be a positive integer/],
      [{ grid: 1, block: [32, 32, 2] }, /config\.block \[32, 32, 2\] has 2048 threads; CUDA allows at most 1024/],
      [{ grid: 1, block: [1, 1, 65] }, /config\.block\[2\] is 65; CUDA allows at most 64/],
      [{ grid: 1, block: 1.5 }, /config\.block\[0\] to be a positive integer, got 1\.5/],
      [{ grid: 1, block: 1, sharedMem: -1 }, /config\.sharedMem to be a non-negative integer/],
      [{ grid: 1, block: 1, sharedMem: 2 ** 32 }, /config\.sharedMem to be a non-negative integer/],
    ];
    for (const [config, message] of cases) assert.throws(() => kernel.launch(config as never), message, JSON.stringify(config));
    assert.equal(launches.length, 0);
  });

  it("a Triton kernel takes its compile's block and shared memory, and refuses others", () => {
    const { kernel, launches } = recording(['i32'], 'cpu', { block: [128, 1, 1], sharedMem: 4096 });
    kernel.launch({ grid: 7 }, 1);
    kernel.launch({ grid: 7, block: 128, sharedMem: 4096 }, 1);
    assert.deepEqual(launches.map((l) => [l.block, l.sharedMem]), [[[128, 1, 1], 4096], [[128, 1, 1], 4096]]);
    assert.throws(() => kernel.launch({ grid: 7, block: 256 }, 1), /'k' was compiled for blocks of \[128, 1, 1\] threads \(its num_warps\), not \[256, 1, 1\]/);
    assert.throws(() => kernel.launch({ grid: 7, sharedMem: 0 }, 1), /compiled for 4096 bytes of shared memory, not 0/);
  });

  it('hostile values: getters run once, a getter that disposes an argument is seen, look-alike tensors and coercible numbers are refused', () => {
    const { kernel, launches } = recording(['ptr<float32>', 'i32']);
    const x = zeros([4]);
    let reads = 0;
    const config = { get grid() { reads++; return [1]; }, block: 1 };
    kernel.launch(config, x, 1);
    assert.equal(reads, 1);
    const disposing = { grid: 1, get block() { x.dispose(); return 1; } };
    assert.throws(() => kernel.launch(disposing, x, 1), /argument 0 has been disposed/);
    const y = zeros([4]);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, Object.create(y), 1), /expected argument 0 to be a Tensor .*not a Tensor/);
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, new Proxy(y, {}), 1), /expected argument 0 to be a Tensor/);
    let coerced = false;
    const sneaky = { valueOf() { coerced = true; return 1; } };
    assert.throws(() => kernel.launch({ grid: 1, block: 1 }, y, sneaky as never), /expected argument 1 to be an integer/);
    assert.equal(coerced, false);
    const trap = new Proxy({}, { get() { throw new Error('trap'); } });
    assert.throws(() => kernel.launch(trap as never, y, 1), /trap/);
    const grid = [1];
    Object.defineProperty(grid, 0, { get() { reads++; return 2; } });
    kernel.launch({ grid, block: 1 }, y, 1);
    assert.equal(reads, 2);
    assert.equal(launches.length, 2);
    assert.throws(() => Kernel.prototype.launch.call({} as Kernel, { grid: 1, block: 1 }), /kernel\.launch: the receiver is not a Kernel/);
    y.dispose();
  });
});

describe('user kernels without CUDA', () => {
  before(function () {
    if (native().buildInfo.cuda) this.skip(); // the clear errors of a CPU build; a CUDA build's are cuda_kernels.test.ts's
  });

  it('cuda.compile, loadKernel and loadTritonKernel say this build has no CUDA backend', () => {
    assert.throws(() => cuda.compile('extern "C" __global__ void f() {}', { name: 'f', signature: [] }),
      /^Error: cuda\.compile: this build of nodeformers has no CUDA backend/);
    assert.throws(() => loadKernel({ ptx: '.version 7.0', name: 'f', signature: [] }), /^Error: loadKernel: this build of nodeformers has no CUDA backend/);
    assert.throws(() => loadKernel({ cubin: new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), name: 'f', signature: [], device: 'cpu' }),
      /loadKernel: expected device to be a CUDA device/);
  });

  it('bad arguments are refused before the device is looked at', () => {
    assert.throws(() => cuda.compile(42 as never, { name: 'f', signature: [] }), /^TypeError: cuda\.compile: expected source to be a non-empty string/);
    assert.throws(() => cuda.compile('x', null as never), /expected options to be an object/);
    assert.throws(() => cuda.compile('x', { name: '', signature: [] }), /expected options\.name to be the name of a __global__ function/);
    assert.throws(() => cuda.compile('x', { name: 'f', signature: ['ptr<double>'] }), /options\.signature\[0\] 'ptr<double>' is no parameter type/);
    assert.throws(() => cuda.compile('x', { name: 'f', signature: [], options: ['-O3', 3] as never }), /expected options\.options\[1\] to be a string/);
    assert.throws(() => cuda.compile('x', { name: 'f', signature: [], cache: 'yes' as never }), /expected options\.cache to be a boolean/);
    assert.throws(() => loadKernel({ name: 'f', signature: [] } as never), /loadKernel: expected options to be one of options\.cubin and options\.ptx/);
    assert.throws(() => loadKernel({ cubin: new Uint8Array(4), ptx: 'x', name: 'f', signature: [] }), /one of options\.cubin and options\.ptx/);
    assert.throws(() => loadKernel({ cubin: new Uint8Array([1, 2, 3, 4]), name: 'f', signature: [] }), /expected options\.cubin to be a cubin or fatbin/);
    assert.throws(() => loadKernel({ ptx: '', name: 'f', signature: [] }), /expected options\.ptx to be a non-empty image/);
    assert.throws(() => loadKernel({ ptx: 'x', name: '', signature: [] }), /expected options\.name to be the kernel's symbol/);
    assert.throws(() => loadTritonKernel(7 as never), /loadTritonKernel: expected dir to be a directory path/);
  });

  it('the addon refuses loads and launches itself: a CPU device, a forged kernel, malformed parameters', () => {
    const addon = native();
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array([1]), 'f', new Int32Array(0)), /loadKernel: loading a kernel needs a CUDA device/);
    assert.throws(() => addon.loadKernel('cuda:0', new Uint8Array([1]), 'f', new Int32Array(0)), /loadKernel: this build of nodeformers has no CUDA backend/);
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array(0), 'f', new Int32Array(0)), /loadKernel: image is empty/);
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array([1]), 'f', new Int32Array([0])), /params must hold \(kind, dtype\) pairs/);
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array([1]), 'f', new Int32Array([9, 0])), /parameter 0 has an unknown kind/);
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array([1]), 'f', new Int32Array([0, 7])), /parameter 0 has an unknown dtype/);
    assert.throws(() => addon.loadKernel('cpu', new Uint8Array([1]), 'f', new Int32Array(Array(42).fill(0))), /at most 20 tensor parameters/);
    assert.throws(() => addon.loadKernel('cpu', [1] as never, 'f', new Int32Array(0)), /image must be a Uint8Array/);
    for (const forged of [{}, null, 1, Object.create(null)]) {
      assert.throws(() => addon.kernelLaunch(forged as never, 1, 1, 1, 1, 1, 1, 0, []), /kernel\.launch: kernel must be a Kernel made by loadKernel/);
    }
    assert.throws(() => addon.nvrtcCompile(1 as never, 'p', 'f', []), /cuda\.compile: source must be a string/);
    assert.throws(() => addon.nvrtcCompile('s', 'p', 'f', ['-O3', 1] as never), /cuda\.compile: options must be an array of strings/);
  });
});
