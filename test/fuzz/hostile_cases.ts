// Hostile JS values for the addon and the public ops, one seeded case at a time: getters
// that dispose a storage the same call uses (on a tensor's fields or an options object),
// Proxies whose traps throw, dispose or answer differently on each read, detached and
// resized ArrayBuffers (data views, pending reads, the argument-layout buffer of
// setArgLayouts), receivers of the wrong type for Storage's accessors and methods, and
// numbers whose valueOf / toString / Symbol.toPrimitive dispose a storage. A case passes
// when it throws an Error or succeeds with the result of the same call on clean values;
// test/fuzz/hostile_child.ts runs them, test/fuzz/hostile_values.test.ts reports crashes.
import * as path from 'node:path';
import * as nf from '../../ts/index';
import type { Device, Tensor } from '../../ts/index';
import { native, NativeStorage } from '../../ts/native';
import { forge, rawOps } from './raw_ops';
import type { Rng } from './rng';

type Fn = (...args: unknown[]) => unknown;
type Methods = Record<string, Fn>;

export interface HostileCase {
  kind: string;
  /** What the case does, on one line: printed before it runs, so a crash names it. */
  label: string;
  /** Performs the call (a Promise for the asynchronous ones). */
  run(): unknown;
  /** After a success: null when the result is right, else why not. */
  verify(result: unknown): string | null;
}

export const KINDS = [
  'raw-getter', 'raw-proxy', 'raw-coerce', 'public-view', 'public-options', 'public-coerce', 'public-proxy', 'buffer', 'receiver',
] as const;

/** What cases share in one process: the addon three ways, the device, and what to free after each case. */
export class HostileContext {
  readonly packed = native() as unknown as Methods;
  /** The addon's own methods: tensor arguments go as objects, read field by field by the addon. */
  readonly raw = Object.getPrototypeOf(native()) as Methods;
  private secondInstance: Methods | null = null;
  private made: { dispose(): void }[] = [];
  constructor(readonly device: Device) {}

  /** The addon loaded a second time: its own instance, whose layout buffer a case may wreck. */
  get second(): Methods {
    if (this.secondInstance === null) {
      const m = { exports: {} as Methods };
      process.dlopen(m, path.resolve(process.env.NODEFORMERS_ADDON ?? path.join(__dirname, '..', '..', 'build', 'Release', 'nodeformers.node')));
      this.secondInstance = m.exports;
      this.secondInstance.setArgLayouts(new Float64Array(LAYOUT_DOUBLES));
    }
    return this.secondInstance;
  }
  track<T extends { dispose(): void }>(t: T): T { this.made.push(t); return t; }
  randn(shape: number[], seed: number): Tensor { return this.track(nf.randn(shape, { device: this.device, seed })); }
  free(): void {
    for (const t of this.made) try { t.dispose(); } catch { /* a storage a case wrecked */ }
    this.made = [];
    if (this.secondInstance) this.secondInstance.setArgLayouts(new Float64Array(LAYOUT_DOUBLES));
  }
}

// ts/native.ts's argument slots: 16 slots of 20 doubles, {dtype code, offset, rank, shape[8], strides[8], rank}.
const SLOT = 20;
const LAYOUT_DOUBLES = 16 * SLOT;
function writeSlot(layouts: Float64Array, slot: number, t: Tensor): void {
  const base = slot * SLOT;
  t.shape.forEach((d, i) => { layouts[base + 3 + i] = d; layouts[base + 11 + i] = t.strides[i]; });
  layouts[base + 1] = t.offset;
  layouts[base + 2] = layouts[base + 19] = t.shape.length;
  layouts[base] = 0; // float32
}

const storageOf = (t: Tensor) => t._storage as NativeStorage;
const FIELDS = ['_storage', 'offset', 'shape', 'strides', 'dtype'] as const;
type Field = (typeof FIELDS)[number];

/** A value for `field` of `t` that lies: a view far past its storage, another dtype, a storage of 4 bytes. */
function lie(ctx: HostileContext, t: Tensor, field: Field): unknown {
  switch (field) {
    case 'offset': return 2 ** 40;
    case 'shape': return t.shape.map((d) => d * 1000 + 7);
    case 'strides': return t.strides.map(() => 2 ** 40);
    case 'dtype': return 'float16';
    default: return ctx.track(native().allocate(ctx.device, 4));
  }
}

