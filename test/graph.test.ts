// CUDA graphs: the captured ViT forward equals the plain one (every mechanism the notebook
// uses, float32 and float16, fresh inputs on each replay), its memory goes back when it is
// disposed, and what a graph cannot hold (a read to the host) fails with a clear Error that
// leaves the device usable. On the CPU, capture is a clear error.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { add, captureGraph, cuda, FloatDType, linear, patterns, randn, SparseMask } from '../ts/index';
import { native } from '../ts/native';
import { buildViT, loadTimmViT, ViTConfig } from '../ts/models/vit';
import { entryToTensor, entryValues, readSafetensors } from '../ts/io/safetensors';
import { describeDevice, freshSeed, relativeError, requireFixtures } from './helpers';
import { linearRef } from './reference';

const NOTEBOOK: ViTConfig = {
  img_size: 224, patch_size: 16, embed_dim: 96, depth: 8, num_heads: 8, mlp_ratio: 3, qkv_bias: false, num_classes: 1000, norm_eps: 1e-5,
};
const NOTEBOOK_FILES = ['vit_notebook.weights.safetensors', 'vit_notebook.io.safetensors'];

describeDevice('cpu', 'CUDA graph capture', () => {
  it('capture on a CPU model throws an Error naming capture, and the model still runs', () => {
    const model = buildViT({ ...NOTEBOOK, depth: 1 }, { device: 'cpu', seed: 1 });
    assert.throws(() => model.capture([1, 3, 224, 224]), (e: Error) => e instanceof TypeError && /capture: .*CUDA device/.test(e.message));
    assert.throws(() => captureGraph('cpu', () => 0), (e: Error) => /captureGraph: .*CUDA device/.test(e.message));
    const y = model.forward(randn([1, 3, 224, 224], { seed: 2 }));
    assert.deepEqual(y.shape, [1, 1000]);
    y.dispose();
    model.dispose();
  });
  it('capture refuses a shape the model cannot take', () => {
    const model = buildViT({ ...NOTEBOOK, depth: 1 }, { device: 'cpu', seed: 1 });
    for (const bad of [[1, 3, 224], [0, 3, 224, 224], [1, 1, 224, 224], [1, 3, 64, 64], [1.5, 3, 224, 224]]) {
      assert.throws(() => model.capture(bad), (e: Error) => e instanceof RangeError && e.message.startsWith('VisionTransformer.capture:'));
    }
    model.dispose();
  });
});

