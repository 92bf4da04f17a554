// The `npm run bench` / `npm run bench:cuda` / `npx nodeformers bench` flow: 1) the
// notebook ViT in the seed's shape; 2) a summary table with ratios, PyTorch beside us;
// 3) kernel sweeps (attention over N, D, dtype; layerNorm and softmax bandwidth); 4) the
// host-side cost of tiny CPU calls; 5) training: the ViT's forward + backward, a training
// step, the attention backward sweep, and issue 25's targets; 6) the attention mechanisms
// side by side (one layer each, forward and forward + backward); on the CPU, 7) the ViTs beside
// onnxruntime-node (ort.ts); 8) results JSON and plots
// where --out says (default ./bench-results, never the package), the run against its GPU
// kind's baseline, and on request the marked section of a BENCHMARKS.md. On the CPU: a
// smaller batch, fewer cases.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backends, cuda } from '../../cuda';
import { Device, FloatDType } from '../../dtype';
import { compare, Comparison } from '../compare';
import { formatInfo, info } from '../info';
import { plotMeasurements } from '../plot';
import { fromJSON, toJSON } from '../report';
import { Measurement } from '../timer';
import { baselineFile, compareToBaseline, formatBaseline, gpuKind, readBaseline } from './baseline';
import { benchHost } from './host';
import { benchKernels, KernelBenchResult } from './kernels';
import { PACKAGE_ROOT } from './peers';
import { checkTargets, formatTargets, trainingTargets } from './targets';
import { benchTraining, FB_BASELINE, STEP_EAGER } from './training';
import { SUITE_OF, TRAINING_PARTS, TrainingPart } from './training_kit';
import { BACKWARD_BASELINE } from './attention_backward';
import { benchViT, ViTBenchResult } from './vit';
import { benchMechanisms, MECHANISMS_SUITE } from './mechanisms';
import { benchOnnxruntime, OrtResult, ortTable } from './ort';

export interface BenchRunOptions {
  /** Default: float16 on CUDA, float32 on the CPU; `--dtype float32` adds nothing else. */
  dtypes?: FloatDType[];
  /** Default 64 on CUDA, 4 on the CPU (2 with quick). */
  batch?: number;
  /** Attention mechanisms for the ViT and the attention sweep (default all). */
  attention?: string[];
  /** Results JSON path (default <outDir>/<date>-<gpu>.json). */
  json?: string;
  /** Where plots and the default JSON go (default ./bench-results, under the current directory). */
  outDir?: string;
  /**
   * The results file this run is compared with (default bench/baselines/<gpu kind>.json of
   * the checkout, when there is one); null: no comparison.
   */
  baseline?: string | null;
  peers?: boolean;
  quick?: boolean;
  /** Time timm under torch.compile too (CUDA; default on unless quick). */
  compile?: boolean;
  /** Run the kernel sweeps and host-call costs (sections 3 and 4; default true). */
  sweeps?: boolean;
  /**
   * Section 5's parts to run: true (default) all of 'fb' (the ViT's forward + backward), 'step'
   * (a training step), 'attention' (the attention backward sweep); false none. A part not run
   * keeps the figures an earlier run of the same day and device wrote to the results JSON.
   */
  training?: boolean | readonly TrainingPart[];
  /** Run section 6, every attention mechanism as one layer, forward and forward + backward (default true). */
  mechanisms?: boolean;
  /** On the CPU with peers on, run section 7: the ViTs beside onnxruntime-node where it is installed (default true). */
  ort?: boolean;
  /**
   * Run the ViT sections (1 and 2; default true). Without them the ViT figures come from
   * the results JSON this run writes to, when an earlier run of the same day and device
   * left one there: two shorter runs (`--no-sweeps`, then `--no-vit`) make one record.
   */
  vit?: boolean;
  /**
   * A markdown file whose section between MARK_BEGIN and MARK_END this run rewrites (appended
   * when absent); default none. Only a full run (with the sweeps) writes it.
   */
  benchmarksMd?: string;
  /** Fail when there is no CUDA backend (bench:cuda). */
  requireCuda?: boolean;
  log?: (line: string) => void;
}

export const MARK_BEGIN = '<!-- bench:cuda begin -->';
export const MARK_END = '<!-- bench:cuda end -->';

