// Several devices in one process (issue 9), as far as this machine goes: dataParallel over a
// device list splits the batch, runs replicas and gathers outputs equal to one model's
// forward (on the CPU twice over here; on one GPU as cuda:0 twice; across GPUs where the
// machine has several); a device that does not exist and tensors on different devices are
// clear Errors.
import * as assert from 'node:assert/strict';
import { add, backends, chunkSizes, cuda, dataParallel, empty, ones, patterns, randn, SparseMask, tensor, tidy } from '../ts/index';
import { native } from '../ts/native';
import type { Device } from '../ts/index';
import { buildViT, ViTConfig } from '../ts/models/vit';
import { describeDevice, relativeError } from './helpers';

const SMALL: ViTConfig = { img_size: 32, patch_size: 8, embed_dim: 16, depth: 2, num_heads: 2, mlp_ratio: 2, num_classes: 10 };

describe('chunkSizes', () => {
  it('splits a batch into nearly equal chunks, never more chunks than items', () => {
    assert.deepEqual(chunkSizes(5, 2), [3, 2]);
    assert.deepEqual(chunkSizes(256, 2), [128, 128]);
    assert.deepEqual(chunkSizes(7, 3), [3, 2, 2]);
    assert.deepEqual(chunkSizes(2, 4), [1, 1]);
  });
});

function checkParallel(devices: Device[], mechanism: 'memory_efficient' | 'sparse') {
  const first = devices[0];
  const mask = mechanism === 'sparse' ? SparseMask.fromDense(patterns.local1d(17, 3), undefined, { device: first }) : undefined;
  const model = buildViT({ ...SMALL, attention: mask ? { mechanism, mask } : { mechanism } }, { device: first, seed: 4 });
  const dp = dataParallel(model, devices);
  const images = randn([5, 3, 32, 32], { device: first, seed: 9 });
  const one = model.forward(images);
  const many = dp.forward(images);
  assert.equal(many.device, first);
  assert.deepEqual(many.shape, [5, 10]);
  const err = relativeError(many.dataSync(), one.dataSync());
  assert.ok(err <= 1e-6, `relative difference ${err} from the single-device forward`);
  for (const t of [images, one, many]) t.dispose();
  dp.dispose();
  assert.ok(!model.parameters().get('pos_embed')!.disposed, 'the model itself is left to its owner');
  model.dispose();
  mask?.dispose();
}

describeDevice('cpu', 'dataParallel', () => {
  it('two CPU replicas give the single model\'s logits, batch 5 split 3 + 2', () => checkParallel(['cpu', 'cpu'], 'memory_efficient'));
  it('with a sparse mask, replicated with the model', () => checkParallel(['cpu', 'cpu'], 'sparse'));
  it('capture() refuses a device that is not a GPU', () => {
    const model = buildViT(SMALL, { seed: 4 });
    const dp = dataParallel(model, ['cpu', 'cpu']);
    assert.throws(() => dp.capture([4, 3, 32, 32]), { name: 'TypeError', message: /^DataParallel.capture: every device must be a CUDA device to capture a graph; cpu is not/ });
    dp.dispose();
    model.dispose();
  });
  it('rejects an empty device list, an unknown device and a non-model', () => {
    const model = buildViT(SMALL, { seed: 1 });
    assert.throws(() => dataParallel(model, []), (e: Error) => e instanceof TypeError && /dataParallel: .*devices/.test(e.message));
    assert.throws(() => dataParallel(model, ['cpu', 'tpu']), (e: Error) => /dataParallel: .*devices\[1\]/.test(e.message));
    assert.throws(() => dataParallel({} as never, ['cpu']), (e: Error) => /dataParallel: .*VisionTransformer/.test(e.message));
    if (!backends().includes('cuda')) {
      assert.throws(() => dataParallel(model, ['cpu', 'cuda:0']), (e: Error) => e instanceof Error && /cuda/.test(e.message));
    }
    model.dispose();
  });
});

describe('copyPeer [cpu]', () => {
  it('refuses a pair on one device, strided tensors and mismatched dtypes or sizes', () => tidy(() => {
    const a = randn([2, 3], { seed: 1 });
    assert.throws(() => native().copyPeer(a, randn([2, 3], { seed: 2 })), { name: 'TypeError', message: /^copyPeer: dst and src are on one device/ });
    assert.throws(() => native().copyPeer(a, randn([3, 2]).transpose()), /copyPeer: dst and src must be contiguous/);
    assert.throws(() => native().copyPeer(a, randn([7])), /copyPeer: dst and src must have one dtype and size/);
    assert.throws(() => native().copyPeer(a, {} as never), /copyPeer: src must be a Tensor/);
  }));
});

