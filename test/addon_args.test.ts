// The addon's argument layer against hostile JavaScript (issue 24): getters that free an
// argument read earlier (bug 1), a layout buffer detached or shrunk under the addon (bug 2),
// work not bounded by memory (bug 3), members called on the wrong receiver (bug 9),
// out-of-memory errors (10.1), and dropped tensors the GC must see (bug 4).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { attention, ones, zeros, Tensor } from '../ts/index';
import { native, NativeStorage } from '../ts/native';
import { describeDevice } from './helpers';

type Raw = Record<string, (...args: unknown[]) => unknown>;
/** The addon itself, under ts/native.ts' packing wrapper: tensors go as objects. */
const raw = (): Raw => Object.getPrototypeOf(native()) as Raw;

/** A plain tensor argument over `storage`. */
function arg(storage: unknown, shape: number[], dtype = 'float32', strides?: number[]) {
  const s = strides ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { _storage: storage, offset: 0, shape, strides: s, dtype };
}

/** `arg(...)` whose shape getter first runs `effect` (a dispose, say). */
function sneaky(storage: unknown, shape: number[], effect: () => void) {
  const base = arg(storage, shape);
  return { ...base, get shape() { effect(); return shape; } };
}

const alloc = (bytes: number) => native().allocate('cpu', bytes);
const disposedError = (op: string, name: string) => ({ name: 'TypeError', code: 'ERR_INVALID_ARG', message: new RegExp(`^${op}: ${name} has been disposed`) });