describeDevice('cuda:0', 'CUDA graph capture', () => {
  const device = 'cuda:0';

  for (const dtype of ['float32', 'float16'] as FloatDType[]) {
    for (const mechanism of ['memory_efficient', 'vanilla', 'sparse']) {
      it(`the captured notebook ViT (${mechanism}, ${dtype}, B4) equals the plain forward on fresh inputs, replay after replay`, async function () {
        const fixtures = requireFixtures(this, NOTEBOOK_FILES);
        const mask = mechanism === 'sparse' ? SparseMask.fromDense(patterns.vitNotebook(14, 14, 0), undefined, { device }) : undefined;
        const model = await loadTimmViT(path.join(fixtures, 'vit_notebook.weights.safetensors'), NOTEBOOK,
          { device, dtype, attention: mask ? { mechanism, mask } : { mechanism } });
        // a plain forward first: the mask's device lists and the GEMM plans are made on first use
        const warm = randn([4, 3, 224, 224], { device, dtype, seed: 1 });
        model.forward(warm).dispose();
        warm.dispose();
        cuda.synchronize(device);
        const base = cuda.memory(device).allocated;
        const captured = model.capture([4, 3, 224, 224]);
        for (let rep = 0; rep < 3; rep++) {
          const images = randn([4, 3, 224, 224], { device, dtype, seed: freshSeed() });
          const plain = model.forward(images);
          const replay = captured.run(images);
          const err = relativeError(replay.dataSync(), plain.dataSync());
          assert.ok(err <= 1e-6, `replay ${rep}: relative difference ${err} from the plain forward`);
          for (const t of [images, plain, replay]) t.dispose();
        }
        captured.dispose();
        cuda.synchronize(device);
        assert.equal(cuda.memory(device).allocated, base, 'the capture gave its memory back');
        model.dispose();
        mask?.dispose();
      });
    }
  }

  it('the captured forward matches the float64 timm logits (float32, B as in the fixture)', async function () {
    const fixtures = requireFixtures(this, NOTEBOOK_FILES);
    const f = await readSafetensors(path.join(fixtures, 'vit_notebook.io.safetensors'));
    const images = entryToTensor(f.tensors.get('input')!, { device });
    const model = await loadTimmViT(path.join(fixtures, 'vit_notebook.weights.safetensors'), NOTEBOOK, { device, dtype: 'float32' });
    const captured = model.capture(images.shape);
    const logits = captured.run(images);
    const err = relativeError(logits.dataSync(), entryValues(f.tensors.get('logits_f64')!));
    console.log(`      relative error of the replayed logits ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
    // run() without an argument replays on what the static input holds
    const again = captured.run();
    assert.ok(relativeError(again.dataSync(), logits.dataSync()) === 0);
    for (const t of [images, logits, again]) t.dispose();
    captured.dispose();
    assert.throws(() => captured.run(), /CapturedForward.run: it has been disposed/);
    model.dispose();
  });

  it('with NODEFORMERS_GRAPH_FREES_AT_END=1 (the sanitizer runs\' mode) captured chains still equal the eager ones', function () {
    this.timeout(120000);
    for (const which of ['kept', 'reuse', 'embed']) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'tools/graph-memcheck-probe.ts', which], {
        encoding: 'utf8', env: { ...process.env, NODEFORMERS_GRAPH_FREES_AT_END: '1' },
      });
      assert.equal(run.status, 0, `${which}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`probe ${which} \\(frees at the end\\): replay vs eager max \\|diff\\| 0\\n`), run.stdout);
    }
  });

  it('run() refuses inputs of another shape, dtype or device', async () => {
    const model = buildViT({ ...NOTEBOOK, depth: 1 }, { device, dtype: 'float16', seed: 3 });
    const captured = model.capture([2, 3, 224, 224]);
    const wrongShape = randn([1, 3, 224, 224], { device, dtype: 'float16', seed: 1 });
    const wrongDtype = randn([2, 3, 224, 224], { device, dtype: 'float32', seed: 1 });
    const onCpu = randn([2, 3, 224, 224], { dtype: 'float16', seed: 1 });
    assert.throws(() => captured.run(wrongShape), (e: Error) => e instanceof RangeError && /captured shape/.test(e.message));
    assert.throws(() => captured.run(wrongDtype), (e: Error) => e instanceof TypeError && /float16 on cuda:0/.test(e.message));
    assert.throws(() => captured.run(onCpu), (e: Error) => e instanceof TypeError);
    for (const t of [wrongShape, wrongDtype, onCpu]) t.dispose();
    captured.dispose();
    model.dispose();
  });

  it('a captured function that reads to the host throws a clear Error, and the device works afterwards', () => {
    const x = randn([64, 64], { device, seed: 5 });
    assert.throws(() => captureGraph(device, () => add(x, x).dataSync()),
      (e: Error) => /captureGraph: the captured function threw/.test(e.message) && /CUDA graph/.test(e.message));
    const y = add(x, x);
    const xs = x.dataSync(), ys = y.dataSync();
    for (let i = 0; i < xs.length; i++) assert.equal(ys[i], xs[i] * 2);
    x.dispose();
    y.dispose();
  });

  it('captureGraph records a chain of ops that replays on new values of its input', () => {
    const x = randn([1000], { device, seed: 7 });
    add(x, x).dispose(); // warm
    const { graph, result: y } = captureGraph(device, () => add(add(x, x), x));
    const expect = (src: Float32Array) => Array.from(src).map((v) => Math.fround(Math.fround(v + v) + v));
    graph.launch();
    assert.deepEqual(Array.from(y.dataSync()), expect(x.dataSync()));
    const fresh = randn([1000], { device, seed: 8 });
    native().copy(x, fresh); // new values in the graph's input, in place
    graph.launch();
    assert.deepEqual(Array.from(y.dataSync()), expect(fresh.dataSync()));
    graph.dispose();
    assert.throws(() => graph.launch(), /CudaGraph.launch: the graph has been disposed/);
    for (const t of [fresh, y, x]) t.dispose();
  });

  // A GEMM's plan is made on its shape's first call, by timing candidates on the stream;
  // inside a capture the stream records, so a plan first needed there keeps the heuristic's
  // pick untimed (native/cuda/cublaslt.cc), and the eager calls after it use that same plan.
  it('a linear of a shape first met inside a capture records and replays, equal to the eager call after it', () => {
    const [m, k, n] = [331, 47, 23]; // a shape no other test uses, so its plan is not made yet
    const x = randn([m, k], { device, seed: freshSeed() });
    const w = randn([n, k], { device, seed: freshSeed() });
    const b = randn([n], { device, seed: freshSeed() });
    const { graph, result: y } = captureGraph(device, () => linear(x, w, b));
    graph.launch();
    const replayed = y.dataSync();
    const eager = linear(x, w, b);
    assert.deepEqual(Array.from(replayed), Array.from(eager.dataSync()));
    const ref = linearRef(x.dataSync(), m, k, w.dataSync(), n, b.dataSync());
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(replayed[i] - ref[i]) / (1 + Math.abs(ref[i])));
    assert.ok(worst < 1e-5, `replayed linear is off the float64 reference by ${worst}`);
    graph.dispose();
    for (const t of [eager, y, b, w, x]) t.dispose();
  });

  // A capture's allocations get memory only when its graph runs. These cases free such an
  // address before that, or never give it memory; compute-sanitizer (tools/sanitize-cuda.sh,
  // memcheck-graphs) reports any CUDA call among them that the driver refuses.
  it('a tensor made inside a capture that threw has no memory: an op on it throws, and disposing it frees nothing else', () => {
    const x = randn([256], { device, seed: freshSeed() });
    add(x, x).dispose();
    let leaked: ReturnType<typeof add> | null = null;
    assert.throws(() => captureGraph(device, () => {
      leaked = add(x, x);
      return leaked.dataSync();
    }), /captureGraph: the captured function threw/);
    const orphan = leaked as unknown as ReturnType<typeof add>;
    assert.throws(() => add(orphan, x), /capture that failed.*no memory/);
    assert.throws(() => orphan.dataSync(), /capture that failed.*no memory/);
    // A later capture may hand out the same addresses: disposing the orphan must not free them.
    const { graph, result: y } = captureGraph(device, () => add(add(x, x), x));
    // Nor is it a spare storage to give new memory to before it is disposed.
    assert.throws(() => native().allocate(device, 64, orphan._storage!), /allocate: spare is a Storage still in use/);
    orphan.dispose();
    graph.launch();
    const xs = x.dataSync();
    assert.deepEqual(Array.from(y.dataSync()), Array.from(xs).map((v) => Math.fround(Math.fround(v + v) + v)));
    graph.dispose();
    for (const t of [y, x]) t.dispose();
  });

  it('an output dropped before its graph first runs is freed after that run; a graph disposed unlaunched leaves its outputs without memory', () => {
    const x = randn([256], { device, seed: freshSeed() });
    add(x, x).dispose();
    const kept = captureGraph(device, () => add(x, x));
    const dropped = captureGraph(device, () => add(x, x));
    dropped.result.dispose(); // before any launch: the free waits for the first one
    dropped.graph.launch();
    dropped.graph.launch();
    kept.graph.dispose(); // never launched
    assert.throws(() => kept.result.dataSync(), /graph disposed before it ever ran.*no memory/);
    kept.result.dispose();
    const y = add(x, x);
    const xs = x.dataSync();
    assert.deepEqual(Array.from(y.dataSync()), Array.from(xs).map((v) => Math.fround(v + v)));
    dropped.graph.dispose();
    native().cudaGraphMemTrim(device);
    for (const t of [y, x]) t.dispose();
  });
});