export async function runBench(o: BenchRunOptions = {}): Promise<{ json: string; plots: string[]; baseline: string | null }> {
  const log = o.log ?? ((line: string) => console.log(line));
  const gpu = backends().includes('cuda');
  if (!gpu && o.requireCuda) throw new Error(`bench:cuda: no CUDA backend or GPU here (cuda: ${info().cudaUnavailable})`);
  const device: Device = gpu ? 'cuda:0' : 'cpu';
  const quick = o.quick ?? false;
  const dtypes = o.dtypes ?? (gpu ? ['float16'] : ['float32']);
  const batch = o.batch ?? (gpu ? 64 : quick ? 2 : 4);
  const peers = (o.peers ?? true) && gpu;
  const md = o.benchmarksMd === undefined ? null : path.resolve(o.benchmarksMd);
  const refreshMd = md !== null && (o.sweeps ?? true);
  const minRunTime = gpu ? (quick ? 0.25 : 1) : quick ? 0.1 : 0.5;
  const date = new Date().toISOString().slice(0, 10);
  const deviceName = gpu ? cuda.device().name : 'cpu';
  const tag = `${date}-${deviceName.replace(/^NVIDIA\s+/, '').replace(/\W+/g, '_')}`;
  const outDir = path.resolve(o.outDir ?? DEFAULT_OUT_DIR);
  fs.mkdirSync(outDir, { recursive: true });

  const json = o.json ?? path.join(outDir, `${tag}.json`);
  log(formatInfo());
  // Each section's wall time is logged, so that a run cut by a device call's limit says where the time went.
  let sectionStart = performance.now();
  const took = (what: string) => {
    log(`(${what} took ${((performance.now() - sectionStart) / 1e3).toFixed(0)} s)`);
    sectionStart = performance.now();
  };
  const trainingParts: readonly TrainingPart[] = o.training === false ? [] : o.training === true || o.training === undefined ? TRAINING_PARTS : o.training;
  // What this run leaves out and an earlier run of the file measured: kept in what it writes.
  const earlier = readEarlier(json);
  const keptTraining = earlier.measurements.filter((m) => TRAINING_PARTS.some((p) => !trainingParts.includes(p) && m.params.suite === SUITE_OF[p]));
  let vit: ViTBenchResult & { torch?: string };
  if (o.vit ?? true) {
    log(`\n== 1. The notebook ViT, batch ${batch}, forward, ${dtypes.join(' and ')}, ${device}\n`);
    vit = benchViT({ device, dtypes, batch, minRunTime: gpu ? 2 * minRunTime : minRunTime, mechanisms: o.attention, peers, compile: o.compile ?? !quick, scaling: !quick, log });
  } else {
    vit = earlierViT(earlier);
    log(`\n== 1. The notebook ViT: not run (${vit.summary.length > 0 ? `${vit.summary.length} figures kept from ${json}` : `no earlier results in ${json}`})\n`);
  }

  log('== 2. Summary\n');
  const peerNames = vit.summary.filter((m) => m.subLabel.startsWith('PyTorch')).map((m) => m.subLabel);
  const baseline = peerNames.includes('PyTorch timm eager SDPA') ? 'PyTorch timm eager SDPA' : vit.summary[0]?.subLabel;
  const summary = compare(vit.summary, { baseline, memory: true });
  log(summary.toString());
  for (const s of vit.skipped) log(`skipped: ${s}`);

  // Results are written now and again after each later section, so that a run cut short
  // (a device call's time limit) keeps what it measured.
  const plots: string[] = [];
  const sections = {
    kernels: null as KernelBenchResult | null, host: null as ReturnType<typeof benchHost> | null,
    training: { measurements: keptTraining, skipped: [] as string[], torch: null as string | null },
    mechanisms: { measurements: earlier.measurements.filter((m) => m.params.suite === MECHANISMS_SUITE && !(o.mechanisms ?? true)), skipped: [] as string[] },
    ort: null as OrtResult | null,
  };
  const write = (complete: boolean) => {
    const k = sections.kernels;
    const t = sections.training;
    const mech = sections.mechanisms;
    const tables = [...(k ? kernelTables(k) : []), ...trainingTables(t.measurements, device, batch), ...mechanismTables(mech.measurements),
      ...(sections.ort ? [ortTable(sections.ort)] : [])];
    const all = [...vit.measurements, ...vit.summary, ...(k?.attention ?? []), ...(k?.sparse ?? []), ...(k?.ops ?? []), ...t.measurements, ...mech.measurements];
    const record = {
      date, commit: gitCommit(), complete, info: info(), options: { dtypes, batch, quick, peers, minRunTime, training: trainingParts },
      torch: vit.peers[0]?.torch ?? vit.torch ?? t.torch ?? earlier.torch, timm: vit.peers[0]?.timm ?? null,
      measurements: JSON.parse(toJSON(all)), skipped: [...vit.skipped, ...(k?.skipped ?? []), ...t.skipped, ...mech.skipped],
      host: (sections.host ?? []).map(({ toString: _, ...r }) => r),
      ort: sections.ort,
    };
    fs.writeFileSync(json, JSON.stringify(record, null, 1));
    if (refreshMd && md) {
      const section = [
        `Last \`npm run bench:cuda\`: ${deviceName}, ${date}${record.commit ? `, commit ${record.commit}` : ''}` +
          `${record.torch ? `, PyTorch ${record.torch}` : ''}; medians of blocked autorange with CUDA events. ` +
          `Raw: \`${path.relative(path.dirname(md), json)}\`.${complete ? '' : ' (Sections written so far: the run has not finished.)'}`,
        '',
        summary.toMarkdown(),
        ...tables.map((table) => (typeof table === 'string' ? table : table.toMarkdown())),
        ...plots.filter((p) => p.endsWith('.svg')).map((p) => `![${path.basename(p, '.svg')}](${path.relative(path.dirname(md), p)})`),
      ].join('\n');
      fs.writeFileSync(md, replaceMarked(fs.existsSync(md) ? fs.readFileSync(md, 'utf8') : '', section));
    }
  };
  write(false);
  log(`wrote ${json} (the ViT sections)`);
  took('sections 1-2');

  if (o.sweeps ?? true) {
    log('\n== 3. Kernel sweeps\n');
    // A quarter of the ViT's time a case on a GPU (about 6 blocks even for the slowest case,
    // PyTorch's math SDPA at N 4096), half on the CPU: the whole flow fits one device call.
    const kernels = await benchKernels({ device, dtypes, mechanisms: o.attention, quick, minRunTime: gpu ? minRunTime / 4 : minRunTime / 2, peers, log });
    sections.kernels = kernels;
    log(kernelTables(kernels).map((t) => t.toString()).join('\n\n'));
    log('\nBandwidth (input read + output written):');
    for (const m of kernels.ops) log(`  ${m.label} ${m.description} ${m.subLabel}: ${(m.params.GBps as number).toFixed(1)} GB/s`);
    for (const s of kernels.skipped) log(`skipped: ${s}`);
    write(false);
    took('section 3');

    log('\n== 4. Host-side cost of tiny CPU calls (Benchmark.js)\n');
    sections.host = benchHost({ maxTime: quick ? 0.2 : 1, log });
    took('section 4');
  }

  if (trainingParts.length > 0) {
    log(`\n== 5. Training (${trainingParts.join(', ')}), batch ${batch}, ${device}\n`);
    const r = benchTraining({
      device, dtypes: o.dtypes ?? (gpu ? ['float16', 'float32'] : ['float32']), batch, minRunTime, mechanisms: o.attention, parts: trainingParts,
      peers, compile: o.compile ?? !quick, scaling: !quick, quick, log,
    });
    sections.training = { measurements: [...keptTraining, ...r.measurements], skipped: r.skipped, torch: r.torch };
    log(trainingTables(sections.training.measurements, device, batch, { targets: true }).map((table) => table.toString()).join('\n\n'));
    for (const s of r.skipped) log(`skipped: ${s}`);
    write(false);
    took('section 5');
  }

  if (o.mechanisms ?? true) {
    const dtype = gpu ? (dtypes.find((d) => d !== 'float32') ?? 'float16') : 'float32';
    log(`\n== 6. Attention mechanisms, one layer each, ${dtype}, ${device}\n`);
    sections.mechanisms = benchMechanisms({ device, dtype, quick, minRunTime: gpu ? minRunTime / 2 : minRunTime / 4, log });
    log(mechanismTables(sections.mechanisms.measurements).map((t) => t.toString()).join('\n\n'));
    for (const s of sections.mechanisms.skipped) log(`skipped: ${s}`);
    write(false);
    took('section 6');
  }

  if (!gpu && peers && (o.ort ?? true)) {
    log('\n== 7. The CPU beside onnxruntime-node, float32\n');
    sections.ort = await benchOnnxruntime({ root: path.join(__dirname, '..', '..', '..'), rounds: quick ? 3 : 7, log });
    log(ortTable(sections.ort));
    for (const s of sections.ort.skipped) log(`skipped: ${s}`);
    write(false);
    took('section 7');
  }

  log('\n== 8. Results\n');
  const plot = async (ms: Measurement[], name: string, opts: { x: string; series: string; title: string; y?: string }) => {
    if (ms.length === 0) return;
    const files = await plotMeasurements(ms, { ...opts, file: path.join(outDir, `${tag}-${name}`) });
    plots.push(files.svg, files.png);
  };
  const vitPlotted = vit.summary.map((m) => m.relabel({ params: { ...m.params, series: m.subLabel } }));
  await plot(vitPlotted, 'vit', { x: 'dtype', series: 'series', title: `Notebook ViT forward, batch ${batch}, ${deviceName}` });
  const kernels = sections.kernels;
  if (kernels) {
    for (const dtype of dtypes) {
      for (const D of [...new Set(kernels.attention.map((m) => m.params.D))]) {
        const ms = kernels.attention.filter((m) => m.params.dtype === dtype && m.params.D === D);
        await plot(ms, `attention-${dtype}-D${D}`, { x: 'N', series: 'series', title: `Attention forward, ${dtype}, D ${D}, ${deviceName}` });
      }
    }
    for (const dtype of dtypes) {
      const ms = kernels.sparse.filter((m) => m.params.dtype === dtype);
      await plot(ms, `sparse-${dtype}`, { x: 'density', series: 'series', title: `Sparse attention over density, ${dtype}, ${deviceName}` });
    }
    await plot(kernels.ops, 'norms', { x: 'shape', series: 'series', y: 'GBps', title: `layerNorm and softmax bandwidth (GB/s), ${deviceName}` });
  }
  const backwardRows = sections.training.measurements.filter((m) => m.params.suite === SUITE_OF.attention && m.params.kind === 'backward' && !m.params.causal);
  for (const dtype of new Set(backwardRows.map((m) => m.params.dtype))) {
    for (const D of new Set(backwardRows.map((m) => m.params.D))) {
      const ms = backwardRows.filter((m) => m.params.dtype === dtype && m.params.D === D);
      await plot(ms, `attention-backward-${dtype}-D${D}`, { x: 'N', series: 'series', y: 'TFLOPs', title: `Attention backward (TFLOP/s), ${dtype}, D ${D}, ${deviceName}` });
    }
  }
  for (const kind of ['forward', 'f+b']) {
    const ms = sections.mechanisms.measurements.filter((m) => m.params.kind === kind);
    await plot(ms, `mechanisms-${kind === 'f+b' ? 'fb' : kind}`, { x: 'N', series: 'series', title: `Attention mechanisms, one layer, ${kind === 'f+b' ? 'forward + backward' : 'forward'}, ${deviceName}` });
  }
  write(true);
  took('section 8');
  log(`wrote ${json}`);
  for (const p of plots) log(`wrote ${p}`);
  if (refreshMd) log(`refreshed the ${MARK_BEGIN} section of ${md}`);

  const kind = gpuKind(deviceName);
  const against = o.baseline === null ? null : baselineFile(kind, o.baseline);
  if (against === null) {
    log(`\n(no baseline for ${kind}: bench/baselines/${kind}.json is absent here; --baseline FILE names one)`);
  } else {
    const base = readBaseline(against);
    const now = [...vit.measurements, ...vit.summary, ...(kernels?.attention ?? []), ...(kernels?.sparse ?? []), ...(kernels?.ops ?? []), ...sections.training.measurements];
    log(`\n${formatBaseline(compareToBaseline(now, base.parsed), against, base)}`);
  }
  return { json, plots, baseline: against };
}

