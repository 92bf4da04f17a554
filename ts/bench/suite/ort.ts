// The CPU peer (issue 28): the notebook ViT and ViT-S/16 (float32) here and in onnxruntime-node
// on their ONNX export, in one process, with the same weights and input. The notebook ViT is
// ../shared/fixtures' vit_notebook (timm's weights and timm's own torch.onnx export); a model
// without a fixture gets a directory under bench/ort with weights from a fixed seed and
// model.onnx by tools/export_vit_onnx.py (PyTorch), made when absent. The logits of the two
// engines must agree. The timing alternates
// blocks of runs (ours, then theirs) so that neither engine's threads run during the other's
// block, and reports each one's median over the blocks. onnxruntime-node is installed for
// benchmarks only (bench/ort/package.json, `npm install --ignore-scripts`), never a dependency.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { noGrad } from '../../autograd';
import { cpu } from '../../cpu';
import { buildViT, loadTimmViT, ViTConfig, VisionTransformer } from '../../models/vit';
import { saveCheckpoint } from '../../optim/checkpoint';
import { rand } from '../../tensor';
import { NOTEBOOK_VIT } from './vit';

/** timm's vit_small_patch16_224. */
export const VIT_SMALL: ViTConfig = { img_size: 224, patch_size: 16, embed_dim: 384, depth: 12, num_heads: 6, mlp_ratio: 4, qkv_bias: true, num_classes: 1000 };

/** fixture: the name of a model in the fixtures directory (<fixture>.weights.safetensors, <fixture>.onnx). */
export interface OrtCase { name: string; model: string; config: ViTConfig; batch: number; fixture?: string }
export const ORT_CASES: readonly OrtCase[] = [
  { name: 'notebook ViT, batch 1', model: 'notebook_vit', config: NOTEBOOK_VIT, batch: 1, fixture: 'vit_notebook' },
  { name: 'notebook ViT, batch 8', model: 'notebook_vit', config: NOTEBOOK_VIT, batch: 8, fixture: 'vit_notebook' },
  { name: "ViT-S/16 (timm's vit_small_patch16_224), batch 1", model: 'vit_small_patch16_224', config: VIT_SMALL, batch: 1 },
];

export interface OrtRow { name: string; ours: number; theirs: number; ratio: number; maxLogitDiff: number; blocks: number; runsPerBlock: number }
export interface OrtResult { rows: OrtRow[]; skipped: string[]; ortVersion: string | null; threads: number; gemm: string }

// The few onnxruntime-node names used here (its types are not installed beside nodeformers).
interface OrtTensor { data: unknown }
interface OrtSession { inputNames: string[]; outputNames: string[]; run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(file: string, options: object): Promise<OrtSession> };
  env?: { versions?: { common?: string } };
}

function loadOrt(root: string): Ort | null {
  for (const from of [path.join(root, 'bench', 'ort', 'package.json'), path.join(root, 'package.json')]) {
    try {
      return createRequire(from)('onnxruntime-node') as Ort;
    } catch {
      // next place
    }
  }
  return null;
}

interface Prepared { onnx: string; model: VisionTransformer }