describeDevice('cuda:0', 'several devices', () => {
  it('two replicas on cuda:0 give the single model\'s logits', () => checkParallel(['cuda:0', 'cuda:0'], 'memory_efficient'));
  it('a CPU and a CUDA replica give the same logits, gathered on the first device', () => checkParallel(['cuda:0', 'cpu'], 'sparse'));
  it('capture(): one CUDA graph per replica gives the eager logits, and refuses another shape', () => {
    const model = buildViT(SMALL, { device: 'cuda:0', seed: 4 });
    const dp = dataParallel(model, ['cuda:0', 'cuda:0']);
    const images = randn([5, 3, 32, 32], { device: 'cuda:0', seed: 9 });
    const eager = dp.forward(images);
    const captured = dp.capture(images.shape);
    for (let i = 0; i < 2; i++) {
      const replayed = captured.run(images);
      assert.equal(replayed.device, 'cuda:0');
      assert.deepEqual(replayed.shape, [5, 10]);
      const err = relativeError(replayed.dataSync(), eager.dataSync());
      assert.ok(err <= 1e-6, `replay ${i}: relative difference ${err} from the eager data-parallel forward`);
      replayed.dispose();
    }
    const other = randn([4, 3, 32, 32], { device: 'cuda:0', seed: 1 });
    assert.throws(() => captured.run(other), /CapturedDataParallel.run: images must have the captured shape \[5, 3, 32, 32\]/);
    assert.throws(() => dp.capture([0, 3, 32, 32]), /DataParallel.capture: shape must be \[B, C, H, W\] with B >= 1/);
    captured.dispose();
    assert.throws(() => captured.run(images), /CapturedDataParallel.run: it has been disposed/);
    // A capture reads the replicas' weights: disposing the DataParallel disposes it first.
    const later = dp.capture(images.shape);
    dp.dispose();
    assert.equal(later.disposed, true);
    assert.throws(() => later.run(images), { name: 'TypeError', message: /CapturedDataParallel.run: it has been disposed/ });
    for (const t of [images, eager, other]) t.dispose();
    model.dispose();
  });
  it('a device past the last one is a clear Error, and the process goes on', function () {
    const n = cuda.deviceCount();
    const missing = `cuda:${n}` as Device;
    assert.throws(() => randn([4], { device: missing, seed: 1 }), (e: Error) => e instanceof Error && e.message.includes(`${missing} does not exist`));
    const x = randn([4], { device: 'cuda:0', seed: 1 });
    const y = add(x, x);
    assert.equal(y.dataSync()[0], x.dataSync()[0] * 2);
    x.dispose();
    y.dispose();
  });
  it('an op given tensors on two devices throws, naming both', () => {
    const a = randn([4], { device: 'cuda:0', seed: 1 });
    const b = randn([4], { device: 'cpu', seed: 1 });
    assert.throws(() => add(a, b), (e: Error) => /add: /.test(e.message) && /cpu/.test(e.message) && /cuda:0/.test(e.message));
    a.dispose();
    b.dispose();
  });
  it('copyPeer copies nothing and says so where there is no device-to-device path (a GPU and the CPU), and rejects bad pairs', () => tidy(() => {
    const g = ones([2, 3], { device: 'cuda:0' });
    const c = randn([2, 3], { seed: 1 });
    assert.equal(native().copyPeer(g, c), false);
    assert.deepEqual(Array.from(g.dataSync()), [1, 1, 1, 1, 1, 1]);
    assert.throws(() => native().copyPeer(g, ones([2, 3], { device: 'cuda:0' })), /copyPeer: dst and src are on one device/);
    assert.throws(() => native().copyPeer(g, randn([3, 2]).transpose()), /copyPeer: dst and src must be contiguous/);
    assert.throws(() => native().copyPeer(g, randn([2, 3], { dtype: 'float16' })), /copyPeer: dst and src must have one dtype and size/);
  }));
  it('across GPUs: to() copies device to device, exact in every dtype, and the source\'s later work cannot touch the copy (2 or more GPUs)', function () {
    const n = cuda.deviceCount();
    if (n < 2) {
      console.log(`      (this machine has ${n} GPU: the copy between GPUs is not made here)`);
      this.skip();
    }
    for (const dtype of ['float32', 'float16', 'bfloat16', 'int32', 'uint8'] as const) {
      const values = Array.from({ length: 4099 }, (_, i) => (dtype === 'uint8' ? i % 251 : (i % 97) - 48));
      const src = tensor(values, [4099], { dtype, device: 'cuda:0' });
      const peer = empty([4099], { dtype, device: 'cuda:1' });
      const direct = native().copyPeer(peer, src);
      const there = src.to('cuda:1');
      // Free the source and fill new memory on its device at once: stream-ordered, after the copy.
      src.dispose();
      const reuse = ones([4099 * 4], { dtype, device: 'cuda:0' });
      assert.equal(there.device, 'cuda:1');
      assert.deepEqual(Array.from(there.dataSync()), values, `${dtype}: to('cuda:1')`);
      if (direct) assert.deepEqual(Array.from(peer.dataSync()), values, `${dtype}: copyPeer`);
      const back = there.to('cuda:0');
      assert.deepEqual(Array.from(back.dataSync()), values, `${dtype}: back to cuda:0`);
      console.log(`      ${dtype}: device to device ${direct ? 'yes' : 'no (through the host: no peer access)'}`);
      for (const t of [peer, there, reuse, back]) t.dispose();
    }
  });
  it('across GPUs: replicas on every GPU give the single-GPU logits (runs only with 2 or more GPUs)', function () {
    const n = cuda.deviceCount();
    if (n < 2) {
      console.log(`      (this machine has ${n} GPU: the run across GPUs is not made here)`);
      this.skip();
    }
    checkParallel(Array.from({ length: n }, (_, i) => `cuda:${i}` as Device), 'memory_efficient');
  });
});
