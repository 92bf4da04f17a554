// Issue 25's performance table as checks on a run's measurements: each case's row of ours
// against the peer its "must" names and the peer its "aim" names, the ratio (ours / theirs,
// in time or in peak memory: below 1 is ours ahead) and whether it meets the bound.
import { Device, FloatDType } from '../../dtype';
import { formatTime } from '../report';
import { Measurement } from '../timer';
import { backwardLabel, BACKWARD_BASELINE } from './attention_backward';
import { FB_BASELINE, fbLabel, scalingLabel, STEP_COMPILE, STEP_EAGER, stepLabel } from './training';

type Metric = 'time' | 'memory';

/** One bound: ours / the peer's (time or memory) at most `max`. */
export interface Bound { peer: string; metric: Metric; max: number; text: string }

export interface Target {
  case: string;
  /** The table (Measurement.label) both rows are in, and our row's sub-label. */
  label: string;
  ours: string;
  must: Bound;
  aim: Bound;
}

export interface Verdict { bound: Bound; peer: Measurement | null; ratio: number | null; met: boolean | null }
export interface TargetRow { target: Target; ours: Measurement | null; must: Verdict; aim: Verdict }

const COMPILE = 'PyTorch timm torch.compile';

/** The cases of issue 25's table that a run with these settings can measure. */
export function trainingTargets(device: Device, batch: number, stepDtype: FloatDType = device === 'cpu' ? 'float32' : 'float16'): Target[] {
  const me = 'nodeformers memory_efficient';
  const t = (peer: string, max: number, text: string, metric: Metric = 'time'): Bound => ({ peer, metric, max, text });
  const targets: Target[] = [
    { case: 'notebook ViT f+b, float16, memory_efficient', label: fbLabel('float16', batch, device), ours: me,
      must: t(COMPILE, 1, '≤ torch.compile f+b'), aim: t(COMPILE, 0.5, '≤ 0.5 x torch.compile') },
    { case: 'notebook ViT f+b, float32, memory_efficient', label: fbLabel('float32', batch, device), ours: me,
      must: t(FB_BASELINE, 1, '≤ eager SDPA f+b'), aim: t(FB_BASELINE, 0.6, '≤ 0.6 x eager SDPA') },
  ];
  for (const dtype of ['float16', 'float32'] as const) {
    targets.push({ case: `sparse ViT f+b vs memory_efficient f+b, ${dtype}`, label: fbLabel(dtype, batch, device), ours: 'nodeformers sparse',
      must: t(me, 1, '≤ 1.0 x memory_efficient'), aim: t(me, 0.7, '≤ 0.7 x memory_efficient') });
    targets.push({ case: `peak memory of f+b, ${dtype}, memory_efficient`, label: fbLabel(dtype, batch, device), ours: me,
      must: t(FB_BASELINE, 1, "≤ PyTorch's (eager SDPA)", 'memory'), aim: t(FB_BASELINE, 0.6, '≤ 0.6 x', 'memory') });
  }
  targets.push({ case: 'scaling f+b, sparse, float16, batch 8', label: scalingLabel(device), ours: 'nodeformers sparse',
    must: t(FB_BASELINE, 1, "runs; memory ≤ PyTorch's (eager SDPA)", 'memory'), aim: t(FB_BASELINE, 0.2, '≥ 5 x faster than eager SDPA (dense) f+b') });
  for (const D of [64, 128]) {
    targets.push({ case: `attention backward, B8 H16 N4096 D${D}, float16`, label: backwardLabel('backward', { B: 8, H: 16, D, dtype: 'float16', causal: false }, device),
      ours: me, must: t(BACKWARD_BASELINE, 1 / 0.9, '≥ 0.9 x flash backward (time ≤ 1.11 x)'), aim: t('PyTorch SDPA cudnn', 1, "≥ cuDNN's backward") });
  }
  targets.push({ case: `training step, notebook ViT, B${batch}`, label: stepLabel(stepDtype, batch, device), ours: me,
    must: t(STEP_EAGER, 1, '≥ PyTorch eager (fused AdamW, autocast)'), aim: t(STEP_COMPILE, 1, '≥ torch.compile') });
  return targets;
}

const valueOf = (m: Measurement, metric: Metric) => (metric === 'time' ? m.median : m.peakMemoryBytes);

/** Each target checked on the measurements (the attention rows matched on N=4096); a row or figure not measured gives null. */
export function checkTargets(targets: readonly Target[], measurements: readonly Measurement[]): TargetRow[] {
  const find = (label: string, subLabel: string) =>
    measurements.find((m) => m.label === label && m.subLabel === subLabel && (!label.startsWith('attention') || m.description === 'N=4096')) ?? null;
  return targets.map((target) => {
    const ours = find(target.label, target.ours);
    const verdict = (bound: Bound): Verdict => {
      const peer = find(target.label, bound.peer);
      const a = ours ? valueOf(ours, bound.metric) : null, b = peer ? valueOf(peer, bound.metric) : null;
      const ratio = a !== null && b !== null && b > 0 ? a / b : null;
      return { bound, peer, ratio, met: ratio === null ? null : ratio <= bound.max };
    };
    return { target, ours, must: verdict(target.must), aim: verdict(target.aim) };
  });
}

const figure = (m: Measurement, metric: Metric) =>
  (metric === 'time' ? formatTime(m.median) : m.peakMemoryBytes === null ? 'n/a' : `${(m.peakMemoryBytes / 1e6).toFixed(1)} MB`);

function cell(v: Verdict): string {
  const { bound } = v;
  if (!v.peer) return `${bound.text}: ${bound.peer} not measured`;
  if (v.ratio === null) return `${bound.text}: no ${bound.metric} figure`;
  return `${bound.text}: ${v.ratio.toFixed(2)} x ${bound.peer} (${figure(v.peer, bound.metric)}): **${v.met ? 'met' : 'missed'}**`;
}

/** The rows as a markdown table: case, ours (time and peak memory; images/s for the step), must, aim. */
export function formatTargets(rows: readonly TargetRow[]): string {
  const lines = ['**Issue 25 targets** (ratio = ours / the peer, in time or peak memory as the bound says; same run, same GPU)', '',
    '| case | ours | must | aim |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    const m = r.ours;
    const ips = m && typeof m.params.batch === 'number' && r.target.label.startsWith('Training step') ? `, ${(m.params.batch / m.median).toFixed(0)} images/s` : '';
    const ours = m ? `${formatTime(m.median)}${ips}${m.peakMemoryBytes === null ? '' : `, ${(m.peakMemoryBytes / 1e6).toFixed(1)} MB`}` : 'not measured';
    lines.push(`| ${r.target.case} | ${ours} | ${cell(r.must)} | ${cell(r.aim)} |`);
  }
  return lines.join('\n') + '\n';
}