/** A number-like object whose coercion runs `effect` first: by valueOf, toString or Symbol.toPrimitive. */
function coercing(rng: Rng, value: number, effect: () => void): { how: string; v: unknown } {
  const how = rng.pick(['valueOf', 'toString', 'Symbol.toPrimitive']);
  const fn = () => { effect(); return how === 'toString' ? String(value) : value; };
  return { how, v: how === 'Symbol.toPrimitive' ? { [Symbol.toPrimitive]: fn } : { [how]: fn } };
}

/** `target` behind a Proxy whose `get` of `field` throws, disposes, or answers the truth and a lie in turn. */
function trapped(rng: Rng, target: object, field: string, effect: () => void, lieValue: unknown): { trap: string; v: object } {
  const trap = rng.pick(['throws on', 'disposes on', 'answers a lie every other read of', 'throws in has/ownKeys, reads']);
  let reads = 0;
  const handler: ProxyHandler<object> = {
    get(t, p, r) {
      if (p !== field) return Reflect.get(t, p, r);
      if (trap === 'throws on') throw new Error(`hostile trap: get ${field}`);
      if (trap === 'disposes on') effect();
      if (trap.startsWith('answers') && reads++ % 2 === 1) return lieValue;
      return Reflect.get(t, p, r);
    },
  };
  if (trap.startsWith('throws in')) {
    handler.has = handler.ownKeys = handler.getOwnPropertyDescriptor = () => { throw new Error('hostile trap: keys'); };
  }
  return { trap, v: new Proxy(target, handler) };
}

/** Exactly equal values, or why not. */
function sameValues(actual: ArrayLike<number>, expected: ArrayLike<number>): string | null {
  if (actual.length !== expected.length) return `${actual.length} values, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) return `element ${i} is ${actual[i]}, expected ${expected[i]} (the same call on clean values)`;
  }
  return null;
}

// ---- forged calls into the addon's op methods -----------------------------------------------

function rawCase(rng: Rng, ctx: HostileContext, kind: string): HostileCase {
  const op = rng.pick(rawOps(ctx.device));
  const { args, tensors, outputs, numbers } = op.make();
  for (const k of tensors) if (args[k]) ctx.track(args[k] as Tensor);
  const via = rng.chance(0.7) ? 'raw' : 'packed';
  const callArgs: unknown[] = args.map((a, i) => (tensors.includes(i) && a ? forge(a as Tensor) : a));
  const live = tensors.filter((i) => args[i]);
  const k = rng.pick(live);
  const victimIndex = rng.pick(live);
  const victim = storageOf(args[victimIndex] as Tensor);
  const dispose = () => victim.dispose();
  const target = args[k] as Tensor;
  const field = rng.pick(FIELDS);
  let what: string;
  if (kind === 'raw-getter') {
    const value = (callArgs[k] as Record<string, unknown>)[field];
    Object.defineProperty(callArgs[k], field, { get() { dispose(); return value; }, enumerable: true });
    what = `argument ${k}'s ${field} getter disposes argument ${victimIndex}'s storage`;
  } else if (kind === 'raw-proxy') {
    if (rng.chance(0.3) && (field === 'shape' || field === 'strides')) {
      const array = [...target[field]];
      const prop = rng.pick(['length', '0']);
      const p = trapped(rng, array, prop, dispose, 2 ** 40);
      (callArgs[k] as Record<string, unknown>)[field] = p.v;
      what = `argument ${k}'s ${field} array is a Proxy that ${p.trap} ${prop === 'length' ? 'its length' : 'its element 0'} (the victim: argument ${victimIndex})`;
    } else {
      const p = trapped(rng, callArgs[k] as object, field, dispose, lie(ctx, target, field));
      callArgs[k] = p.v;
      what = `argument ${k} is a Proxy that ${p.trap} ${field} (the victim: argument ${victimIndex})`;
    }
  } else if (numbers.length > 0 && rng.chance(0.4)) {
    const n = rng.pick(numbers);
    const c = coercing(rng, args[n] as number, dispose);
    callArgs[n] = c.v;
    what = `number argument ${n} coerces by ${c.how}, disposing argument ${victimIndex}`;
  } else {
    const f = rng.pick(['offset', 'shape', 'strides'] as const);
    const c = coercing(rng, f === 'offset' ? target.offset : target[f][0] ?? 0, dispose);
    const o = callArgs[k] as Record<string, unknown>;
    o[f] = f === 'offset' ? c.v : target[f].length > 0 ? [c.v, ...target[f].slice(1)] : [c.v];
    what = `argument ${k}'s ${f === 'offset' ? 'offset' : `${f}[0]`} coerces by ${c.how}, disposing argument ${victimIndex}`;
  }
  const method = via === 'raw' ? ctx.raw[op.name] : ctx.packed[op.name];
  const out = args[outputs[0]] as Tensor;
  return {
    kind, label: `${via} ${op.name}: ${what}`,
    run: () => method.apply(via === 'raw' ? Object.getPrototypeOf(native()) : native(), callArgs),
    verify: () => {
      if (storageOf(out).disposed) return null; // nothing left to read: a success wrote into memory it was handed
      const clean = op.make();
      try {
        (ctx.packed[op.name])(...clean.args);
        return sameValues(out.dataSync(), (clean.args[outputs[0]] as Tensor).dataSync());
      } finally {
        for (const a of clean.args) if (a && typeof a === 'object' && 'dispose' in a) (a as Tensor).dispose();
      }
    },
  };
}

