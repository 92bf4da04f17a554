// The benchmarking API: the timer's statistics and block sizing on synthetic times, the
// seed's toString, compare(), the JSON/markdown/CSV writers, a sweep end to end on the CPU
// with the OOM skip, the plots, hostBenchmark, the CLI's info and bench (where it writes, the
// baseline it compares with) and the BENCHMARKS.md section.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attentionMechanisms, buildViT, rand, SparseMask, sweep, ViTConfig } from '../ts/index';
import {
  chooseBlockSize, compare, fromJSON, hostBenchmark, Measurement, plotMeasurements, quantile, runSweep, summarize, timeBlocks, toCSV,
  toJSON, toMarkdown,
} from '../ts/bench';
import { formatInfo, info } from '../ts/bench/info';
import { baselineFile, compareToBaseline, formatBaseline, gpuKind } from '../ts/bench/suite/baseline';
import { DEFAULT_OUT_DIR, gitCommit, MARK_BEGIN, MARK_END, replaceMarked } from '../ts/bench/suite/run';
import { sparseViTAttention } from '../ts/bench/suite/vit';
import { native } from '../ts/native';

const ROOT = path.join(__dirname, '..');

function oom(): Error {
  return Object.assign(new Error('cuda: out of memory allocating 1073741824 bytes (512 free)'), { code: 'ERR_CUDA_OOM' });
}

