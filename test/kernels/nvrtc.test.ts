// NVRTC and the compile cache, without a GPU: compiling needs none, so where libnvrtc is
// found (the CUDA toolkit, or NODEFORMERS_NVRTC naming a libnvrtc.so such as a pip wheel's),
// these run on a CPU machine too; elsewhere they are pending and say why. `nodeformers info`
// says whether NVRTC is there.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatInfo, info } from '../../ts/bench/info';
import { cacheKey, clearMemoryCache, kernelCacheDir } from '../../ts/kernels/cache';
import { compileImage, nvrtcOptions } from '../../ts/kernels/compile';
import { native, NativeNvrtcInfo } from '../../ts/native';

const ROOT = path.join(__dirname, '..', '..');
const SCALE = 'extern "C" __global__ void scale(float* x, float s, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= s; }';

describe('user kernels: NVRTC is reported by info()', () => {
  it('info() and `nodeformers info` say whether NVRTC is available, and why not', function () {
    this.timeout(60000);
    const nv = native().nvrtcInfo();
    const r = info();
    assert.equal(r.nvrtc.available, nv.available);
    const text = formatInfo(r);
    if (nv.available) assert.match(text, new RegExp(`^ {2}nvrtc \\(cuda\\.compile\\): yes \\(NVRTC ${nv.version?.join('\\.')}, .*; sm_\\d+ to sm_\\d+\\)$`, 'm'));
    else assert.match(text, /^ {2}nvrtc \(cuda\.compile\): no: libnvrtc was not found: tried /m);
    // A library that is not there, named explicitly: the child's line says which and why.
    const env = { ...process.env, NODEFORMERS_NVRTC: '/nonexistent/libnvrtc.so.99', NODEFORMERS_CLI: 'ts' };
    const out = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), 'info'], { env, encoding: 'utf8' });
    assert.match(out, /^ {2}nvrtc \(cuda\.compile\): no: libnvrtc was not found: tried \/nonexistent\/libnvrtc\.so\.99 \(.*No such file.*\)\. .*NODEFORMERS_NVRTC/m);
  });

  it('picks sm_XY where NVRTC knows the GPU, else compute_XY PTX of the newest below it, and keeps a given architecture', () => {
    const nv: NativeNvrtcInfo = { available: true, library: 'x', error: '', version: [13, 0], archs: [75, 80, 86, 89, 90, 100], includeDir: '/cuda/include' };
    assert.deepEqual(nvrtcOptions('t', nv, 90, ['-DX=1']), ['--gpu-architecture=sm_90', '--include-path=/cuda/include', '-DX=1']);
    assert.deepEqual(nvrtcOptions('t', { ...nv, includeDir: '' }, 87, []), ['--gpu-architecture=compute_86']);
    assert.deepEqual(nvrtcOptions('t', nv, 120, []), ['--gpu-architecture=compute_100', '--include-path=/cuda/include']);
    assert.deepEqual(nvrtcOptions('t', nv, 90, ['-arch=sm_90a']), ['--include-path=/cuda/include', '-arch=sm_90a']);
    assert.deepEqual(nvrtcOptions('t', nv, 90, ['--gpu-architecture', 'compute_80']), ['--include-path=/cuda/include', '--gpu-architecture', 'compute_80']);
    assert.throws(() => nvrtcOptions('cuda.compile', nv, 70, []), /cuda\.compile: NVRTC 13\.0 compiles for sm_75 and newer, not for this GPU's sm_70/);
  });

  it('the cache key changes with the source, the name, the options, the architecture and the NVRTC version', () => {
    const base = { source: SCALE, name: 'scale', options: ['--gpu-architecture=sm_90'], arch: 90, nvrtc: '13.0' };
    const keys = new Set([
      cacheKey(base), cacheKey({ ...base, source: `${SCALE} ` }), cacheKey({ ...base, name: 'scale2' }), cacheKey({ ...base, options: ['-arch=sm_80'] }),
      cacheKey({ ...base, arch: 89 }), cacheKey({ ...base, nvrtc: '12.9' }),
    ]);
    assert.equal(keys.size, 6);
    assert.equal(cacheKey({ ...base }), cacheKey(base));
  });
});