describe('addon arguments: a getter that frees an earlier argument is refused, not used (issue 24 bug 1)', () => {
  const n = 1024;

  it('copy', () => {
    const a = alloc(4 * n), b = alloc(4 * n);
    assert.throws(() => raw().copy(arg(a, [n]), sneaky(b, [n], () => a.dispose())), disposedError('copy', 'dst'));
    b.dispose();
  });

  it('softmax', () => {
    const out = alloc(4 * n), x = alloc(4 * n);
    assert.throws(() => raw().softmax(arg(out, [4, n / 4]), sneaky(x, [4, n / 4], () => out.dispose()), null, 1), disposedError('softmax', 'out'));
    x.dispose();
  });

  it('gemm, freed by its residual', () => {
    const a = alloc(4 * 64), b = alloc(4 * 64), c = alloc(4 * 64), r = alloc(4 * 64);
    assert.throws(() => raw().gemm(arg(a, [1, 8, 8]), arg(b, [1, 8, 8]), arg(c, [1, 8, 8]), null, false, false, 1, 0, 0, 0, false,
      sneaky(r, [1, 8, 8], () => a.dispose())), disposedError('gemm', 'a'));
    for (const s of [b, c, r]) s.dispose();
  });

  it('attention, freed by v; its plan freed by a getter, or forged with getters that never run', () => {
    const shape = [1, 16, 2, 8], bytes = 4 * 16 * 2 * 8;
    const [out, q, k, v] = [alloc(bytes), alloc(bytes), alloc(bytes), alloc(bytes)];
    assert.throws(() => raw().attention(arg(out, shape), arg(q, shape), arg(k, shape), sneaky(v, shape, () => q.dispose()), null, null, 1, false),
      disposedError('attention', 'q'));
    const q2 = alloc(bytes);
    let ran = false;
    const forged = { get layout() { ran = true; k.dispose(); return null; }, block: 16 };
    assert.throws(() => raw().attention(arg(out, shape), arg(q2, shape), arg(k, shape), arg(v, shape), null, null, 1, false, forged),
      { code: 'ERR_INVALID_ARG', message: /^attention: plan must be a BlockPlan/ });
    assert.equal(ran, false, 'a plan that is no BlockPlan is refused unread');
    const plan = native().blockPlan('cpu', { layout: new Uint8Array(1).fill(1), heads: 1, rows: 1, cols: 1, block: 16 });
    assert.throws(() => raw().attention(arg(out, shape), arg(q2, shape), arg(k, shape), sneaky(v, shape, () => plan.dispose()), null, null, 1, false, plan),
      { code: 'ERR_INVALID_ARG', message: /^attention: the plan has been disposed/ });
    for (const s of [out, q2, k, v]) s.dispose();
  });

  it('attentionBackward and sparseAttentionBackward, freed by their last tensor (bias; lse) or their plan freed by a getter', () => {
    const shape = [1, 16, 2, 8], bytes = 4 * 16 * 2 * 8;
    const t = () => arg(alloc(bytes), shape);
    const lse = () => arg(alloc(4 * 2 * 16), [1, 2, 16]);
    const dq = alloc(bytes);
    assert.throws(() => raw().attentionBackward(arg(dq, shape), t(), t(), null, t(), t(), t(), t(), t(), lse(), null,
      sneaky(alloc(4 * 2 * 16 * 16), [1, 2, 16, 16], () => dq.dispose()), 1, false), disposedError('attentionBackward', 'dq'));
    const q = alloc(bytes);
    assert.throws(() => raw().sparseAttentionBackward(t(), t(), t(), t(), arg(q, shape), t(), t(), t(), sneaky(alloc(4 * 2 * 16), [1, 2, 16], () => q.dispose()),
      native().sparsePlan('cpu', new Int32Array(17), new Int32Array(0), 1, 16, 16), 1), disposedError('sparseAttentionBackward', 'q'));
    const plan = native().sparsePlan('cpu', new Int32Array(17), new Int32Array(0), 1, 16, 16);
    assert.throws(() => raw().sparseAttentionBackward(t(), t(), t(), t(), t(), t(), t(), t(), sneaky(alloc(4 * 2 * 16), [1, 2, 16], () => plan.dispose()), plan, 1),
      { code: 'ERR_INVALID_ARG', message: /^sparseAttentionBackward: the plan has been disposed/ });
  });

  it('encoderBlock, freed by its last weight', () => {
    const C = 8, hidden = 16;
    const x = alloc(4 * 2 * C), out = alloc(4 * 2 * C);
    const w = (rows: number, cols: number) => arg(alloc(4 * rows * cols), [rows, cols]);
    assert.throws(() => raw().encoderBlock(arg(out, [1, 2, C]), arg(x, [1, 2, C]), null, null, w(3 * C, C), null, w(C, C), null, null, null,
      w(hidden, C), null, sneaky(alloc(4 * C * hidden), [C, hidden], () => x.dispose()), null, 2, 1e-5, 1e-5, 0, 0, 0, 1, null),
    disposedError('encoderBlock', 'x'));
  });

  it('through ts/native.ts: a storage freed while the layouts are written', () => {
    const t = ones([4, 4]);
    const out = zeros([4, 4]);
    // A look-alike holding t's real storage (a Tensor itself can no longer be forged: its fields are private).
    const forged = { _storage: t._storage, get offset() { out.dispose(); return 0; }, shape: t.shape, strides: t.strides, dtype: t.dtype } as unknown as Tensor;
    assert.throws(() => native().softmax(out, forged, null, 1), { code: 'ERR_INVALID_ARG', message: /^softmax: out has been disposed/ });
    t.dispose();
  });
});

describe('addon arguments: the layout buffer may be detached or resized (issue 24 bug 2)', () => {
  // A second instance of the addon, so that this instance's buffer is ours to break.
  function secondInstance(): Raw {
    const file = process.env.NODEFORMERS_ADDON ? path.resolve(process.env.NODEFORMERS_ADDON) : require.resolve('../build/Release/nodeformers.node');
    const module = { exports: {} as Raw };
    process.dlopen(module as never, file);
    return module.exports;
  }
  const SLOTS = 16 * 20;

  function writeLayout(layouts: Float64Array, slot: number, shape: number[]) {
    layouts[slot * 20 + 1] = 0;
    layouts[slot * 20 + 2] = shape.length;
    shape.forEach((s, d) => { layouts[slot * 20 + 3 + d] = s; layouts[slot * 20 + 11 + d] = 1; });
    layouts[slot * 20 + 19] = shape.length;
    layouts[slot * 20] = 0; // float32
  }

  it('a detached buffer is refused, and a fresh one works again', () => {
    const addon = secondInstance();
    const storage = addon.allocate('cpu', 16) as NativeStorage;
    const layouts = new Float64Array(SLOTS);
    addon.setArgLayouts(layouts);
    writeLayout(layouts, 0, [4]);
    addon.fill(storage, 2);
    structuredClone(layouts.buffer, { transfer: [layouts.buffer] });
    assert.equal(layouts.length, 0);
    assert.throws(() => addon.fill(storage, 3), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /^fill: the argument layout buffer was detached or resized/ });
    const fresh = new Float64Array(SLOTS);
    addon.setArgLayouts(fresh);
    writeLayout(fresh, 0, [4]);
    addon.fill(storage, 5);
    const bytes = new Uint8Array(16);
    storage.readSync(0, bytes);
    assert.deepEqual(Array.from(new Float32Array(bytes.buffer)), [5, 5, 5, 5]);
    storage.dispose();
  });

  it('a resizable buffer shrunk under it is refused', () => {
    const addon = secondInstance();
    const storage = addon.allocate('cpu', 16) as NativeStorage;
    const rab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(
      SLOTS * 8, { maxByteLength: SLOTS * 8 });
    const tracking = new Float64Array(rab);
    addon.setArgLayouts(tracking);
    writeLayout(tracking, 0, [4]);
    rab.resize(8);
    assert.throws(() => addon.fill(storage, 1), { code: 'ERR_INVALID_ARG', message: /detached or resized/ });
    // A fixed-length view on it, the buffer shrunk past its end.
    rab.resize(SLOTS * 8);
    const fixed = new Float64Array(rab, 0, SLOTS);
    addon.setArgLayouts(fixed);
    writeLayout(fixed, 0, [4]);
    rab.resize(SLOTS * 4);
    assert.throws(() => addon.fill(storage, 1), { code: 'ERR_INVALID_ARG', message: /detached or resized/ });
    storage.dispose();
  });
});

