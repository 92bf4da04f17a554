// loadTritonKernel: the artifacts examples/triton/compile_softmax.py writes (Triton's K.cubin
// and K.json metadata with a signature added), read and checked without a GPU from hand-written
// metadata laid out as the script lays it; on CUDA, the example's own artifacts (the GPU
// machine makes and commits them) launched and held against the CPU's softmax.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTritonKernel, randn, softmax, empty } from '../../ts/index';
import { cubinRunsOn, readTritonArtifacts } from '../../ts/kernels/triton';
import { formatParam } from '../../ts/kernels/signature';
import { assertClose, describeDevice, host } from '../helpers';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'triton');
const ARTIFACTS = path.join(EXAMPLE, 'softmax');

/** Metadata as Triton 3.6's triton.compile() writes it for the example, and the script's additions. */
function metadata(): Record<string, unknown> {
  return {
    hash: '5e1d0c6f', target: { backend: 'cuda', arch: 90, warp_size: 32 }, num_warps: 4, num_ctas: 1, num_stages: 1, maxnreg: null,
    cluster_dims: [1, 1, 1], ptx_version: null, enable_fp_fusion: true, launch_cooperative_grid: false, launch_pdl: false,
    debug: false, backend_name: 'cuda', triton_version: '3.6.0', shared: 32, tmem_size: 0, global_scratch_size: 0,
    global_scratch_align: 1, profile_scratch_size: 0, profile_scratch_align: 1, name: 'softmax_kernel',
    signature: { out_ptr: '*fp32', in_ptr: '*fp32', in_row_stride: 'i32', out_row_stride: 'i32', n_cols: 'i32' }, constants: { BLOCK_SIZE: 1024 },
  };
}

const CUBIN = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0x33]); // an ELF header's start: enough for the reader