// ---- the public ops --------------------------------------------------------------------------

interface PublicOp {
  name: string;
  shapes: number[][];
  /** The options object the op reads (hostile getters go on it), or null. */
  options: Record<string, unknown> | null;
  /** The number argument a coercion replaces, or null. */
  number: number | null;
  call(x: unknown[], options: unknown, n: unknown): Tensor;
}

const T = (v: unknown) => v as Tensor;
const O = <X>(v: unknown) => v as X;
const PUBLIC: PublicOp[] = [
  { name: 'softmax', shapes: [[2, 6]], options: { scale: 0.5 }, number: null, call: (x, o) => nf.softmax(T(x[0]), O(o)) },
  { name: 'attention', shapes: [[1, 5, 2, 4], [1, 6, 2, 4], [1, 6, 2, 4]], options: { causal: true, scale: 0.3 }, number: null, call: (x, o) => nf.attention(T(x[0]), T(x[1]), T(x[2]), O(o)) },
  { name: 'linear', shapes: [[3, 4], [5, 4], [5]], options: { activation: 'gelu' }, number: null, call: (x, o) => nf.linear(T(x[0]), T(x[1]), T(x[2]), O(o)) },
  { name: 'matmul', shapes: [[3, 4], [5, 4]], options: { transposeB: true }, number: null, call: (x, o) => nf.matmul(T(x[0]), T(x[1]), O(o)) },
  { name: 'add', shapes: [[2, 6], [6]], options: { alpha: 0.5 }, number: null, call: (x, o) => nf.add(T(x[0]), T(x[1]), O(o)) },
  { name: 'add (a number)', shapes: [[2, 6]], options: null, number: 1.5, call: (x, _o, n) => nf.add(T(x[0]), O(n)) },
  { name: 'residualAdd', shapes: [[2, 6], [2, 6]], options: { scale: 0.5 }, number: null, call: (x, o) => nf.residualAdd(T(x[0]), T(x[1]), O(o)) },
  { name: 'layerNorm', shapes: [[2, 6], [6], [6]], options: null, number: 1e-5, call: (x, _o, n) => nf.layerNorm(T(x[0]), T(x[1]), T(x[2]), O(n)) },
  { name: 'leakyRelu', shapes: [[7]], options: null, number: 0.1, call: (x, _o, n) => nf.leakyRelu(T(x[0]), O(n)) },
  { name: 'mean', shapes: [[2, 3, 4]], options: { keepDim: true }, number: 1, call: (x, o, n) => nf.mean(T(x[0]), O(n), O(o)) },
  { name: 'slice', shapes: [[3, 5]], options: null, number: 1, call: (x, _o, n) => nf.slice(T(x[0]), 1, O(n), 4) },
  { name: 'concat', shapes: [[2, 3], [1, 3]], options: null, number: 0, call: (x, _o, n) => nf.concat([T(x[0]), T(x[1])], O(n)) },
  { name: 'transpose', shapes: [[3, 4]], options: null, number: 1, call: (x, _o, n) => nf.transpose(T(x[0]), 0, O(n)) },
];