describe('user kernels: NVRTC compiles and caches (no GPU needed)', function () {
  let dir = '';
  const previous = process.env.NODEFORMERS_KERNEL_CACHE;
  before(function () {
    const nv = native().nvrtcInfo();
    if (!nv.available) {
      console.log(`      (skipping: NVRTC is not available here: ${nv.error.split(':')[0]}; NODEFORMERS_NVRTC can name a libnvrtc.so)`);
      this.skip();
    }
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-kernel-cache-'));
    process.env.NODEFORMERS_KERNEL_CACHE = dir;
    clearMemoryCache();
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.NODEFORMERS_KERNEL_CACHE;
    else process.env.NODEFORMERS_KERNEL_CACHE = previous;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('compiles a cubin for sm_90 and finds it again in memory, then on disk; a damaged entry is compiled again', () => {
    assert.equal(kernelCacheDir(), dir);
    let t = performance.now();
    const first = compileImage('t', SCALE, 'scale', [], 90);
    const compileMs = performance.now() - t;
    assert.equal(first.from, 'nvrtc');
    assert.equal(first.entry.ptx, false);
    assert.equal(first.entry.loweredName, 'scale');
    assert.deepEqual([...first.entry.image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]); // ELF
    t = performance.now();
    const again = compileImage('t', SCALE, 'scale', [], 90);
    const hitMs = performance.now() - t;
    assert.equal(again.from, 'memory-cache');
    assert.ok(hitMs < compileMs, `a memory hit (${hitMs.toFixed(2)} ms) is faster than the compile (${compileMs.toFixed(1)} ms)`);
    const files = fs.readdirSync(dir).sort();
    assert.equal(files.length, 2);
    assert.match(files[0], /^[0-9a-f]{64}\.cubin$/);
    assert.equal(files[1], files[0].replace('.cubin', '.json'));
    clearMemoryCache();
    const fromDisk = compileImage('t', SCALE, 'scale', [], 90);
    assert.equal(fromDisk.from, 'disk-cache');
    assert.deepEqual(fromDisk.entry.image, first.entry.image);
    // A truncated image fails its size and hash check: compiled again, and the entry replaced.
    const cubin = path.join(dir, files[0]);
    fs.writeFileSync(cubin, fs.readFileSync(cubin).subarray(0, 100));
    clearMemoryCache();
    const repaired = compileImage('t', SCALE, 'scale', [], 90);
    assert.equal(repaired.from, 'nvrtc');
    assert.deepEqual(new Uint8Array(fs.readFileSync(cubin)), first.entry.image);
    fs.writeFileSync(path.join(dir, files[1]), '{ not json');
    clearMemoryCache();
    assert.equal(compileImage('t', SCALE, 'scale', [], 90).from, 'nvrtc');
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0);
  });

  it('compiles PTX for a GPU NVRTC does not know, and for an architecture the options name', () => {
    const archs = native().nvrtcInfo().archs;
    const unknown = Math.max(...archs) + 1;
    const ptx = compileImage('t', SCALE, 'scale', [], unknown);
    assert.equal(ptx.entry.ptx, true);
    const text = new TextDecoder().decode(ptx.entry.image);
    assert.match(text, new RegExp(`\\.target sm_${Math.max(...archs)}`));
    assert.match(text, /\.visible \.entry scale\(/);
    assert.ok(!text.includes('\0'));
    const given = compileImage('t', SCALE, 'scale', ['--gpu-architecture=compute_80'], 90);
    assert.equal(given.entry.ptx, true);
    assert.match(new TextDecoder().decode(given.entry.image), /\.target sm_80/);
  });

  it('lowers a template instance, and reads cuda_fp16.h from CUDA\'s include directory', function () {
    const tpl = compileImage('t', 'template <typename T> __global__ void fill(T* x, T v) { x[threadIdx.x] = v; }\ntemplate __global__ void fill<float>(float*, float);', 'fill<float>', [], 90);
    assert.equal(tpl.entry.loweredName, '_Z4fillIfEvPT_S0_');
    if (native().nvrtcInfo().includeDir === '') this.skip();
    const half = compileImage('t', '#include <cuda_fp16.h>\nextern "C" __global__ void h(__half* x) { x[0] = __float2half(1.f); }', 'h', [], 90);
    assert.equal(half.entry.loweredName, 'h');
  });

  it('a compile error throws an Error with NVRTC\'s log; a name that is no kernel and a bad option too; nothing is cached', () => {
    const expectCompileError = (source: string, name: string, options: string[], log: RegExp) => {
      assert.throws(() => compileImage('cuda.compile', source, name, options, 90), (e: Error & { code?: string; log?: string }) => {
        assert.equal(e.code, 'ERR_NVRTC_COMPILE');
        assert.match(e.message, new RegExp(`^cuda\\.compile: '${name.replace(/[<>]/g, '.')}' did not compile \\(NVRTC \\d+\\.\\d+, .*\\):\\n`));
        assert.match(e.log ?? '', log);
        assert.match(e.message, log);
        return true;
      });
    };
    expectCompileError('extern "C" __global__ void f(float* x) { x[0] = y; }', 'f', [], /error: identifier "y" is undefined/);
    expectCompileError(SCALE, 'nothere', [], /identifier "nothere" is undefined/);
    expectCompileError(SCALE, 'scale', ['--no-such-option'], /unrecognized option --no-such-option/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('cache: false compiles every time and writes nothing', () => {
    assert.equal(compileImage('t', SCALE, 'scale', [], 90, false).from, 'nvrtc');
    assert.equal(compileImage('t', SCALE, 'scale', [], 90, false).from, 'nvrtc');
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('a cache directory that cannot be written costs nothing but the disk entry', () => {
    const file = path.join(dir, 'not-a-dir');
    fs.writeFileSync(file, '');
    process.env.NODEFORMERS_KERNEL_CACHE = path.join(file, 'cache');
    assert.equal(compileImage('t', SCALE, 'scale', [], 90).from, 'nvrtc');
    assert.equal(compileImage('t', SCALE, 'scale', [], 90).from, 'memory-cache');
  });
});
