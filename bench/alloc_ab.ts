// An A/B of the host's cost of allocating calls between two trees of ts/ (this one and an
// earlier commit's, unpacked elsewhere), on one addon: the same small-shape rows run from
// each tree in turn, so both sides see the same machine in the same minute (the device's
// host time drifts by a microsecond between calls). Rows on [12608, 96]: the raw addon's
// allocate + dispose, empty() + dispose, softmax with `out`, and softmax, layerNorm and
// bias + GELU allocating their output; host time per call over 20000 calls and the eager
// median (CUDA events, blocked autorange) of the tree's own benchmark(). Under
// NODEFORMERS_HOST_TIMES=1 each row also says how much of its host time was spent inside the
// CUDA backend (allocate, free, kernel: its cudaSetDevice and launch).
// Usage: NODEFORMERS_ADDON=build/Release/nodeformers.node node --import tsx bench/alloc_ab.ts ROOT LABEL
//   (ROOT: the folder holding the tree's ts/)
import * as path from 'node:path';

type Nf = typeof import('../ts/index');
type Ops = typeof import('../ts/ops');
type Bench = typeof import('../ts/bench');
type NativeModule = typeof import('../ts/native');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
const label = process.argv[3] ?? root;
/* eslint-disable @typescript-eslint/no-require-imports */
const nf = require(path.join(root, 'ts/index')) as Nf;
const ops = require(path.join(root, 'ts/ops')) as Ops;
const { benchmark } = require(path.join(root, 'ts/bench')) as Bench;
const { native } = require(path.join(root, 'ts/native')) as NativeModule;
/* eslint-enable @typescript-eslint/no-require-imports */

const device = nf.cuda.isAvailable() ? 'cuda' : 'cpu'; // cpu: a smoke run of the script
const sync = () => { if (device === 'cuda') nf.cuda.synchronize(device); };
const calls = 20000;
/** The CUDA backend's host time by kind since the last call (NODEFORMERS_HOST_TIMES=1), and a reset. */
const hostTimes = (): Partial<ReturnType<ReturnType<typeof native>['cudaHostTimes']>> =>
  (device === 'cuda' ? native().cudaHostTimes(device, true) : {});

// Not bench/host_timing.ts' hostTimed: it imports this tree's ts/, whose native() would
// hand the one addon instance a second layout buffer and so break the other tree's calls.
function hostUs(fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn();
  sync();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  const us = (1e3 * (performance.now() - t0)) / calls;
  sync();
  return us;
}

for (const dtype of ['float16', 'float32'] as const) {
  const shape = [12608, 96];
  const x = nf.randn(shape, { device, dtype, seed: 1 });
  const w = nf.randn([96], { device, dtype, seed: 2 });
  const b = nf.randn([96], { device, dtype, seed: 3 });
  const out = nf.empty(shape, { device, dtype });
  const bytes = shape[0] * shape[1] * (dtype === 'float32' ? 4 : 2);
  const rows: [string, () => void][] = [
    ['raw allocate', () => native().allocate(device, bytes).dispose()],
    ['empty', () => nf.empty(shape, { device, dtype }).dispose()],
    ['softmax out', () => { ops.softmax(x, { out }); }],
    ['softmax', () => ops.softmax(x).dispose()],
    ['layerNorm', () => ops.layerNorm(x, w, b, 1e-5).dispose()],
    ['biasGelu', () => ops.biasActivation(x, b, 'gelu').dispose()],
  ];
  for (const [name, fn] of rows) {
    hostTimes();
    const host = hostUs(fn);
    const inside = Object.entries(hostTimes()).filter(([, t]) => t !== undefined && t.calls > 0)
      .map(([kind, t]) => `${kind} ${(t!.us / t!.calls).toFixed(2)}`).join(', ');
    const eager = benchmark(fn, { device, minRunTime: 0.2 }).median * 1e6;
    console.log(`${label.padEnd(6)} ${dtype.padEnd(8)} ${name.padEnd(13)} host ${host.toFixed(2).padStart(6)} us  eager ${eager.toFixed(2).padStart(6)} us a call` +
      (inside ? `  (in the backend: ${inside} us a call)` : ''));
  }
  for (const t of [x, w, b, out]) t.dispose();
}
