// Where an eager forward of the notebook ViT (batch 64) spends its time, per dtype and
// mechanism, each case measured twice in turn (memory_efficient, sparse, memory_efficient,
// sparse, then vanilla, whose eager float16 forward took 2.2x its graph's on 2026-12-02) so
// that an order effect shows: the host's time to issue 40 forwards (no sync),
// the wall time of the 40 with the final sync, the spread of one forward's host time over
// the 40 (a few slow forwards, or all slow), and the GPU time of the same forward as a
// CUDA graph. host ~ wall means the forward is host-bound; wall ~ host + graph means
// something in it waits on the GPU. Then the V8 sampling profiler over 100 forwards of each
// dtype and mechanism, whose functions with the most self time are printed (on 2026-12-02
// the float32 sparse forward cost the host ~0.9 ms more than the float16 one, the same
// TypeScript path: this says where).
// Usage: node --expose-gc --import tsx bench/vit_eager_probe.ts
import { buildViT, cuda, rand, type FloatDType } from '../ts/index';
import { NOTEBOOK_VIT, sparseViTAttention } from '../ts/bench/suite/vit';
import { profileSelfTimes } from './v8_profile';

const device = 'cuda:0';
const forwards = 40;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function model(dtype: FloatDType, mechanism: string) {
  const attention = mechanism === 'sparse' ? sparseViTAttention(device) : { mechanism };
  if (typeof attention === 'string') throw new Error(attention);
  return buildViT({ ...NOTEBOOK_VIT, attention }, { device, dtype, seed: 0 });
}

function probe(dtype: FloatDType, mechanism: string): void {
  const m = model(dtype, mechanism);
  const images = rand([64, 3, 224, 224], { device, dtype, seed: 0 });
  for (let i = 0; i < 10; i++) m.forward(images).dispose();
  cuda.synchronize(device);
  gc();
  if (process.env.NODEFORMERS_DEBUG_PLANS === '1') console.log(`-- timed forwards of ${dtype} ${mechanism} (a cuBLASLt plan line below this one is a plan made while timing)`);
  const each: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < forwards; i++) {
    const s = performance.now();
    m.forward(images).dispose();
    each.push(performance.now() - s);
  }
  const t1 = performance.now();
  each.sort((a, b) => a - b);
  cuda.synchronize(device);
  const t2 = performance.now();
  const g = m.capture(images.shape);
  for (let i = 0; i < 5; i++) g.run(images).dispose();
  cuda.synchronize(device);
  const t3 = performance.now();
  for (let i = 0; i < forwards; i++) g.run(images).dispose();
  cuda.synchronize(device);
  const t4 = performance.now();
  g.dispose();
  const at = (q: number) => each[Math.min(forwards - 1, Math.floor(q * forwards))].toFixed(3);
  console.log(`${dtype} ${mechanism.padEnd(16)} host ${((t1 - t0) / forwards).toFixed(3)} ms  wall ${((t2 - t0) / forwards).toFixed(3)} ms  graph ${((t4 - t3) / forwards).toFixed(3)} ms a forward;` +
    ` one forward's host time min ${at(0)} median ${at(0.5)} max ${at(1)} ms`);
  images.dispose();
  m.dispose();
}

async function profile(dtype: FloatDType, mechanism: string): Promise<void> {
  const m = model(dtype, mechanism);
  const images = rand([64, 3, 224, 224], { device, dtype, seed: 0 });
  for (let i = 0; i < 10; i++) m.forward(images).dispose();
  cuda.synchronize(device);
  const { totalUs, byFunction } = await profileSelfTimes(() => {
    for (let i = 0; i < 100; i++) m.forward(images).dispose();
    cuda.synchronize(device);
  }, 100);
  console.log(`profile of 100 ${mechanism} ${dtype} forwards: ${(totalUs / 1e3 / 100).toFixed(3)} ms a forward`);
  for (const [name, t] of byFunction.slice(0, 8)) {
    console.log(`  ${(100 * t / totalUs).toFixed(1).padStart(5)}%  ${(t / 1e3 / 100).toFixed(3)} ms  ${name}`);
  }
  images.dispose();
  m.dispose();
}

async function main(): Promise<void> {
  for (const dtype of ['float16', 'float32'] as const) {
    for (const mechanism of ['memory_efficient', 'sparse', 'memory_efficient', 'sparse', 'vanilla']) probe(dtype, mechanism);
  }
  for (const dtype of ['float16', 'float32'] as const) {
    for (const mechanism of ['memory_efficient', 'sparse']) await profile(dtype, mechanism);
  }
}
void main();
