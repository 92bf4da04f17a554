// The training benchmarks (ts/bench/suite/training.ts, attention_backward.ts, targets.ts):
// each part run on the CPU at tiny sizes, where every row is measured or says why it cannot
// be (a gradient, kernel or optimizer this build lacks: never a made-up figure); issue 25's
// targets checked on made-up measurements; the peers' row names against the tables'; the
// CLI's --training and --no-training, the latter keeping an earlier run's training figures.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Measurement } from '../ts/bench';
import { attentionBackwardCases, backwardLabel, BACKWARD_BASELINE, benchAttentionBackward, forwardFlops } from '../ts/bench/suite/attention_backward';
import { trainingTables } from '../ts/bench/suite/run';
import { checkTargets, formatTargets, trainingTargets } from '../ts/bench/suite/targets';
import { benchTraining, FB_BASELINE, fbLabel, scalingLabel, STEP_COMPILE, STEP_EAGER, stepLabel } from '../ts/bench/suite/training';
import { optionalExport, skipNote, SUITE_OF } from '../ts/bench/suite/training_kit';
import type { ViTConfig } from '../ts/index';

const ROOT = path.join(__dirname, '..');
const TINY: ViTConfig = { img_size: 32, patch_size: 16, embed_dim: 16, depth: 1, num_heads: 2, mlp_ratio: 2, qkv_bias: false, num_classes: 4 };
/** What a row that did not run may say: this build lacks a piece, or the device lacks memory. */
const WHY_NOT = /: (not available|out of memory): \S/;

const m = (label: string, subLabel: string, seconds: number, memory: number | null, params = {}, description = '') =>
  new Measurement([seconds], 1, label, subLabel, description, 'cuda:0', memory, params);

describe('bench: the training section on the CPU (tiny shapes)', function () {
  this.timeout(120000);

  it('times the ViT forward + backward of each mechanism and a training step, or says why each cannot run', () => {
    const lines: string[] = [];
    const r = benchTraining({
      device: 'cpu', dtypes: ['float32'], batch: 2, minRunTime: 0.01, peers: false, compile: false, quick: true, config: TINY,
      parts: ['fb', 'step'], log: (line) => lines.push(line),
    });
    const rows = [
      ...['vanilla', 'sparse', 'memory_efficient'].map((mech) => ({ label: fbLabel('float32', 2, 'cpu'), subLabel: `nodeformers ${mech}`, suite: SUITE_OF.fb })),
      { label: stepLabel('float32', 2, 'cpu'), subLabel: 'nodeformers memory_efficient', suite: SUITE_OF.step },
    ];
    for (const row of rows) {
      const measured = r.measurements.filter((x) => x.label === row.label && x.subLabel === row.subLabel);
      const notes = r.skipped.filter((s) => s.startsWith(`${row.label} / ${row.subLabel}: `));
      assert.equal(measured.length + notes.length, 1, `${row.label} / ${row.subLabel}: one figure or one note, got ${measured.length} and ${JSON.stringify(notes)}`);
      if (notes.length > 0) assert.match(notes[0], WHY_NOT);
      for (const x of measured) {
        assert.ok(x.median > 0 && x.measurements >= 3, `${x.subLabel}: ${x.median}`);
        assert.equal(x.params.suite, row.suite);
        assert.equal(x.peakMemoryBytes, null, 'the CPU has no pool counters');
      }
    }
    assert.ok(r.skipped.every((s) => WHY_NOT.test(s)), r.skipped.join('\n'));
    assert.equal(r.torch, null);
    assert.ok(lines.some((l) => /^Benchmarking Sparse ViT, forward \+ backward/.test(l)), lines.join('\n'));
  });

  it('sweeps the attention backward (backward alone and forward + backward), or says why it cannot', () => {
    const cases = attentionBackwardCases({ device: 'cpu', dtypes: ['float32'], quick: true });
    assert.deepEqual(cases, [{ B: 1, N: 64, H: 2, D: 16, dtype: 'float32', causal: false, mechanism: 'memory_efficient' }]);
    const r = benchAttentionBackward({ device: 'cpu', dtypes: ['float32'], quick: true, minRunTime: 0.01, peers: false, log: () => undefined });
    for (const kind of ['backward', 'f+b'] as const) {
      const label = backwardLabel(kind, cases[0], 'cpu');
      const measured = r.measurements.filter((x) => x.label === label);
      const notes = r.skipped.filter((s) => s.startsWith(`${label} / nodeformers memory_efficient / N=64: `));
      assert.equal(measured.length + notes.length, 1, `${kind}: ${JSON.stringify(r.skipped)}`);
      if (notes.length > 0) assert.match(notes[0], WHY_NOT);
      for (const x of measured) {
        const flops = (kind === 'backward' ? 2.5 : 3.5) * 4 * 1 * 2 * 64 * 64 * 16;
        assert.ok(Math.abs((x.params.TFLOPs as number) - flops / x.median / 1e12) < 1e-12);
        assert.equal(x.params.suite, SUITE_OF.attention);
      }
    }
  });

  it('the sweep covers N 512..16384, D 64 and 128, causal or not, in the 16-bit dtypes on CUDA; a causal forward is half the flops', () => {
    const cases = attentionBackwardCases({ device: 'cuda:0', dtypes: ['float16', 'float32'], quick: false });
    assert.deepEqual([...new Set(cases.map((c) => c.N))], [512, 1024, 2048, 4096, 8192, 16384]);
    assert.deepEqual([...new Set(cases.map((c) => c.D))], [64, 128]);
    assert.deepEqual([...new Set(cases.map((c) => `${c.dtype} ${c.causal} B${c.B} H${c.H}`))], ['float16 false B8 H16', 'float16 true B8 H16']);
    assert.equal(forwardFlops({ B: 8, H: 16, N: 4096, D: 64, causal: false }), 4 * 8 * 16 * 4096 * 4096 * 64);
    assert.equal(forwardFlops({ B: 8, H: 16, N: 4096, D: 64, causal: true }), 2 * 8 * 16 * 4096 * 4096 * 64);
  });

  it('skipNote tells a missing piece from a failure, and optionalExport finds what the index exports', () => {
    assert.equal(skipNote(Object.assign(new Error('cuda: out of memory\nmore'), { code: 'ERR_CUDA_OOM' })), 'out of memory: cuda: out of memory');
    assert.equal(skipNote(new TypeError('patchEmbed: has no gradient yet and an input requires grad')), 'not available: patchEmbed: has no gradient yet and an input requires grad');
    assert.equal(skipNote(new RangeError('linear: bad shape')), 'failed: linear: bad shape');
    assert.equal(typeof optionalExport('buildViT'), 'function');
    assert.equal(optionalExport('NoSuchExport'), null);
  });
});