describe('bench: timer statistics (pure)', () => {
  it('quantile and summarize follow numpy (linear interpolation) on [1, 2, 3, 4]', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    const s = summarize([4, 1, 3, 2]);
    assert.deepEqual(s, { median: 2.5, q1: 1.75, q3: 3.25, iqr: 1.5, mean: 2.5, measurements: 4 });
    assert.deepEqual(summarize([5]), { median: 5, q1: 5, q3: 5, iqr: 0, mean: 5, measurements: 1 });
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('Measurement sorts its times and reports the same statistics', () => {
    const m = new Measurement([3, 1, 4, 2], 10, 'f()', '', '', 'cpu', null);
    assert.deepEqual(m.times, [1, 2, 3, 4]);
    assert.equal(m.median, 2.5);
    assert.equal(m.q1, 1.75);
    assert.equal(m.q3, 3.25);
    assert.equal(m.iqr, 1.5);
    assert.equal(m.mean, 2.5);
  });

  it('chooseBlockSize grows 10x until the overhead is below 1e-4 of a block', () => {
    // 1 us of timer overhead, 10 us per run: 1000 runs make a block of 10.001 ms.
    const calls: number[] = [];
    const n = chooseBlockSize((runs) => { calls.push(runs); return 1e-6 + runs * 1e-5; }, 1);
    assert.equal(n, 1000);
    assert.deepEqual(calls, [0, 0, 0, 0, 0, 1, 10, 100, 1000]);
  });

  it('chooseBlockSize stops at one run when one run outlasts minRunTime', () => {
    assert.equal(chooseBlockSize((runs) => 1e-3 + runs * 2, 1), 1);
  });

  it('chooseBlockSize with no overhead needs a block of minRunTime / 1000', () => {
    assert.equal(chooseBlockSize((runs) => runs * 1e-5, 1), 100);
  });

  it('timeBlocks times blocks until minRunTime is spent, and at least 3', () => {
    assert.deepEqual(timeBlocks((runs) => runs * 0.125, 2, 1), [0.125, 0.125, 0.125, 0.125]);
    assert.deepEqual(timeBlocks((runs) => runs * 10, 1, 1), [10, 10, 10]);
  });
});

describe('bench: Measurement', () => {
  it('toString prints the seed format (torch.utils.benchmark), Memory used after it on CUDA', () => {
    const cpu = new Measurement([0.004, 0.001, 0.002, 0.003], 10, 'f(x)', '', 'vanilla, float32, batch 2', 'cpu', null);
    assert.equal(cpu.toString(), [
      'f(x)',
      'vanilla, float32, batch 2',
      '  Median: 2.50 ms',
      '  IQR:    1.50 ms (1.75 to 3.25)',
      '  4 measurements, 10 runs per measurement, cpu',
    ].join('\n'));
    const gpu = new Measurement([31.25e-6, 31.25e-6, 62.5e-6], 1000, 'f(x)', 'memory_efficient', '', 'cuda:0', 38_700_000);
    assert.equal(gpu.toString(), [
      'f(x): memory_efficient',
      '  Median: 31.25 us',
      '  IQR:    15.63 us (31.25 to 46.88)',
      '  3 measurements, 1000 runs per measurement, cuda:0',
      'Memory used: 38.7 MB',
    ].join('\n'));
  });

  it('toJSON / fromJSON round trip, through the object and through the text', () => {
    const m = new Measurement([0.5, 0.25, 1], 7, 'attention', 'vanilla', 'N=197', 'cuda:1', 1234, { N: 197, dtype: 'float16', causal: false });
    for (const back of [Measurement.fromJSON(m.toJSON()), Measurement.fromJSON(JSON.stringify(m))]) {
      assert.deepEqual(back.toJSON(), m.toJSON());
      assert.equal(back.toString(), m.toString());
    }
    const list = [m, new Measurement([2], 1, 'x', '', '', 'cpu', null)];
    assert.deepEqual(fromJSON(toJSON(list)).map((x) => x.toJSON()), list.map((x) => x.toJSON()));
    assert.throws(() => Measurement.fromJSON({ label: 'x' }), /fromJSON: expected json.times to be a non-empty array of numbers/);
  });
});

describe('bench: compare() and the writers', () => {
  const ms = [
    new Measurement([0.002, 0.003], 10, 'ViT', 'vanilla', 'float16', 'cpu', null),
    new Measurement([0.001, 0.001], 10, 'ViT', 'memory_efficient', 'float16', 'cpu', null),
    new Measurement([0.004, 0.004], 10, 'ViT', 'vanilla', 'float32', 'cpu', null),
    new Measurement([0.5e-3], 1, 'softmax', 'nodeformers', '', 'cpu', 2e6, { rows: 4, op: 'a,"b"' }),
  ];

  it('groups by label, rows by sub-label, columns by description, ratios to the first row', () => {
    const c = compare(ms);
    assert.deepEqual(c.groups.map((g) => g.label), ['ViT', 'softmax']);
    const vit = c.groups[0];
    assert.deepEqual(vit.columns, ['float16', 'float32']);
    assert.deepEqual(vit.rows.map((r) => r.subLabel), ['vanilla', 'memory_efficient']);
    assert.deepEqual(vit.rows.map((r) => r.cells.map((x) => x?.ratio ?? null)), [[1, 1], [0.4, null]]);
    assert.equal(vit.baseline, 'vanilla');
  });

  it('takes the baseline by sub-label, and none with baseline: null', () => {
    const c = compare(ms, { baseline: 'memory_efficient' });
    assert.deepEqual(c.groups[0].rows.map((r) => r.cells.map((x) => x?.ratio ?? null)), [[2.5, null], [1, null]]);
    assert.equal(c.groups[1].baseline, null);
    assert.ok([...compare(ms, { baseline: null }).cells()].every((x) => x.ratio === null));
    assert.throws(() => compare([{ median: 1 } as unknown as Measurement]), /compare: expected measurements to be an array of Measurement/);
  });

  it('prints the tables in torch Compare shape', () => {
    assert.equal(compare(ms.slice(0, 3)).toString(), [
      '[--------------------- ViT ---------------------]',
      '                   |      float16  |      float32',
      '  vanilla          | 2.50 (1.00x)  | 4.00 (1.00x)',
      '  memory_efficient | 1.00 (0.40x)  |',
      "Times are medians in milliseconds (ms); (x) = time / time of 'vanilla' in the same column.",
    ].join('\n'));
  });

  it('adds a memory column when asked: the peak, and what a CUDA graph holds', () => {
    const rows = [
      new Measurement([0.001], 1, 'ViT', 'ours', '', 'cuda:0', 38.7e6),
      new Measurement([0.0007], 1, 'ViT', 'ours, CUDA graph', '', 'cuda:0', 0.1e6, { graphMemoryBytes: 86.4e6 }),
      new Measurement([0.002], 1, 'ViT', 'theirs', '', 'cuda:0', null),
    ];
    const text = compare(rows, { memory: true }).toString().split('\n');
    assert.match(text[1], /\| +median +\| +memory$/);
    assert.match(text[2], /ours +\| +1000\.00 \(1\.00x\) +\| +38\.7 MB$/);
    assert.match(text[3], /ours, CUDA graph +\| +700\.00 \(0\.70x\) +\| +0\.1 MB, graph 86\.4 MB$/);
    assert.match(text[4], /theirs +\| +2000\.00 \(2\.00x\) +\|$/);
    assert.match(compare(rows, { memory: true }).toMarkdown(), /\| ours, CUDA graph \| 700\.00 \(0\.70x\) \| 0\.1 MB, graph 86\.4 MB \|/);
    assert.ok(!compare(rows).toString().includes('memory'));
  });

  it('toMarkdown of a comparison and of measurements', () => {
    assert.equal(toMarkdown(compare(ms.slice(0, 2))), [
      '**ViT** (median, ms; (x) = time / time of vanilla)', '',
      '| | float16 |', '| --- | --- |', '| vanilla | 2.50 (1.00x) |', '| memory_efficient | 1.00 (0.40x) |', '',
    ].join('\n'));
    assert.equal(toMarkdown([ms[0], ms[3]]), [
      '| label | sub-label | description | median | IQR | runs | device | memory |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      '| ViT | vanilla | float16 | 2.500 ms | 0.500 ms | 2 x 10 | cpu |  |',
      '| softmax | nodeformers |  | 500.000 us | 0.000 us | 1 x 1 | cpu | 2.0 MB |',
      '',
    ].join('\n'));
  });

  it('toCSV: one row per measurement, params as columns, quoted where needed, ratio for a comparison', () => {
    const two = [new Measurement([0.5, 1], 2, 'a', 'x', '', 'cpu', null), new Measurement([0.25], 1, 'a', 'y', 'd', 'cpu', 8, { op: 'a,"b"' })];
    const header = 'label,sub_label,description,device,median_s,q1_s,q3_s,iqr_s,mean_s,measurements,runs_per_measurement,peak_memory_bytes';
    assert.equal(toCSV(two), [
      `${header},op`,
      'a,x,,cpu,0.75,0.625,0.875,0.25,0.75,2,2,,',
      'a,y,d,cpu,0.25,0.25,0.25,0,0.25,1,1,8,"a,""b"""',
      '',
    ].join('\n'));
    assert.equal(toCSV(compare(two)), [
      `${header},ratio,op`,
      'a,x,,cpu,0.75,0.625,0.875,0.25,0.75,2,2,,1,',
      'a,y,d,cpu,0.25,0.25,0.25,0,0.25,1,1,8,,"a,""b"""',
      '',
    ].join('\n'));
  });
});

describe('bench: runSweep', () => {
  const tiny: ViTConfig = { img_size: 32, patch_size: 16, embed_dim: 16, depth: 1, num_heads: 2, mlp_ratio: 2, num_classes: 4 };

  it('measures a 2-case sweep of a tiny ViT on the CPU, with params and labels from the case', async () => {
    const cases = [...sweep({ attention: [{ mechanism: 'vanilla' }, { mechanism: 'memory_efficient' }] }, tiny)];
    assert.equal(cases.length, 2);
    const images = rand([1, 3, 32, 32], { seed: 0 });
    const { measurements, skipped } = await runSweep(cases, (c) => {
      const model = buildViT(c);
      return { run: () => model.forward(images).dispose(), dispose: () => model.dispose() };
    }, {
      benchmark: { minRunTime: 0.01, warmup: 1 }, label: 'tiny ViT', subLabel: (c) => c.attention!.mechanism!,
      params: (c) => ({ mechanism: c.attention!.mechanism! }),
    });
    images.dispose();
    assert.equal(skipped.length, 0);
    assert.deepEqual(measurements.map((m) => [m.label, m.subLabel, m.params.mechanism]), [
      ['tiny ViT', 'vanilla', 'vanilla'], ['tiny ViT', 'memory_efficient', 'memory_efficient'],
    ]);
    for (const m of measurements) assert.ok(m.median > 0 && m.measurements >= 3 && m.device === 'cpu');
  });

  it('skips a case that runs out of memory with a note, measures the others, disposes every case', async () => {
    const disposed: number[] = [];
    const { measurements, skipped } = await runSweep([{ N: 1 }, { N: 2 }, { N: 3 }], (c) => ({
      run: () => { if (c.N === 2) throw oom(); },
      dispose: () => disposed.push(c.N),
    }), { benchmark: { minRunTime: 0.001, warmup: 0 }, description: (c) => `N=${c.N}` });
    assert.deepEqual(measurements.map((m) => [m.description, m.params.N]), [['N=1', 1], ['N=3', 3]]);
    assert.equal(skipped.length, 1);
    assert.deepEqual(skipped[0].params, { N: 2 });
    assert.match(skipped[0].note, /^out of memory: cuda: out of memory allocating/);
    assert.deepEqual(disposed, [1, 2, 3]);
  });

  it('skips an OOM in the setup too, and lets any other error end the sweep', async () => {
    const r = await runSweep([1, 2], (n) => { if (n === 1) throw oom(); return () => undefined; }, { benchmark: { minRunTime: 0.001 } });
    assert.deepEqual([r.measurements.length, r.skipped.map((s) => s.case)], [1, [1]]);
    await assert.rejects(runSweep([1], () => { throw new RangeError('bad case'); }), /bad case/);
  });

  it('draws no bar on a stream that is not a TTY', async () => {
    let written = '';
    const stream = { isTTY: false, write: (s: string) => { written += s; return true; } } as unknown as NodeJS.WriteStream;
    await runSweep([1, 2], () => () => undefined, { stream, benchmark: { minRunTime: 0.001 } });
    assert.equal(written, '');
  });
});

describe('bench: plots', () => {
  it('writes a line chart over N as non-empty SVG (well-formed XML) and PNG', async function () {
    this.timeout(60000);
    const ms: Measurement[] = [];
    for (const mechanism of ['vanilla', 'memory_efficient']) {
      for (const N of [64, 128, 256]) ms.push(new Measurement([N * 1e-6, N * 1.2e-6, N * 1.1e-6], 1, 'attention', mechanism, `N=${N}`, 'cpu', null, { N, mechanism }));
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-plot-'));
    try {
      const files = await plotMeasurements(ms, { x: 'N', series: 'mechanism', title: 'attention', file: path.join(dir, 'attn.svg') });
      assert.deepEqual(files, { svg: path.join(dir, 'attn.svg'), png: path.join(dir, 'attn.png') });
      const svg = fs.readFileSync(files.svg, 'utf8');
      assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'), 'an <svg> document');
      assert.match(svg, /memory_efficient/);
      // resvg parses the text as XML first: it rejects a document that is not well formed.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Resvg } = require('@resvg/resvg-js');
      assert.doesNotThrow(() => new Resvg(svg));
      assert.throws(() => new Resvg(svg.slice(0, svg.length / 2)));
      const png = fs.readFileSync(files.png);
      assert.ok(png.length > 1000);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const bars = await plotMeasurements(ms.slice(0, 2).map((m, i) => m.relabel({ params: { shape: `[${i}, 8]`, mechanism: 'x' } })),
        { x: 'shape', series: 'mechanism', file: path.join(dir, 'bars') });
      assert.ok(fs.statSync(bars.svg).size > 0 && fs.statSync(bars.png).size > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench: hostBenchmark', () => {
  it('returns sane Benchmark.js statistics for a tiny call', () => {
    let calls = 0;
    const r = hostBenchmark(() => { calls++; }, { name: 'count', maxTime: 0.1, minSamples: 5 });
    assert.equal(r.name, 'count');
    assert.ok(r.mean > 0 && r.mean < 1e-3, `mean ${r.mean}`);
    assert.ok(Math.abs(r.opsPerSec * r.mean - 1) < 1e-6);
    assert.ok(r.samples >= 5 && Number.isFinite(r.rme) && r.rme >= 0 && r.deviation >= 0);
    assert.ok(calls > r.samples);
    assert.match(r.toString(), /^count x [\d,.]+ ops\/sec ±[\d.]+% \(\d+ runs? sampled\)$/);
    assert.throws(() => hostBenchmark(() => { throw new Error('boom'); }, { maxTime: 0.05 }), /boom/);
  });
});

describe('bench: info, the CLI and the bench flow', () => {
  it('info() names the backends and says why CUDA is missing where it is', () => {
    const r = info();
    assert.ok(r.backends.includes('cpu'));
    // Other test files register mechanisms of their own in this process: info lists them all.
    assert.deepEqual(r.mechanisms.map((m) => m.name), attentionMechanisms());
    assert.ok(attentionMechanisms().includes('memory_efficient'));
    const text = formatInfo(r);
    assert.match(text, /^backends: cpu/m);
    if (!native().buildInfo.cuda) assert.match(text, /cuda: not in this build \(no nvcc\/cuBLASLt at build time/);
    assert.match(text, /memory_efficient\n {4}cuda: .*\n {4}cpu: .*D <= 256/);
  });

  for (const from of ['ts', 'dist'] as const) {
    it(`\`nodeformers info\` runs from the repo (${from === 'ts' ? 'tsx on ts/cli.ts' : 'the built dist/cli.js'}) and prints the backends`, function () {
      if (from === 'dist' && !fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) this.skip();
      this.timeout(60000);
      const env = { ...process.env, NODEFORMERS_CLI: from };
      const out = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), 'info'], { env, encoding: 'utf8' });
      assert.match(out, /^nodeformers \d+\.\d+\.\d+/);
      assert.match(out, /^backends: cpu/m);
      assert.match(out, /^attention mechanisms: .*memory_efficient/m);
      const json = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), 'info', '--json'], { env, encoding: 'utf8' }));
      assert.ok(json.backends.includes('cpu'));
    });
  }

  it("the Sparse ViT case is the notebook mask over all 197 tokens as a SparseMask", () => {
    const r = sparseViTAttention('cpu');
    assert.notEqual(typeof r, 'string', String(r));
    const config = r as { mechanism: string; mask: SparseMask };
    assert.equal(config.mechanism, 'sparse');
    assert.ok(config.mask instanceof SparseMask);
    assert.deepEqual(config.mask.shape, [197, 197]);
    assert.ok(Math.abs(config.mask.density - 0.194) < 0.02, `density ${config.mask.density}`);
    config.mask.dispose();
  });

  it('the results name NODEFORMERS_COMMIT when it is set (a device copy of the tree), else git\'s commit', () => {
    const before = process.env.NODEFORMERS_COMMIT;
    try {
      process.env.NODEFORMERS_COMMIT = 'abc1234-dirty';
      assert.equal(gitCommit(), 'abc1234-dirty');
      delete process.env.NODEFORMERS_COMMIT;
      const fromGit = gitCommit();
      // A clone has a HEAD; a copy without git metadata gives null, never a made-up value.
      if (fromGit !== null) assert.match(fromGit, /^[0-9a-f]{7,}$/);
    } finally {
      if (before === undefined) delete process.env.NODEFORMERS_COMMIT;
      else process.env.NODEFORMERS_COMMIT = before;
    }
  });

  it('`nodeformers bench` writes under --out or ./bench-results of the current directory, never the package, and compares with --baseline', function () {
    this.timeout(120000);
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nf-bench-cwd-'));
    const before = fs.readdirSync(path.join(ROOT, 'bench'));
    // The child runs elsewhere: a relative NODEFORMERS_ADDON (CI's node-gyp run) is this process's.
    const addon = process.env.NODEFORMERS_ADDON;
    const addonFromHere = addon ? { NODEFORMERS_ADDON: path.resolve(addon) } : {};
    // The run on the CPU wherever it runs (its file is named by its device): no GPU visible to the child.
    const cpuOnly = { CUDA_VISIBLE_DEVICES: '', NODEFORMERS_REQUIRE_CUDA: '' };
    const bench = (...args: string[]) => execFileSync(process.execPath, [path.join(ROOT, 'bin', 'nodeformers.js'), 'bench', '--quick', '--no-sweeps',
      '--no-training', '--no-peers', '--batch', '1', '--attention', 'memory_efficient', ...args], { cwd, encoding: 'utf8', env: { ...process.env, NODEFORMERS_CLI: 'ts', ...addonFromHere, ...cpuOnly } });
    try {
      assert.equal(DEFAULT_OUT_DIR, 'bench-results');
      const first = bench();
      const written = fs.readdirSync(path.join(cwd, 'bench-results'));
      assert.ok(written.some((f) => /^\d{4}-\d\d-\d\d-cpu\.json$/.test(f)) && written.some((f) => f.endsWith('-vit.svg')), written.join(', '));
      assert.match(first, /no baseline for cpu: bench\/baselines\/cpu\.json is absent here/);
      const json = path.join(cwd, 'bench-results', written.find((f) => f.endsWith('cpu.json'))!);
      const second = bench('--out', path.join(cwd, 'elsewhere'), '--baseline', json);
      assert.ok(fs.readdirSync(path.join(cwd, 'elsewhere')).some((f) => f.endsWith('cpu.json')));
      assert.match(second, new RegExp(`Against the baseline ${json.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d{4}-\\d\\d-\\d\\d, commit .*\\): 1 case in both`));
      assert.match(second, /\| ViT forward, float32, batch 1, cpu \/ nodeformers memory_efficient \| [\d.]+ m?s \| [\d.]+ m?s \| \d+\.\d\d \|/);
      assert.deepEqual(fs.readdirSync(path.join(ROOT, 'bench')), before, 'bench/ of the package is unchanged');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('the baseline is the GPU kind\'s file; the comparison pairs the same cases, the seed rows left out', () => {
    assert.equal(gpuKind('NVIDIA H100 80GB HBM3'), 'H100');
    assert.equal(gpuKind('NVIDIA H200'), 'H200');
    assert.equal(gpuKind('cpu'), 'cpu');
    assert.equal(baselineFile('H200'), path.join(ROOT, 'bench', 'baselines', 'H200.json'));
    assert.equal(baselineFile('no-such-gpu'), null);
    assert.equal(baselineFile('H200', 'x.json'), path.resolve('x.json'));
    const a = new Measurement([2e-3], 1, 'ViT', 'ours', 'f16', 'cuda:0', null);
    const seed = new Measurement([1e-3], 1, 'f(x)', '', 'ours, f16', 'cuda:0', null);
    const rows = compareToBaseline([a, seed, new Measurement([1], 1, 'new', '', '', 'cpu', null)],
      [new Measurement([1e-3], 1, 'ViT', 'ours', 'f16', 'cuda:0', null), seed]);
    assert.deepEqual(rows, [{ label: 'ViT', subLabel: 'ours', description: 'f16', baseline: 1e-3, now: 2e-3, ratio: 2 }]);
    assert.equal(formatBaseline(rows, 'b.json', { date: '2026-12-02', commit: 'ed708d6', measurements: [] }), [
      'Against the baseline b.json (2026-12-02, commit ed708d6): 1 case in both; ratio = now / baseline (above 1: slower).', '',
      '| case | baseline | now | ratio |', '| --- | --- | --- | --- |', '| ViT / ours / f16 | 1.000 ms | 2.000 ms | 2.00 |',
    ].join('\n'));
  });

  it('every kept baseline is a complete bench:cuda record of its GPU kind', () => {
    const dir = path.join(ROOT, 'bench', 'baselines');
    for (const f of fs.readdirSync(dir)) {
      const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      assert.equal(r.complete, true, f);
      assert.equal(`${gpuKind(r.info.gpu.name)}.json`, f);
      assert.ok(fromJSON(r.measurements).length > 0 && typeof r.commit === 'string', f);
    }
  });

  it('replaceMarked rewrites only the bench:cuda section, or appends one', () => {
    const text = `# B\n\nkeep\n${MARK_BEGIN}\nold\n${MARK_END}\ntail\n`;
    assert.equal(replaceMarked(text, 'new\n'), `# B\n\nkeep\n${MARK_BEGIN}\nnew\n${MARK_END}\ntail\n`);
    assert.equal(replaceMarked('# B\n', 'new'), `# B\n\n## Latest run\n\n${MARK_BEGIN}\nnew\n${MARK_END}\n`);
  });
});