/** Where results go when no --out is given: a folder of the current directory, never the installed package. */
export const DEFAULT_OUT_DIR = 'bench-results';

/** The kernel section's tables: attention against its first mechanism, sparse against dense (when swept), norms against PyTorch. */
function kernelTables(k: KernelBenchResult): ReturnType<typeof compare>[] {
  return [
    compare(k.attention, { baseline: k.attention[0]?.subLabel }),
    ...(k.sparse.length > 0 ? [compare(k.sparse, { baseline: 'nodeformers memory_efficient (dense)' })] : []),
    compare(k.ops, { baseline: 'nodeformers' }),
  ];
}

/** Section 6's table, each mechanism against memory_efficient, with peak memory. */
function mechanismTables(ms: readonly Measurement[]): Comparison[] {
  return ms.length === 0 ? [] : [compare(ms, { baseline: 'memory_efficient', memory: true })];
}

/** An earlier run's results file: its measurements, skipped notes and PyTorch version (none when it is absent or unreadable). */
function readEarlier(file: string): { measurements: Measurement[]; skipped: string[]; torch: string | null } {
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as { torch?: string; measurements?: unknown[]; skipped?: string[] };
    return { measurements: fromJSON((record.measurements ?? []) as never), skipped: record.skipped ?? [], torch: record.torch ?? null };
  } catch {
    return { measurements: [], skipped: [], torch: null };
  }
}

