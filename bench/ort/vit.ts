// The notebook ViT (float32) on the CPU beside onnxruntime-node on its ONNX export, in one
// process, alternating, same weights and input; checks the logits agree and prints the table.
// Steps: (1) this script writes bench/ort/notebook_vit/ (model.safetensors, config.json) when
// absent; (2) on a machine with PyTorch + timm: python3 tools/export_vit_onnx.py bench/ort/notebook_vit;
// (3) cd bench/ort && npm install --ignore-scripts; (4) node --import tsx bench/ort/vit.ts [rounds].
// Without the .onnx file or onnxruntime-node it says which is missing and exits 0.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { buildViT, cpu, noGrad, rand, saveCheckpoint, tidy } from '../../ts/index';
import { NOTEBOOK_VIT } from '../../ts/bench/suite/vit';

const DIR = path.join(__dirname, 'notebook_vit');
const ONNX = path.join(DIR, 'model.onnx');
const rounds = Number(process.argv[2] ?? 9);
const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const model = buildViT(NOTEBOOK_VIT, { seed: 1 });
  model.eval();
  if (!fs.existsSync(path.join(DIR, 'model.safetensors'))) {
    await saveCheckpoint(DIR, { model });
    fs.writeFileSync(path.join(DIR, 'config.json'), JSON.stringify(NOTEBOOK_VIT));
    console.log(`wrote ${DIR} (the weights tools/export_vit_onnx.py exports)`);
  }
  if (!fs.existsSync(ONNX)) return console.log(`skipped: ${ONNX} is absent (python3 tools/export_vit_onnx.py ${DIR} on a machine with torch + timm)`);
  // The few onnxruntime-node names used here (its types are not installed beside nodeformers).
  interface OrtTensor { data: unknown }
  interface Ort {
    Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
    InferenceSession: { create(file: string, options: object): Promise<{ inputNames: string[]; outputNames: string[]; run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
  }
  let ort: Ort;
  try {
    ort = createRequire(path.join(__dirname, 'package.json'))('onnxruntime-node');
  } catch {
    return console.log('skipped: onnxruntime-node is not installed (cd bench/ort && npm install --ignore-scripts)');
  }
  const spin = process.env.ORT_SPIN === '1' ? '1' : '0';
  const session = await ort.InferenceSession.create(ONNX, { executionProviders: ['cpu'], intraOpNumThreads: cpu.numThreads(), extra: { session: { intra_op: { allow_spinning: spin } } } });
  console.log(`| case (float32, ${cpu.numThreads()} threads, GEMM ${cpu.gemmKernel()}) | nodeformers ms | onnxruntime-node ms | ratio | max |Δ logit| |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const batch of [1, 8]) {
    const x = rand([batch, 3, 224, 224], { seed: 2 });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, [batch, 3, 224, 224]) };
    const ours = noGrad(() => tidy(() => model.forward(x).dataSync() as Float32Array));
    const theirs = (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
    const [a, b]: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) {
      let t0 = process.hrtime.bigint();
      noGrad(() => model.forward(x).dispose()); cpu.synchronize();
      a.push(Number(process.hrtime.bigint() - t0) / 1e6);
      t0 = process.hrtime.bigint();
      await session.run(feeds);
      b.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(`| notebook ViT, batch ${batch} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${(median(a) / median(b)).toFixed(2)} | ${diff.toExponential(1)} |`);
    x.dispose();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