function publicCase(rng: Rng, ctx: HostileContext, kind: string): HostileCase {
  const eligible = PUBLIC.filter((p) => (kind === 'public-options' ? p.options : kind === 'public-coerce' ? p.number !== null : true));
  const op = rng.pick(eligible);
  const seed = rng.int(1, 1000);
  const fresh = () => op.shapes.map((s, i) => ctx.randn(s, seed + i));
  const inputs = fresh();
  const x: unknown[] = [...inputs];
  let options: unknown = op.options && { ...op.options };
  let n: unknown = op.number;
  const v = rng.int(0, inputs.length - 1);
  const byStorage = rng.chance(0.5); // the storage itself, under the Tensor's feet, or the Tensor
  const dispose = () => (byStorage ? storageOf(inputs[v])?.dispose() : inputs[v].dispose());
  const disposing = `${byStorage ? 'disposes the storage of' : 'disposes'} input ${v}`;
  const k = rng.int(0, inputs.length - 1);
  let what: string;
  if (kind === 'public-view') {
    const field = rng.pick([...FIELDS, 'device', 'size'] as const);
    const fake = Object.create(inputs[k]) as object;
    const value = (inputs[k] as unknown as Record<string, unknown>)[field];
    Object.defineProperty(fake, field, { get() { dispose(); return value; } });
    x[k] = fake;
    what = `input ${k} is Object.create(a live tensor) whose ${field} getter ${disposing}`;
  } else if (kind === 'public-options') {
    const key = rng.pick([...Object.keys(op.options as object), 'out']);
    const value = (op.options as Record<string, unknown>)[key];
    Object.defineProperty(options, key, { get() { dispose(); return value; }, enumerable: true });
    what = `the options' ${key} getter ${disposing}`;
  } else if (kind === 'public-coerce') {
    const c = coercing(rng, op.number as number, dispose);
    n = c.v;
    what = `the number argument coerces by ${c.how} and ${disposing}`;
  } else {
    const field = rng.pick(FIELDS);
    const p = trapped(rng, inputs[k], field, dispose, lie(ctx, inputs[k], field));
    x[k] = p.v;
    what = `input ${k} is a Proxy of a live tensor that ${p.trap} ${field} (the victim: input ${v}${byStorage ? `'s storage` : ''})`;
  }
  return {
    kind, label: `${op.name}: ${what}`,
    run: () => op.call(x, options, n),
    verify: (result) => {
      const out = ctx.track(result as Tensor);
      let values: ArrayLike<number>;
      try {
        values = out.dataSync();
      } catch (e) {
        return e instanceof Error ? null : `reading the result threw a non-Error ${String(e)}`; // a view of what the case disposed
      }
      const clean = op.call(fresh(), op.options && { ...op.options }, op.number);
      return sameValues(values, ctx.track(clean).dataSync());
    },
  };
}

// ---- ArrayBuffers that detach or shrink --------------------------------------------------------

/** Detaches `ab` (its memory moves to the clone: ArrayBuffer.prototype.transfer() needs a flag in Node 20); with `collect`, the clone is dropped and collected. */
function transferAway(ab: ArrayBufferLike, collect: boolean): void {
  let moved: ArrayBuffer | null = structuredClone(ab as ArrayBuffer, { transfer: [ab as ArrayBuffer] });
  if (collect) { moved = null; global.gc?.(); }
  void moved;
}

/** A Uint8Array of `n` bytes whose buffer is gone: transferred away, or resizable and resized to 0. */
function vanishing(rng: Rng, n: number): { how: string; view: Uint8Array; vanish(): void } {
  const how = rng.pick(['transfer', 'transfer and collect', 'resize to 0 (length-tracking view)', 'resize to 0 (fixed-length view)']);
  if (how.startsWith('transfer')) {
    const view = new Uint8Array(n);
    return { how, view, vanish: () => transferAway(view.buffer, how.endsWith('collect')) };
  }
  const ab = new ArrayBuffer(n, { maxByteLength: 4 * n + 64 });
  return { how, view: how.includes('length-tracking') ? new Uint8Array(ab) : new Uint8Array(ab, 0, n), vanish: () => ab.resize(0) };
}