/** The model and its ONNX file: the fixture's, or a directory made (weights, then the export) where absent; or why not. */
async function prepare(root: string, c: OrtCase, log: (line: string) => void): Promise<Prepared | { skipped: string }> {
  if (c.fixture) {
    const fixtures = process.env.NODEFORMERS_FIXTURES ?? path.join(root, '..', 'shared', 'fixtures');
    const weights = path.join(fixtures, `${c.fixture}.weights.safetensors`), onnx = path.join(fixtures, `${c.fixture}.onnx`);
    if (!fs.existsSync(weights) || !fs.existsSync(onnx)) return { skipped: `${c.name}: the fixture ${c.fixture} (.weights.safetensors, .onnx) is not in ${fixtures}` };
    return { onnx, model: await loadTimmViT(weights, c.config) };
  }
  const dir = path.join(root, 'bench', 'ort', c.model);
  const weights = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(weights)) {
    const model = buildViT(c.config, { seed: 1 });
    await saveCheckpoint(dir, { model });
    model.dispose();
    fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(c.config)}\n`);
  }
  const onnx = path.join(dir, 'model.onnx');
  if (!fs.existsSync(onnx)) {
    const python = process.env.NODEFORMERS_PYTHON ?? 'python3';
    try {
      log(`exporting ${c.model} to ONNX: ${python} tools/export_vit_onnx.py ${path.relative(root, dir)}`);
      execFileSync(python, [path.join(root, 'tools', 'export_vit_onnx.py'), dir], { stdio: 'pipe' });
    } catch (e) {
      return { skipped: `${c.model}: no ${path.relative(root, onnx)} and its export failed (${python} with torch and safetensors; NODEFORMERS_PYTHON picks one): ${String((e as Error).message).split('\n')[0]}` };
    }
  }
  return { onnx, model: buildViT(c.config, { seed: 1 }) };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Times every case; `rounds` blocks per engine, each of `runs` runs. */
export async function benchOnnxruntime(opts: { root: string; rounds?: number; runs?: number; cases?: readonly OrtCase[]; log: (line: string) => void }): Promise<OrtResult> {
  const { root, log } = opts;
  const rounds = opts.rounds ?? 7, runs = opts.runs ?? 3;
  const result: OrtResult = { rows: [], skipped: [], ortVersion: null, threads: cpu.numThreads(), gemm: cpu.gemmKernel() };
  const ort = loadOrt(root);
  if (!ort) {
    result.skipped.push('onnxruntime-node is not installed (cd bench/ort && npm install --ignore-scripts)');
    return result;
  }
  result.ortVersion = ort.env?.versions?.common ?? null;
  for (const c of opts.cases ?? ORT_CASES) {
    const prepared = await prepare(root, c, log);
    if ('skipped' in prepared) {
      result.skipped.push(prepared.skipped);
      continue;
    }
    // ORT's intra-op threads spin after a run by default; off, so its block leaves our cores free.
    const session = await ort.InferenceSession.create(prepared.onnx, {
      executionProviders: ['cpu'], intraOpNumThreads: cpu.numThreads(), extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    const { model } = prepared;
    model.eval();
    const size = c.config.img_size ?? 224;
    const x = rand([c.batch, 3, size, size], { seed: 2 });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, [c.batch, 3, size, size]) };
    const ourLogits = async () => {
      const y = noGrad(() => model.forward(x));
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    };
    const ours = await ourLogits();
    const theirs = (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
    const a: number[] = [], b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let t0 = process.hrtime.bigint();
      for (let i = 0; i < runs; i++) noGrad(() => model.forward(x).dispose());
      cpu.synchronize();
      a.push(Number(process.hrtime.bigint() - t0) / 1e6 / runs);
      t0 = process.hrtime.bigint();
      for (let i = 0; i < runs; i++) await session.run(feeds);
      b.push(Number(process.hrtime.bigint() - t0) / 1e6 / runs);
    }
    const row = { name: c.name, ours: median(a), theirs: median(b), ratio: median(a) / median(b), maxLogitDiff: diff, blocks: rounds, runsPerBlock: runs };
    log(`${row.name}: nodeformers ${row.ours.toFixed(1)} ms, onnxruntime-node ${row.theirs.toFixed(1)} ms (${row.ratio.toFixed(2)}x), max |logit diff| ${diff.toExponential(1)}`);
    result.rows.push(row);
    x.dispose();
    model.dispose();
  }
  return result;
}

/** The markdown table of a result. */
export function ortTable(r: OrtResult): string {
  const head = `| case (float32, ${r.threads} threads, GEMM ${r.gemm}) | nodeformers ms | onnxruntime-node ${r.ortVersion ?? ''} ms | ratio | max abs logit diff |`;
  const rows = r.rows.map((x) => `| ${x.name} | ${x.ours.toFixed(1)} | ${x.theirs.toFixed(1)} | ${x.ratio.toFixed(2)} | ${x.maxLogitDiff.toExponential(1)} |`);
  return [head, '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