describe('bench: issue 25 targets', () => {
  const dev = 'cuda:0' as const;
  const fb16 = fbLabel('float16', 64, dev), fb32 = fbLabel('float32', 64, dev);
  const attn64 = backwardLabel('backward', { B: 8, H: 16, D: 64, dtype: 'float16', causal: false }, dev);
  const measured = [
    m(fb16, 'nodeformers memory_efficient', 0.004, 100e6), m(fb16, 'PyTorch timm torch.compile', 0.01, 300e6), m(fb16, FB_BASELINE, 0.012, 200e6),
    m(fb16, 'nodeformers sparse', 0.003, 90e6),
    m(fb32, 'nodeformers memory_efficient', 0.02, 500e6), m(fb32, FB_BASELINE, 0.025, 400e6),
    m(attn64, 'nodeformers memory_efficient', 0.0035, null, {}, 'N=4096'), m(attn64, BACKWARD_BASELINE, 0.003, null, {}, 'N=4096'),
    m(attn64, BACKWARD_BASELINE, 1, null, {}, 'N=512'),
    m(stepLabel('float16', 64, dev), 'nodeformers memory_efficient', 0.02, 1e9, { batch: 64 }), m(stepLabel('float16', 64, dev), STEP_EAGER, 0.04, 2e9),
  ];
  const rows = checkTargets(trainingTargets(dev, 64), measured);
  const at = (name: string) => rows.find((r) => r.target.case === name)!;
  const near = (a: number | null, b: number) => a !== null && Math.abs(a - b) < 1e-12;

  it('takes ours / the peer in time or memory and holds it to the bound', () => {
    const f16 = at('notebook ViT f+b, float16, memory_efficient');
    assert.ok(near(f16.must.ratio, 0.4) && near(f16.aim.ratio, 0.4));
    assert.deepEqual([f16.must.met, f16.aim.met], [true, true]);
    const f32 = at('notebook ViT f+b, float32, memory_efficient');
    assert.ok(near(f32.must.ratio, 0.8));
    assert.deepEqual([f32.must.met, f32.aim.met], [true, false]);
    const sparse = at('sparse ViT f+b vs memory_efficient f+b, float16');
    assert.ok(near(sparse.must.ratio, 0.75));
    assert.deepEqual([sparse.must.met, sparse.aim.met], [true, false]);
    const mem = at('peak memory of f+b, float32, memory_efficient');
    assert.ok(near(mem.must.ratio, 1.25));
    assert.equal(mem.must.met, false);
    const attn = at('attention backward, B8 H16 N4096 D64, float16');
    assert.ok(near(attn.must.ratio, 3.5 / 3), 'the N=4096 row, not N=512');
    assert.equal(attn.must.met, false, '0.857 x flash throughput is under 0.9 x');
    assert.deepEqual([attn.aim.peer, attn.aim.met], [null, null]);
    const step = at('training step, notebook ViT, B64');
    assert.ok(near(step.must.ratio, 0.5));
    assert.deepEqual([step.must.met, step.aim.peer], [true, null]);
    assert.equal(at('scaling f+b, sparse, float16, batch 8').ours, null);
  });

  it('prints one markdown row a case: ours, then each bound with its ratio and verdict, or what was not measured', () => {
    const text = formatTargets(rows);
    assert.match(text, /\| notebook ViT f\+b, float16, memory_efficient \| 4\.000 ms, 100\.0 MB \| ≤ torch\.compile f\+b: 0\.40 x PyTorch timm torch\.compile \(10\.000 ms\): \*\*met\*\* \|/);
    assert.match(text, /\| peak memory of f\+b, float32, memory_efficient \| [^|]+ \| ≤ PyTorch's \(eager SDPA\): 1\.25 x PyTorch timm eager SDPA \(400\.0 MB\): \*\*missed\*\* \|/);
    assert.match(text, /\| training step, notebook ViT, B64 \| 20\.000 ms, 3200 images\/s, 1000\.0 MB \| [^|]+\*\*met\*\* \| ≥ torch\.compile: PyTorch timm torch\.compile \(fused AdamW, autocast float16, GradScaler\) not measured \|/);
    assert.match(text, /\| scaling f\+b, sparse, float16, batch 8 \| not measured \|/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| case') && !l.startsWith('| ---')).length, trainingTargets(dev, 64).length);
  });

  it("trainingTables: the forward + backward table against timm eager SDPA with memory, the step's, the backward's against flash, then the targets", () => {
    const tables = trainingTables(measured.map((x) => x.relabel({ params: { ...x.params, suite: x.label === attn64 ? SUITE_OF.attention : x.label.startsWith('Training') ? SUITE_OF.step : SUITE_OF.fb } })), dev, 64);
    assert.equal(tables.length, 4);
    const [fb, step, attn, targets] = tables.map((t) => (typeof t === 'string' ? t : t.toMarkdown()));
    assert.match(fb, /\*\*ViT forward \+ backward, float16, batch 64, cuda:0\*\* \(median, ms; \(x\) = time \/ time of PyTorch timm eager SDPA\)/);
    assert.match(fb, /\| nodeformers memory_efficient \| 4\.00 \(0\.33x\) \| 100\.0 MB \|/);
    assert.match(step, /time of PyTorch timm eager \(fused AdamW/);
    assert.match(attn, /\| nodeformers memory_efficient \| 3\.50 \(1\.17x\) \| {2}\|/);
    assert.match(targets, /^\*\*Issue 25 targets\*\*/);
    assert.deepEqual(trainingTables([], dev, 64), []);
    assert.deepEqual(trainingTables([], dev, 64, { targets: true }), [formatTargets(checkTargets(trainingTargets(dev, 64), []))]);
  });

  it('the labels name the scaling case and the step as the tables do', () => {
    assert.equal(scalingLabel(dev), 'Scaling forward + backward: ViT patch 2 (12545 tokens), float16, batch 8, cuda:0');
    assert.equal(stepLabel('float16', 64, dev), 'Training step: AdamW, float16 with loss scaling, batch 64, cuda:0');
  });
});

describe('bench: the training peers (Python) and the CLI', () => {
  it("the peers' row names are the ones the tables and targets look for", () => {
    const training = fs.readFileSync(path.join(ROOT, 'bench', 'peers', 'training.py'), 'utf8');
    for (const name of [STEP_EAGER, STEP_COMPILE, FB_BASELINE, 'PyTorch timm torch.compile']) {
      assert.ok(training.includes(`"${name.replace(/^PyTorch /, '')}"`), `training.py names '${name}'`);
    }
    for (const variant of ['sdpa', 'sdpa_masked', 'flex', 'compile']) assert.match(training, new RegExp(`"${variant}": "timm`));
    const backward = fs.readFileSync(path.join(ROOT, 'bench', 'peers', 'attention_backward.py'), 'utf8');
    assert.match(backward, /row\[f"backward \{name\}"\], row\[f"f\+b \{name\}"\]/);
    assert.match(backward, /"flash": SDPBackend\.FLASH_ATTENTION/);
    assert.match(backward, /"cudnn": SDPBackend\.CUDNN_ATTENTION/);
  });

  const cli = (cwd: string, ...args: string[]) => {
    const addon = process.env.NODEFORMERS_ADDON;
    const env = { ...process.env, NODEFORMERS_CLI: 'ts', CUDA_VISIBLE_DEVICES: '', NODEFORMERS_REQUIRE_CUDA: '', ...(addon ? { NODEFORMERS_ADDON: path.resolve(addon) } : {}) };
    return execFileSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), 'bench', '--quick', '--no-sweeps', '--no-peers', '--no-baseline', '--batch', '1', ...args],
      { cwd, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  };

  it('`bench --training fb,attention` runs section 5 alone and records its parts; a figure or a reason for each row', function () {
    this.timeout(120000);
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-train-'));
    try {
      const json = path.join(cwd, 'r.json');
      const out = cli(cwd, '--no-vit', '--training', 'fb,attention', '--attention', 'memory_efficient', '--json', json);
      assert.match(out, /== 5\. Training \(fb, attention\), batch 1, cpu/);
      const record = JSON.parse(fs.readFileSync(json, 'utf8'));
      assert.deepEqual(record.options.training, ['fb', 'attention']);
      const suites = new Set(record.measurements.map((x: Measurement) => x.params.suite));
      assert.ok(!suites.has(SUITE_OF.step));
      const fbRow = `${fbLabel('float32', 1, 'cpu')} / nodeformers memory_efficient`;
      assert.ok(suites.has(SUITE_OF.fb) || record.skipped.some((s: string) => s.startsWith(`${fbRow}: not available`)), record.skipped.join('\n'));
      assert.ok(suites.has(SUITE_OF.attention) || record.skipped.some((s: string) => s.startsWith('attention backward, B 1, H 2, D 16, float32, cpu')));
      assert.match(out, /\*\*Issue 25 targets\*\*/);
      assert.throws(() => cli(cwd, '--training', 'fb,bogus'), /--training takes fb, step, attention, got 'fb,bogus'/);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('`bench --no-training` keeps the training figures an earlier run left in the same results file', function () {
    this.timeout(120000);
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-keep-'));
    try {
      const json = path.join(cwd, 'r.json');
      const earlier = new Measurement([0.5], 1, fbLabel('float32', 1, 'cpu'), 'nodeformers vanilla', '', 'cpu', null, { suite: SUITE_OF.fb, model: 'vit', mechanism: 'vanilla' });
      fs.writeFileSync(json, JSON.stringify({ measurements: [earlier.toJSON()], skipped: [] }));
      cli(cwd, '--no-training', '--attention', 'memory_efficient', '--json', json);
      const record = JSON.parse(fs.readFileSync(json, 'utf8'));
      const kept = record.measurements.filter((x: Measurement) => x.params.suite === SUITE_OF.fb);
      assert.deepEqual(kept.map((x: Measurement) => [x.label, x.subLabel, x.times]), [[earlier.label, earlier.subLabel, [0.5]]]);
      assert.ok(record.measurements.some((x: Measurement) => x.label === 'ViT forward, float32, batch 1, cpu'), 'and the ViT forward of this run');
      assert.deepEqual(record.options.training, []);
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