function bufferCase(rng: Rng, ctx: HostileContext): HostileCase {
  const t = ctx.randn([8], rng.int(1, 1000));
  const s = storageOf(t);
  const sub = rng.pick(['upload', 'readSync', 'read pending', 'tensor', 'setArgLayouts']);
  const b = vanishing(rng, 32);
  const base = { kind: 'buffer', verify: () => null };
  if (sub === 'upload' || sub === 'readSync') {
    b.vanish();
    return { ...base, label: `${sub} through a view whose buffer was ${b.how}`, run: () => (sub === 'upload' ? s.upload(0, b.view) : s.readSync(0, b.view)) };
  }
  if (sub === 'read pending') {
    return { ...base, label: `read into a view whose buffer is ${b.how} before the read settles`, run: () => { const p = s.read(0, b.view); b.vanish(); return p; } };
  }
  if (sub === 'tensor') {
    const floats = new Float32Array(b.view.buffer, 0, 8);
    b.vanish();
    return { ...base, label: `tensor() from a Float32Array whose buffer was ${b.how}`, run: () => ctx.track(nf.tensor(floats, [8])) };
  }
  // The second instance's layout buffer: set, filled for a copy, then made to vanish.
  const second = ctx.second;
  const dst = ctx.randn([8], 1);
  const how = rng.pick(['transfer', 'transfer and collect', 'resize to 0', 'a fixed-length view, resize to 0', 'detached before', 'a Proxy', 'a Float32Array']);
  return {
    ...base, label: `setArgLayouts with a Float64Array whose buffer is: ${how}; then copy()`,
    run: () => {
      let layouts: Float64Array;
      let vanish = () => {};
      if (how.startsWith('resize') || how.startsWith('a fixed')) {
        const ab = new ArrayBuffer(LAYOUT_DOUBLES * 8, { maxByteLength: LAYOUT_DOUBLES * 16 });
        layouts = how.startsWith('a fixed') ? new Float64Array(ab, 0, LAYOUT_DOUBLES) : new Float64Array(ab);
        vanish = () => ab.resize(0);
      } else {
        layouts = new Float64Array(LAYOUT_DOUBLES);
        if (how === 'detached before') transferAway(layouts.buffer, false);
        else if (how.startsWith('transfer')) vanish = () => transferAway(layouts.buffer, how.endsWith('collect'));
      }
      const given: unknown = how === 'a Proxy' ? new Proxy(layouts, {}) : how === 'a Float32Array' ? new Float32Array(LAYOUT_DOUBLES) : layouts;
      second.setArgLayouts(given);
      if (layouts.length === LAYOUT_DOUBLES) { writeSlot(layouts, 0, dst); writeSlot(layouts, 1, t); }
      vanish();
      return second.copy(dst._storage, t._storage);
    },
    verify: () => sameValues(dst.dataSync(), t.dataSync()),
  };
}

// ---- receivers of the wrong type -------------------------------------------------------------------

function receiverCase(rng: Rng, ctx: HostileContext): HostileCase {
  const t = ctx.randn([4], 3);
  const storage = storageOf(t);
  const proto = Object.getPrototypeOf(storage) as object;
  const names = Object.getOwnPropertyNames(proto).filter((p) => p !== 'constructor');
  const name = rng.pick(names);
  const d = Object.getOwnPropertyDescriptor(proto, name) as PropertyDescriptor;
  const member = (d.get ?? d.value) as Fn;
  const StorageCtor = storage.constructor as new () => object;
  // [who, the receiver, what it is: not a Storage, a Storage with no memory (made by new), a live Storage]
  const receivers: [string, () => unknown, 'other' | 'empty' | 'live'][] = [
    ['a SparsePlan', () => (ctx.track(nf.SparseMask.fromDense(new Uint8Array([1, 0, 1, 1]), [2, 2], { device: ctx.device })) as unknown as { plan: unknown }).plan, 'other'],
    ['a plain object', () => ({}), 'other'],
    ['undefined', () => undefined, 'other'],
    ['a number', () => 7, 'other'],
    ['the addon', () => native(), 'other'],
    ['Object.create(a Storage)', () => Object.create(storage), 'other'],
    ['a Proxy of a Storage', () => new Proxy(storage, {}), 'other'],
    ['a Tensor', () => t, 'other'],
    ['a Storage made by new', () => new StorageCtor(), 'empty'],
    ["the second instance's Storage", () => ctx.track(ctx.second.allocate('cpu', 16) as NativeStorage), 'live'],
  ];
  const [who, make, is] = rng.pick(receivers);
  const transfer = name === 'upload' || name === 'readSync' || name === 'read';
  const args = transfer ? [0, new Uint8Array(4)] : [];
  return {
    kind: 'receiver', label: `Storage ${d.get ? 'accessor' : 'method'} ${name} called on ${who}`,
    run: () => member.apply(make(), args),
    verify: (result) => {
      if (is === 'other') return `returned ${String(result)} for a receiver that is not a Storage`;
      if (is === 'empty' && transfer) return `${name} succeeded on a Storage with no memory`;
      if (name === 'bytes' && result !== (is === 'live' ? 16 : 0)) return `bytes ${String(result)} on ${who}`;
      return null;
    },
  };
}

/** Case `index` of a run, drawn from its own generator. */
export function hostileCase(rng: Rng, ctx: HostileContext): HostileCase {
  const kind = rng.pick(KINDS);
  if (kind.startsWith('raw-')) return rawCase(rng, ctx, kind);
  if (kind.startsWith('public-')) return publicCase(rng, ctx, kind);
  return kind === 'buffer' ? bufferCase(rng, ctx) : receiverCase(rng, ctx);
}