describe('user kernels: Triton artifacts (no GPU needed)', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-triton-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (stem: string, meta: unknown, cubin: Uint8Array = CUBIN) => {
    fs.writeFileSync(path.join(dir, `${stem}.json`), typeof meta === 'string' ? meta : JSON.stringify(meta));
    fs.writeFileSync(path.join(dir, `${stem}.cubin`), cubin);
  };

  it("reads the script's layout: the symbol, num_warps · 32 threads, the shared memory, the signature and Triton's two scratch pointers", () => {
    write('softmax_kernel', metadata());
    fs.writeFileSync(path.join(dir, '__grp__softmax_kernel.json'), '{}'); // Triton's cache keeps one of these: not a kernel
    const a = readTritonArtifacts(dir);
    assert.equal(a.name, 'softmax_kernel');
    assert.deepEqual(a.block, [128, 1, 1]);
    assert.equal(a.sharedMem, 32);
    assert.equal(a.hiddenPointers, 2);
    assert.equal(a.arch, 90);
    assert.equal(a.tritonVersion, '3.6.0');
    assert.deepEqual(a.params.map(formatParam), ['ptr<float32> out_ptr', 'ptr<float32> in_ptr', 'i32 in_row_stride', 'i32 out_row_stride', 'i32 n_cols']);
    assert.deepEqual(a.cubin, CUBIN);
  });

  it("the example script's signature is the one the loader's test reads", () => {
    const script = fs.readFileSync(path.join(EXAMPLE, 'compile_softmax.py'), 'utf8');
    const literal = /^SIGNATURE = (\{.*\})$/m.exec(script)?.[1];
    assert.ok(literal, 'compile_softmax.py defines SIGNATURE on one line');
    assert.deepEqual(JSON.parse(literal), metadata().signature);
    assert.match(script, /^NUM_WARPS = 4$/m);
  });

  it('older metadata: one scratch pointer with global_scratch_size alone, none without either', () => {
    const { profile_scratch_size: _p, profile_scratch_align: _pa, ...v33 } = metadata();
    write('softmax_kernel', v33);
    assert.equal(readTritonArtifacts(dir).hiddenPointers, 1);
    const { global_scratch_size: _g, global_scratch_align: _ga, ...v32 } = v33;
    write('softmax_kernel', v32);
    assert.equal(readTritonArtifacts(dir).hiddenPointers, 0);
  });

  it("takes a signature from the options (Triton's types or ours, ':16' hints and constexprs dropped) where the metadata has none", () => {
    const { signature: _s, ...bare } = metadata();
    write('softmax_kernel', bare);
    assert.throws(() => readTritonArtifacts(dir), /loadTritonKernel: expected .*softmax_kernel\.json "signature" to be the kernel's runtime argument types/);
    const fromArray = readTritonArtifacts(dir, { signature: ['*fp32:16', '*fp16', 'i32', 'u64', 'fp32', 'ptr<bfloat16>'] });
    assert.deepEqual(fromArray.params.map(formatParam), ['ptr<float32>', 'ptr<float16>', 'i32', 'u64', 'f32', 'ptr<bfloat16>']);
    const fromObject = readTritonArtifacts(dir, { signature: { x: '*bf16', BLOCK: 'constexpr', n: 'i64' } });
    assert.deepEqual(fromObject.params.map(formatParam), ['ptr<bfloat16> x', 'i64 n']);
  });

  it('picks a kernel by its stem or metadata name where the directory holds several', () => {
    write('softmax_kernel', metadata());
    write('other', { ...metadata(), name: 'layer_norm_kernel' });
    assert.throws(() => readTritonArtifacts(dir), /holds kernels other, softmax_kernel: pass options\.name to pick one/);
    assert.equal(readTritonArtifacts(dir, { name: 'layer_norm_kernel' }).name, 'layer_norm_kernel');
    assert.equal(readTritonArtifacts(dir, { name: 'softmax_kernel' }).name, 'softmax_kernel');
    assert.throws(() => readTritonArtifacts(dir, { name: 'nope' }), /holds kernels other, softmax_kernel, none named 'nope'/);
  });

  it('refuses what it cannot launch or read, naming the file and the field', () => {
    const file = (m: unknown, cubin?: Uint8Array) => () => {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir);
      write('k', m, cubin);
      return readTritonArtifacts(dir);
    };
    const m = metadata();
    const cases: [() => unknown, RegExp][] = [
      [file({ ...m, num_ctas: 2 }), /k\.json: num_ctas 2 needs a thread block cluster launch/],
      [file({ ...m, global_scratch_size: 64 }), /k\.json: global_scratch_size is 64: a kernel that needs scratch memory is not supported/],
      [file({ ...m, profile_scratch_size: 8 }), /profile_scratch_size is 8/],
      [file({ ...m, launch_cooperative_grid: true }), /needs a cooperative launch/],
      [file({ ...m, target: { backend: 'hip', arch: 'gfx942', warp_size: 64 } }), /compiled for backend 'hip', not 'cuda'/],
      [file({ ...m, name: '' }), /k\.json: "name" \(the kernel's symbol\) must be a non-empty string/],
      [file({ ...m, num_warps: 64 }), /num_warps 64 gives no valid block/],
      [file({ ...m, num_warps: '4' }), /"num_warps" must be a non-negative integer, got "4"/],
      [file({ ...m, shared: -1 }), /"shared" must be a non-negative integer, got -1/],
      [file({ ...m, signature: { x: '*fp8e4nv' } }), /signature"\.x is type '\*fp8e4nv', which kernel\.launch cannot pass/],
      [file({ ...m, signature: { x: 'fp16' } }), /is type 'fp16', which kernel\.launch cannot pass/],
      [file('{ "name": '), /k\.json is not readable JSON/],
      [file('[1]'), /k\.json holds no metadata object/],
      [file(m, new Uint8Array([1, 2, 3, 4])), /k\.cubin is no cubin \(it has no ELF header\)/],
    ];
    for (const [call, message] of cases) assert.throws(call, message);
    file(m)();
    fs.rmSync(path.join(dir, 'k.cubin'));
    assert.throws(() => readTritonArtifacts(dir), /holds no kernel \(a K\.json beside a K\.cubin\)/);
    assert.throws(() => readTritonArtifacts(path.join(dir, 'missing')), /loadTritonKernel: cannot read the directory/);
  });

  it('a cubin runs on its own architecture, or a newer minor of one below 9.0', () => {
    assert.deepEqual([[90, 90], [90, 100], [80, 86], [86, 80], [80, 90], [75, 80], [100, 100]].map(([a, d]) => cubinRunsOn(a, d)),
      [true, false, true, false, false, false, true]);
  });
});

describeDevice('cuda:0', 'user kernels: the Triton softmax example', () => {
  before(function () {
    if (!fs.existsSync(path.join(ARTIFACTS, 'softmax_kernel.cubin'))) {
      console.log(`      (skipping: ${path.relative(ROOT, ARTIFACTS)} has no artifacts: run python3 examples/triton/compile_softmax.py on the GPU machine)`);
      this.skip();
    }
  });

  it('loads with its block and shared memory and matches the CPU softmax, for rows of 1, 1000 and 1024 columns', () => {
    const kernel = loadTritonKernel(ARTIFACTS);
    assert.equal(kernel.origin, 'triton');
    assert.equal(kernel.fixedLaunch?.block[0], 128);
    assert.deepEqual(kernel.signature, ['ptr<float32> out_ptr', 'ptr<float32> in_ptr', 'i32 in_row_stride', 'i32 out_row_stride', 'i32 n_cols']);
    for (const cols of [1, 1000, 1024]) {
      const x = randn([37, cols], { seed: cols });
      const xd = x.to('cuda:0');
      const y = empty([37, cols], { device: 'cuda:0' });
      kernel.launch({ grid: 37 }, y, xd, cols, cols, cols);
      const ref = softmax(x);
      assertClose(host(y), host(ref), 1e-5, `softmax of ${cols} columns`);
      for (const t of [x, xd, y, ref]) t.dispose();
    }
  });
});