/** The ViT sections (1 and 2) of an earlier run's results: the forward rows, not section 5's (whose params name their suite). */
function earlierViT(earlier: ReturnType<typeof readEarlier>): ViTBenchResult & { torch?: string } {
  const forward = earlier.measurements.filter((m) => m.params.suite === undefined);
  const isViT = (m: Measurement) => typeof m.params.model === 'string' && String(m.params.model).startsWith('vit');
  return {
    measurements: forward.filter((m) => isViT(m) && m.label === 'f(x)'),
    summary: forward.filter((m) => (isViT(m) || m.subLabel.startsWith('PyTorch timm')) && m.label !== 'f(x)'),
    skipped: earlier.skipped, peers: [], torch: earlier.torch ?? undefined,
  };
}

/**
 * Section 5's tables: the ViT forward + backward (against timm eager SDPA, with memory), the
 * training step (against timm eager), the attention backward (against SDPA flash), and issue
 * 25's targets checked on them (markdown text). No measurements: none, or with `targets` the
 * targets alone (each "not measured").
 */
export function trainingTables(ms: readonly Measurement[], device: Device, batch: number, o: { targets?: boolean } = {}): (Comparison | string)[] {
  if (ms.length === 0 && !o.targets) return [];
  const of = (suite: string) => ms.filter((m) => m.params.suite === suite);
  const tables: (Comparison | string)[] = [];
  const add = (rows: Measurement[], baseline: string, memory: boolean) => { if (rows.length > 0) tables.push(compare(rows, { baseline, memory })); };
  add(of(SUITE_OF.fb), FB_BASELINE, true);
  add(of(SUITE_OF.step), STEP_EAGER, true);
  add(of(SUITE_OF.attention), BACKWARD_BASELINE, false);
  tables.push(formatTargets(checkTargets(trainingTargets(device, batch), ms)));
  return tables;
}

/** The text with what lies between the bench:cuda markers replaced (the section appended when absent). */
export function replaceMarked(text: string, section: string): string {
  const begin = text.indexOf(MARK_BEGIN);
  const end = text.indexOf(MARK_END);
  const block = `${MARK_BEGIN}\n${section.trim()}\n${MARK_END}`;
  if (begin >= 0 && end > begin) return text.slice(0, begin) + block + text.slice(end + MARK_END.length);
  return `${text.trimEnd()}\n\n## Latest run\n\n${block}\n`;
}

/**
 * @internal The commit the run measures: NODEFORMERS_COMMIT where the caller knows it (the GPU machine
 * gets a copy of the working tree whose own git metadata is not this checkout's:
 * tools/gpu-prep.sh records the commit for tools/gpu-stage.sh to pass on), else git.
 */
export function gitCommit(): string | null {
  const given = process.env.NODEFORMERS_COMMIT;
  if (given) return given;
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return null;
  }
}
