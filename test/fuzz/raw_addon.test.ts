// Forged calls straight into the addon (its op methods, Storage's methods, allocate): each
// corrupts one argument (a wrong type, a bad number, a tensor whose storage, offset, dtype,
// shape or strides lie, an element getter that throws) and must throw an Error, never crash.
// The seed is printed; NODEFORMERS_FUZZ_SEED replays one.
import * as assert from 'node:assert/strict';
import * as nf from '../../ts/index';
import type { Device, Tensor } from '../../ts/index';
import { native } from '../../ts/native';
import { DEVICES, describeDevice } from '../helpers';
import { CHECKED_NUMBERS, forge, rawOps } from './raw_ops';
import { Rng, SEED, printable } from './rng';

const RAW_CALLS = 400;

for (const device of DEVICES) {
  describeDevice(device, 'fuzz: forged addon calls', () => {
    it(`${RAW_CALLS} forged calls straight into the addon each throw, never crash`, function () {
      const seed = SEED + 7 + (device === 'cpu' ? 0 : 1);
      const rng = new Rng(seed);
      const stats = rawFuzz(rng, device);
      console.log(`      ${stats.calls} forged addon calls (seed ${seed}), all threw Errors; ${stats.validControls} valid controls ran`);
    });
    it('the backward ops refuse every tensor argument forged or disposed, never crash', function () {
      const seed = SEED + 11 + (device === 'cpu' ? 0 : 1);
      const rng = new Rng(seed);
      const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
      let calls = 0;
      for (const op of rawOps(device).filter((o) => BACKWARD_OPS.includes(o.name))) {
        const { tensors, outputs, optional = [] } = op.make();
        for (const k of tensors) {
          for (let i = 0; i < 12; i++) {
            const { args } = op.make();
            const forged = [...args];
            forged[k] = i === 0 ? disposedLike(args[k] as Tensor) : corruptTensor(rng, args[k] as Tensor, outputs.includes(k), optional.includes(k));
            expectThrow(`${op.name} tensor argument ${k} forged as ${printable(forged[k])}`, () => addon[op.name](...forged));
            calls++;
            for (const a of args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
          }
        }
      }
      console.log(`      ${calls} forged backward-op calls (seed ${seed}), all threw Errors`);
    });
  });
}

/** The addon's backward ops (issue 25), each of whose tensor arguments is forged in turn (dropout is its own backward). */
const BACKWARD_OPS = [
  'normBackward', 'softmaxBackward', 'activationBackward', 'sumRows', 'dropout', 'philox', 'attentionBackward', 'crossEntropy',
  'crossEntropyBackward', 'patchScatter', 'depthwiseConv2dBackward', 'avgPool2dBackward', 'fourierMix',
];

/** A tensor argument laid out as `t` whose storage has been disposed. */
function disposedLike(t: Tensor): unknown {
  const u = nf.ones([...t.shape], { dtype: t.dtype, device: t.device });
  const g = forge(u);
  (u._storage as { dispose(): void }).dispose();
  return g;
}

/** An array of `n` (at least 1) elements whose first element's getter throws. */
function throwingArray(n: number): unknown[] {
  const a = new Array<number>(Math.max(1, n)).fill(1);
  Object.defineProperty(a, 0, { get() { throw new Error('forged getter'); } });
  return a;
}

/** Ways to corrupt one tensor argument; each must make the call throw. */
function corruptTensor(rng: Rng, t: Tensor, output: boolean, optional: boolean): unknown {
  const f = forge(t);
  const storageCtor = (t._storage as object).constructor as new () => unknown;
  const n = t.shape.length;
  const kinds: (() => unknown)[] = [
    () => rng.pick([...(optional ? [] : [null, undefined]), 0, 'tensor', true, [], () => 1, Symbol('t')]),
    () => ({}),
    () => ({ ...f, _storage: rng.pick([{}, null, 5, [], { bytes: 1 << 30 }, new Uint8Array(64)]) }),
    () => ({ ...f, _storage: new storageCtor() }),
    () => ({ ...f, offset: rng.pick([-1, 0.5, NaN, Infinity, 2 ** 60, '0', null, t.size + 1, 1e300]) }),
    () => ({ ...f, dtype: rng.pick(['float64', 'int8', '', 7, null, 'FLOAT32']) }),
    () => ({ ...f, shape: rng.pick(['x', null, 3, { length: 2 }]) }),
    () => ({ ...f, shape: [...t.shape, 1], strides: [...t.strides] }),
    () => ({ ...f, shape: Array(9).fill(1), strides: Array(9).fill(1) }),
    () => ({ ...f, shape: t.shape.map((d, i) => (i === 0 ? rng.pick([d + 1, d * 1000 + 7, 2 ** 40, 1e300]) : d)) }),
    () => ({ ...f, shape: t.shape.map((d, i) => (i === 0 ? rng.pick([-1, 0.5, NaN, Infinity, '2']) : d)) }),
    () => ({ ...f, strides: t.strides.map((s, i) => (i === 0 ? rng.pick([-1, 0.5, NaN, 2 ** 62, 1e300]) : s)) }),
    () => ({ ...f, strides: t.strides.map(() => rng.pick([-1, NaN])) }),
    () => ({ ...f, shape: [0, 2 ** 52, 2 ** 52], strides: [1, 1, 1] }), // empty, but sizes whose product overflows
    () => ({ ...f, _storage: nf.ones([1])._storage }),  // a live storage too small for the view
    () => ({ ...f, [rng.pick(['shape', 'strides'])]: throwingArray(t.shape.length) }),  // the addon's element read raises
    () => { const u = nf.ones([...t.shape], { dtype: t.dtype }); const g = forge(u); (u._storage as { dispose(): void }).dispose(); return g; },
  ];
  if (output && n >= 1 && t.shape[n - 1] > 1) kinds.push(() => ({ ...f, strides: t.strides.map((s, i) => (i === n - 1 ? 0 : s)) })); // a broadcast output
  return rng.pick(kinds)();
}
/** Numbers the addon must refuse in place of each op's checked numeric arguments. */
const BAD_RAW_NUMBERS: unknown[] = ['1', null, undefined, {}, [], NaN, -1, 1.5, 1e300, -Infinity];

function expectThrow(label: string, fn: () => unknown): void {
  let threw = false;
  try {
    const r = fn();
    if (r instanceof Promise) r.catch(() => undefined);
  } catch (e) {
    threw = true;
    if (!(e instanceof Error)) assert.fail(`${label}: threw a non-Error ${String(e)}`);
  }
  if (!threw) assert.fail(`${label}: did not throw`);
}

function rawFuzz(rng: Rng, device: Device): { calls: number; validControls: number } {
  const addon = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const ops = rawOps(device);
  let calls = 0;
  let validControls = 0;
  for (const op of ops) {
    // The valid call itself runs (so a corruption below is the only difference).
    const control = op.make();
    addon[op.name](...control.args);
    validControls++;
    for (const a of control.args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
  }
  for (let i = 0; i < RAW_CALLS; i++) {
    const op = rng.pick(ops);
    const { args, tensors, outputs, numbers, optional = [] } = op.make();
    const checked = CHECKED_NUMBERS[op.name].filter((k) => numbers.includes(k));
    const mode = rng.int(0, 9);
    let label: string;
    const forgedArgs = [...args];
    if (mode === 0) {
      label = `${op.name}() with no arguments`;
      forgedArgs.length = rng.int(0, Math.min(2, args.length - 1));
    } else if (mode === 1 && checked.length > 0) {
      const k = rng.pick(checked);
      forgedArgs[k] = rng.pick(BAD_RAW_NUMBERS);
      label = `${op.name} argument ${k} = ${String(forgedArgs[k])}`;
    } else {
      const k = rng.pick(tensors);
      forgedArgs[k] = corruptTensor(rng, args[k] as Tensor, outputs.includes(k), optional.includes(k));
      label = `${op.name} tensor argument ${k} forged as ${printable(forgedArgs[k])}`;
    }
    expectThrow(label, () => addon[op.name](...forgedArgs));
    calls++;
    for (const a of args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
  }
  // Storage methods and allocate, with forged offsets, sizes, devices and receivers.
  const t = nf.ones([4], { device });
  const storage = t._storage as unknown as Record<string, (...args: unknown[]) => unknown>;
  const storageCases: [string, () => unknown][] = [
    ['allocate bytes -1', () => native().allocate(device, -1)],
    ['allocate bytes NaN', () => native().allocate(device, NaN)],
    ['allocate bytes 1.5', () => native().allocate(device, 1.5)],
    ['allocate bytes 2^60', () => native().allocate(device, 2 ** 60)],
    ['allocate bytes string', () => native().allocate(device, '8' as unknown as number)],
    ['allocate device tpu', () => native().allocate('tpu', 8)],
    ['allocate device 42', () => native().allocate(42 as unknown as string, 8)],
    ['allocate device cuda:99', () => native().allocate('cuda:99', 8)],
    ['allocate device cuda:99999999', () => native().allocate('cuda:99999999', 8)],
    ['upload past the end', () => storage.upload(8, new Uint8Array(16))],
    ['upload offset NaN', () => storage.upload(NaN, new Uint8Array(4))],
    ['upload offset -1', () => storage.upload(-1, new Uint8Array(4))],
    ['upload not bytes', () => storage.upload(0, new Float32Array(4))],
    ['upload array', () => storage.upload(0, [1, 2, 3])],
    ['readSync past the end', () => storage.readSync(4, new Uint8Array(16))],
    ['readSync offset 1e300', () => storage.readSync(1e300, new Uint8Array(1))],
    ['readSync no target', () => storage.readSync(0)],
    ['read past the end', () => storage.read(0, new Uint8Array(17))],
    ['read offset 0.5', () => storage.read(0.5, new Uint8Array(1))],
    ['upload with another receiver', () => storage.upload.call({}, 0, new Uint8Array(1))],
    ['readSync with a primitive receiver', () => storage.readSync.call(5, 0, new Uint8Array(1))],
    ['read with an unwrapped Storage', () => { const s = new ((t._storage as object).constructor as new () => Record<string, (...a: unknown[]) => unknown>)(); return s.read(0, new Uint8Array(1)); }],
    ['sparsePlan offsets past nnz', () => native().sparsePlan(device, Int32Array.from([0, 5]), new Int32Array(1), 1, 1, 1)],
    ['sparsePlan columns a Float64Array', () => native().sparsePlan(device, new Int32Array(1), new Float64Array(0) as never, 1, 0, 0)],
    ['blockPlan of a number', () => native().blockPlan(device, 5 as never)],
    ['blockPlan layout short', () => native().blockPlan(device, { layout: new Uint8Array(3), heads: 1, rows: 2, cols: 2, block: 16 })],
    ['synchronize tpu', () => native().synchronize('tpu')],
    // mean's sizes whose products overflow int64 into a match (this wrote 2^64 elements through a null pointer).
    ['mean outer = inner = 2^32, n = 0', () => native().mean(nf.empty([0], { device }), nf.empty([0], { device }), 2 ** 32, 0, 2 ** 32)],
    ['mean sizes NaN', () => native().mean(nf.empty([0], { device }), nf.empty([0], { device }), NaN, 0, NaN)],
    ['patchGather patch 1e300', () => native().patchGather(nf.empty([1, 1, 3], { device }), nf.empty([1, 3, 1, 1], { device }), 1e300)],
    // multiNorm and multiScale (not in rawOps: their one-element out and norm fit in any live storage, so
    // forging those is no error), and their tensor lists: not an array, an element no tensor, disposed or forged.
    ['multiNorm out disposed', () => { const o = nf.empty([], { device }); o.dispose(); return native().multiNorm(o, [nf.ones([2], { device })], 2); }],
    ['multiNorm out float16', () => native().multiNorm(nf.empty([], { device, dtype: 'float16' }), [nf.ones([2], { device })], 2)],
    ['multiNorm out inside an element', () => { const g = nf.ones([4], { device }); return native().multiNorm(g._view([], [], 1), [g], 2); }],
    ['multiNorm normType -1', () => native().multiNorm(nf.empty([], { device }), [nf.ones([2], { device })], -1)],
    ['multiScale norm of 2 elements', () => native().multiScale(nf.ones([2], { device }), [nf.ones([2], { device })], 1)],
    ['multiNorm tensors not an array', () => native().multiNorm(nf.empty([], { device }), nf.empty([2], { device }) as never, 2)],
    ['multiNorm tensors [5]', () => native().multiNorm(nf.empty([], { device }), [5 as never], 2)],
    ['multiNorm a disposed element', () => { const d = nf.ones([2], { device }); d.dispose(); return native().multiNorm(nf.empty([], { device }), [nf.ones([2], { device }), d], 2); }],
    ['multiNorm an element past its storage', () => native().multiNorm(nf.empty([], { device }), [{ ...forge(nf.ones([2], { device })), shape: [3] } as never], 2)],
    ['multiNorm an int32 element', () => native().multiNorm(nf.empty([], { device }), [nf.ones([2], { device, dtype: 'int32' })], 2)],
    ['multiScale a broadcast element', () => native().multiScale(nf.ones([1], { device }), [{ ...forge(nf.ones([2], { device })), strides: [0] } as never], 1)],
    ['multiScale the same tensor twice', () => { const g = nf.ones([4], { device }); return native().multiScale(nf.ones([1], { device }), [g, g], 1); }],
    ['multiScale norm inside an element', () => { const g = nf.ones([4], { device }); return native().multiScale(g._view([1], [1], 2), [g], 1); }],
    ['multiNorm an element getter that throws', () => native().multiNorm(nf.empty([], { device }), Object.defineProperty([nf.ones([1], { device })], 0, { get() { throw new Error('forged'); } }), 2)],
  ];
  for (const [label, fn] of storageCases) {
    expectThrow(label, fn);
    calls++;
  }
  t.dispose();
  for (const [label, fn] of [
    ['upload after dispose', () => storage.upload(0, new Uint8Array(4))],
    ['readSync after dispose', () => storage.readSync(0, new Uint8Array(4))],
    ['read after dispose', () => storage.read(0, new Uint8Array(4))],
  ] as [string, () => unknown][]) {
    expectThrow(label, fn);
    calls++;
  }
  return { calls, validControls };
}