describe('addon arguments: work bounded by memory (issue 24 bug 3)', function () {
  this.timeout(10000);

  it('attention with head dim 0 returns at once, its output empty', () => {
    const started = Date.now();
    const q = zeros([2 ** 40, 1, 1, 0]);
    const out = attention(q, q, q);
    assert.deepEqual(out.shape, [2 ** 40, 1, 1, 0]);
    const wide = zeros([1, 16384, 1, 0]);
    assert.deepEqual(attention(wide, wide, wide).shape, [1, 16384, 1, 0]);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('raw ops with an empty output return at once', () => {
    const started = Date.now();
    const e = alloc(0);
    raw().softmax(arg(e, [2 ** 40, 0]), arg(e, [2 ** 40, 0]), null, 1);
    raw().mean(arg(e, [2 ** 40, 0]), arg(e, [2 ** 40, 0]), 2 ** 40, 1, 0);
    const plan = native().sparsePlan('cpu', Int32Array.from([0, 0]), new Int32Array(0), 1, 1, 1);
    const qkv = arg(e, [2 ** 40, 1, 1, 0]);
    raw().sparseAttention(qkv, qkv, qkv, qkv, plan, 1);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('raw sparseAttention refuses broadcast (stride 0) q, k and v', () => {
    const plan = native().sparsePlan('cpu', Int32Array.from([0, 1, 2]), Int32Array.from([0, 1]), 1, 2, 2);
    const small = alloc(4 * 4), out = alloc(4 * 2 * 4);
    const dense = arg(alloc(4 * 2 * 4), [1, 2, 1, 4]);
    const broadcast = arg(small, [2 ** 20, 2, 1, 4], 'float32', [0, 0, 0, 1]);
    for (const [i, name] of [[1, 'q'], [2, 'k'], [3, 'v']] as const) {
      const args: unknown[] = [arg(out, [1, 2, 1, 4]), dense, dense, dense, plan, 1];
      args[i] = name === 'q' ? broadcast : arg(small, [1, 2, 1, 4], 'float32', [0, 0, 0, 1]);
      assert.throws(() => raw().sparseAttention(...args), { code: 'ERR_INVALID_ARG', message: new RegExp(`^sparseAttention: ${name} is a broadcast view`) });
    }
  });
});

describe('addon objects check their receivers (issue 24 bug 9)', () => {
  const expectRefusal = (label: string, fn: () => unknown, member: string, cls: string) =>
    assert.throws(fn, (e: Error & { code?: string }) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG' &&
      e.message === `${member}: the receiver is not a ${cls}`, label);

  it('every Storage accessor and method refuses another receiver', () => {
    const t = ones([4]);
    const storage = t._storage as object;
    const proto = Object.getPrototypeOf(storage) as object;
    const plan = native().sparsePlan('cpu', Int32Array.from([0, 1]), Int32Array.from([0]), 1, 1, 1);
    const receivers: [string, unknown][] = [['a SparsePlan', plan], ['a plain object', {}], ['a number', 5], ['null', null], ['the prototype', proto]];
    for (const name of ['bytes', 'device', 'disposed']) {
      const get = Object.getOwnPropertyDescriptor(proto, name)!.get!;
      for (const [label, r] of receivers) expectRefusal(`${name} on ${label}`, () => get.call(r), `Storage.${name}`, 'Storage');
    }
    for (const name of ['dispose', 'upload', 'readSync', 'read']) {
      const method = (proto as Record<string, (...a: unknown[]) => unknown>)[name];
      for (const [label, r] of receivers) expectRefusal(`${name} on ${label}`, () => method.call(r, 0, new Uint8Array(4)), `Storage.${name}`, 'Storage');
    }
    // The real receiver still works, and a Storage is no SparsePlan nor the reverse.
    assert.equal((storage as NativeStorage).bytes, 16);
    assert.throws(() => native().sparseAttention(t, t, t, t, storage as never, 1), /sparseAttention: plan must be a SparsePlan/);
    assert.throws(() => raw().fill(plan, 0), /fill: dst must be a Tensor/);
    t.dispose();
  });
});

describeDevice('cuda:0', 'addon Graph objects check their receivers', () => {
  it('launch, dispose and disposed refuse another receiver', () => {
    native().cudaCaptureBegin('cuda:0');
    const graph = native().cudaCaptureEnd('cuda:0') as object;
    const proto = Object.getPrototypeOf(graph) as Record<string, (...a: unknown[]) => unknown>;
    const storage = ones([1], { device: 'cuda:0' })._storage;
    for (const r of [{}, storage, 1]) {
      for (const name of ['launch', 'dispose']) {
        assert.throws(() => proto[name].call(r), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: `Graph.${name}: the receiver is not a Graph` });
      }
      assert.throws(() => Object.getOwnPropertyDescriptor(proto, 'disposed')!.get!.call(r), { message: 'Graph.disposed: the receiver is not a Graph' });
    }
    (graph as { dispose(): void }).dispose();
  });
});

describe('addon device methods on a backend without them', () => {
  it('the CPU backend refuses what needs a CUDA device, naming it, and aborts no capture', () => {
    const calls: [string, () => unknown, RegExp][] = [
      ['cudaMemory', () => native().cudaMemory('cpu'), /^cuda\.memory: reading memory counters needs a CUDA device \(cpu is not one\)/],
      ['cudaHostTimes', () => native().cudaHostTimes('cpu'), /^cuda\.hostTimes: reading host times needs a CUDA device/],
      ['cudaDeviceInfo', () => native().cudaDeviceInfo('cpu'), /^cuda\.device: reading device facts needs a CUDA device/],
      ['cudaTimeRegion', () => native().cudaTimeRegion('cpu', () => undefined), /^cuda\.time: event timing needs a CUDA device/],
      ['cudaCaptureBegin', () => native().cudaCaptureBegin('cpu'), /^capture: graph capture needs a CUDA device/],
    ];
    for (const [label, fn, message] of calls) assert.throws(fn, { name: 'TypeError', code: 'ERR_INVALID_ARG', message }, label);
    native().cudaCaptureAbort('cpu');
    native().cudaGraphMemTrim('cpu');
  });
});

describe('addon out-of-memory errors (issue 24 10.1)', () => {
  it('an absurd host allocation is an Error with code ERR_OUT_OF_MEMORY, not a TypeError', () => {
    assert.throws(() => native().allocate('cpu', 2 ** 52), (e: Error & { code?: string }) =>
      e.constructor === Error && e.code === 'ERR_OUT_OF_MEMORY' && /^allocate: .*out of host memory/.test(e.message));
  });
});

describe('addon memory the GC can see (issue 24 bug 4)', function () {
  this.timeout(60000);

  it('dropped 4 MiB tensors, never disposed, keep the RSS bounded on the CPU', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    for (let i = 0; i < 500; i++) {
      zeros([1024, 1024]);
      await new Promise((resolve) => setImmediate(resolve));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const grown = (peak - before) / 2 ** 20;
    assert.ok(grown < 512, `RSS grew by ${grown.toFixed(0)} MiB over 500 dropped 4 MiB tensors (2000 MiB made)`);
  });
});
