// The sparse kernels' plans, built natively (native/core/sparse_plan.h, attention_plans.h):
// the CSR kernel's schedule against a TypeScript reference kept here, the tile lists against
// the dense form of the mask or layout, and the plan objects (sparsePlan(), blockPlan())
// against hostile input: each a JS Error naming the function, never a crash.
import * as assert from 'node:assert/strict';
import { patterns, randn, SparseMask } from '../ts/index';
import { native, NativeBlockPlan, NativeSparsePlan } from '../ts/native';
import { describeDevice, poisoned } from './helpers';

type Raw = Record<string, (...args: unknown[]) => unknown>;
/** The addon itself, under ts/native.ts' packing wrapper: tensors go as objects. */
const raw = (): Raw => Object.getPrototypeOf(native()) as Raw;

// ---- a reference of the schedule (the TypeScript it was built by before) -------------------------

const SEGMENT = 256;
const LEAD_FACTOR = 2;
const LEAD_MIN = 32;

interface Schedule { items: number[][]; leadItems: number; merges: number[][]; slots: number }

function referenceSchedule(offsets: Int32Array, segment = SEGMENT): Schedule {
  const rows = offsets.length - 1;
  const leadLength = Math.max(LEAD_MIN, LEAD_FACTOR * (rows > 0 ? offsets[rows] / rows : 0));
  const lead: number[][] = [];
  const rest: number[][] = [];
  const merges: number[][] = [];
  let slot = 0;
  const put = (item: number[]) => (item[2] - item[1] >= leadLength ? lead : rest).push(item);
  for (let r = 0; r < rows; r++) {
    const begin = offsets[r], len = offsets[r + 1] - begin;
    if (len <= segment) {
      put([r, begin, begin + len, -1]);
      continue;
    }
    const pieces = Math.ceil(len / segment);
    merges.push([r, slot, pieces]);
    const end = (p: number) => Math.floor((p * len) / pieces);
    for (let p = 0; p < pieces; p++) put([r, begin + end(p), begin + end(p + 1), slot++]);
  }
  lead.sort((a, b) => b[2] - b[1] - (a[2] - a[1])); // stable: row order among equals
  return { items: [...lead, ...rest], leadItems: lead.length, merges, slots: slot };
}

/** Records of `size` int32 as arrays. */
const records = (a: Int32Array, size: number) => Array.from({ length: a.length / size }, (_, n) => Array.from(a.subarray(size * n, size * n + size)));

/** Offsets of rows of these lengths, and columns 0, 1, ... in each (nk at least the longest). */
function csrOfLengths(lengths: number[]): { offsets: Int32Array; cols: Int32Array } {
  const offsets = new Int32Array(lengths.length + 1);
  lengths.forEach((l, r) => (offsets[r + 1] = offsets[r] + l));
  const cols = new Int32Array(offsets[lengths.length]);
  lengths.forEach((l, r) => { for (let j = 0; j < l; j++) cols[offsets[r] + j] = j; });
  return { offsets, cols };
}

function planOf(lengths: number[], segment?: number, nk = Math.max(1, ...lengths)): NativeSparsePlan {
  const { offsets, cols } = csrOfLengths(lengths);
  return native().sparsePlan('cpu', offsets, cols, 1, lengths.length, nk, segment);
}

/** A seeded 0/1 mask of about `density`. */
function randomBits(seed: number, n: number, density: number): Uint8Array {
  let r = seed >>> 0;
  return Uint8Array.from({ length: n }, () => {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    return (r >>> 8) / 2 ** 24 < density ? 1 : 0;
  });
}

describe('sparsePlan: the CSR kernel schedule, built natively', () => {
  it('splits a 1000-entry row into 4 near-equal pieces with consecutive slots and one merge', () => {
    // rows: 0 empty, 1 of 1000, 2 of 3, 3 of 256 (not split), 4 of 257 (split in 2)
    const plan = planOf([0, 1000, 3, 256, 257]);
    const s = plan.describe();
    assert.deepEqual(records(s.merges, 3), [[1, 0, 4], [4, 4, 2]]);
    assert.equal(s.slots, 6);
    assert.equal(s.leadItems, 0, 'no item reaches twice the mean row length (303 entries)');
    assert.deepEqual(records(s.items, 4), [
      [0, 0, 0, -1],
      [1, 0, 250, 0], [1, 250, 500, 1], [1, 500, 750, 2], [1, 750, 1000, 3],
      [2, 1000, 1003, -1],
      [3, 1003, 1259, -1],
      [4, 1259, 1387, 4], [4, 1387, 1516, 5], // 128 entries, then 129
    ]);
    assert.deepEqual({ ...plan.stats() }, { maskHeads: 1, nq: 5, nk: 1000, nnz: 1516, items: 9, leadItems: 0, merges: 2, slots: 6 });
    plan.dispose();
  });

  it('covers every entry exactly once, pieces at most segment long, lead items first, the rest in row order', () => {
    const lengths = [0, 5, 300, 1, 0, 1024, 77, 513, 256, 2];
    const total = lengths.reduce((a, b) => a + b, 0);
    const starts = csrOfLengths(lengths).offsets;
    const threshold = Math.max(LEAD_MIN, (LEAD_FACTOR * total) / lengths.length); // 435.6
    const leadsAt = new Map([[1, 0], [7, 0], [64, 0], [256, 0], [5000, 2]]); // whole rows of 1024 and 513 lead at 5000
    for (const segment of [1, 7, 64, 256, 5000]) {
      const s = planOf(lengths, segment).describe();
      assert.equal(s.leadItems, leadsAt.get(segment), `segment ${segment}`);
      const covered = new Uint8Array(total);
      const rowsSeen = new Set<number>();
      let previous = -1;
      let previousLength = Infinity;
      records(s.items, 4).forEach(([r, begin, end, slot], n) => {
        rowsSeen.add(r);
        assert.ok(begin >= starts[r] && end <= starts[r + 1] && begin <= end);
        assert.ok(end - begin <= segment);
        if (n < s.leadItems) {
          assert.ok(end - begin >= threshold && end - begin <= previousLength, 'lead items: long, longest first');
          previousLength = end - begin;
        } else {
          assert.ok(end - begin < threshold, 'a long item leads');
          assert.ok(r >= previous, 'in row order');
          previous = r;
        }
        assert.equal(slot === -1, lengths[r] <= segment);
        for (let e = begin; e < end; e++) covered[e]++;
      });
      assert.equal(rowsSeen.size, lengths.length, 'every row, empty ones too, has an item');
      assert.ok(covered.every((x) => x === 1));
      let nextSlot = 0;
      for (const [r, first, count] of records(s.merges, 3)) {
        assert.equal(first, nextSlot);
        assert.equal(count, Math.ceil(lengths[r] / segment));
        nextSlot += count;
      }
      assert.equal(s.slots, nextSlot);
    }
  });

  it('equals the reference schedule on random masks, shared and per-head, at every segment', () => {
    for (const [seed, heads, nq, nk, density] of [[1, 1, 197, 197, 0.2], [2, 3, 64, 900, 0.6], [3, 2, 300, 40, 0.05], [4, 1, 50, 5000, 0.3]]) {
      const mask = SparseMask.fromDense(randomBits(seed, heads * nq * nk, density), heads === 1 ? [nq, nk] : [heads, nq, nk]);
      for (const segment of [1, 3, 16, 100, 256, undefined]) {
        const plan = native().sparsePlan('cpu', mask.rowOffsets, mask.colIndices, heads, nq, nk, segment);
        const got = plan.describe();
        const ref = referenceSchedule(mask.rowOffsets, segment);
        const label = `seed ${seed} segment ${segment}`;
        assert.deepEqual(records(got.items, 4), ref.items, label);
        assert.deepEqual(records(got.merges, 3), ref.merges, label);
        assert.equal(got.leadItems, ref.leadItems, label);
        assert.equal(got.slots, ref.slots, label);
        assert.deepEqual(got.rowOffsets, mask.rowOffsets, 'the CSR on the device as given');
        assert.deepEqual(got.colIndices, mask.colIndices, 'the CSR on the device as given');
        plan.dispose();
      }
      mask.dispose();
    }
  });

  it("the notebook mask's class-token row (all 197 keys, five times the mean) leads; the other 196 rows follow in order", () => {
    const m = SparseMask.fromDense(patterns.vitNotebook(14, 14, 0));
    const s = m.devicePlan('test').describe();
    assert.equal(s.leadItems, 1);
    assert.deepEqual(Array.from(s.items.subarray(0, 4)), [0, 0, 197, -1]);
    assert.deepEqual(Array.from({ length: 196 }, (_, n) => s.items[4 * (n + 1)]), Array.from({ length: 196 }, (_, n) => n + 1));
    m.dispose();
  });
});

// ---- the transposed mask (CSC) ---------------------------------------------------------------

describe('SparsePlan: the transposed mask (CSC) for the backward', () => {
  it('lists, for each head and key column, the query rows holding it (ascending) and their CSR entries', () => {
    for (const [heads, nq, nk, density] of [[1, 37, 29, 0.3], [3, 9, 14, 0.5], [2, 1, 5, 1], [1, 6, 6, 0]]) {
      let r = heads * 131 + nq;
      const dense = Uint8Array.from({ length: heads * nq * nk }, (_, x) => {
        r = (Math.imul(r, 1103515245) + 12345) >>> 0;
        return Math.floor(x / nk) % nq === 2 || x % nk === 3 ? 0 : (r >>> 8) / 2 ** 24 < density ? 1 : 0; // an empty row and an empty column
      });
      const m = SparseMask.fromDense(dense, heads === 1 ? [nq, nk] : [heads, nq, nk]);
      const s = m.devicePlan('test').describe();
      // The reference: walk the dense mask column by column.
      const offsets = [0];
      const rows: number[] = [];
      const entries: number[] = [];
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < nk; j++) {
          for (let i = 0; i < nq; i++) {
            if (!dense[(h * nq + i) * nk + j]) continue;
            rows.push(i);
            const row = h * nq + i;
            entries.push(Array.from(s.colIndices.subarray(s.rowOffsets[row], s.rowOffsets[row + 1])).indexOf(j) + s.rowOffsets[row]);
          }
          offsets.push(rows.length);
        }
      }
      const label = `[${heads}, ${nq}, ${nk}] at density ${density}`;
      assert.deepEqual(Array.from(s.colOffsets), offsets, label);
      assert.deepEqual(Array.from(s.rowIndices), rows, label);
      assert.deepEqual(Array.from(s.csrIndex), entries, label);
      assert.ok(entries.every((e) => e >= 0), label);
      m.dispose();
    }
  });

  it('a mask too wide for int32 column offsets has none, and its forward still runs', () => {
    const m = SparseMask.fromCoordinates([0, 0], [2 ** 31 - 2, 5], [1, 2 ** 31 - 1]);
    const s = m.devicePlan('test').describe();
    assert.deepEqual([s.colOffsets.length, s.rowIndices.length, s.csrIndex.length], [0, 0, 0]);
    m.dispose();
  });
});

// ---- tile lists ----------------------------------------------------------------------------------

/**
 * For every head and query tile, the listed entries against the dense form `allowed`: every
 * tile holding an allowed (i, j) listed, no other, ascending; partial flags where `partial`
 * (a layout's lists), else 0 (a mask's).
 */
function checkTileLists(lists: { offsets: Int32Array; cols: Int32Array; area: number; tiles: number }, heads: number, nq: number, nk: number,
  tm: number, tn: number, allowed: (h: number, i: number, j: number) => boolean, partial: boolean, label: string): void {
  const mTiles = Math.ceil(nq / tm);
  assert.equal(lists.offsets.length, heads * mTiles + 1, label);
  assert.equal(lists.tiles, lists.cols.length, label);
  let area = 0;
  for (let h = 0; h < heads; h++) for (let t = 0; t < mTiles; t++) {
    const expected: number[] = [];
    const i0 = t * tm, i1 = Math.min(nq, i0 + tm);
    for (let u = 0; u < Math.ceil(nk / tn); u++) {
      const j0 = u * tn, j1 = Math.min(nk, j0 + tn);
      let any = false;
      let all = true;
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) {
        if (allowed(h, i, j)) any = true;
        else all = false;
      }
      if (any) {
        expected.push((u << 1) | (partial && !all ? 1 : 0));
        area += (i1 - i0) * (j1 - j0);
      }
    }
    const got = Array.from(lists.cols.subarray(lists.offsets[h * mTiles + t], lists.offsets[h * mTiles + t + 1]));
    assert.deepEqual(got, expected, `${label} head ${h} query tile ${t}`);
  }
  assert.equal(lists.area, area, label);
}

describe('blockPlan: the tiled kernel tile lists, built natively', () => {
  it("a mask's lists hold the tiles holding an entry (partial flag 0), with their area, cached per tiling", () => {
    const [N, heads] = [50, 2];
    const dense = randomBits(4, heads * N * N, 0.02);
    const m = SparseMask.fromDense(dense, [heads, N, N]);
    const plan = m.blockPlan('test');
    assert.equal(plan.bytes, 0, 'no tiling built yet');
    for (const [tm, tn] of [[16, 32], [64, 64], [1, 1], [7, 200]]) {
      const lists = plan.describe(tm, tn);
      assert.deepEqual([lists.tileM, lists.tileN, lists.heads], [tm, tn, heads]);
      checkTileLists(lists, heads, N, N, tm, tn, (h, i, j) => dense[(h * N + i) * N + j] !== 0, false, `${tm}x${tn}`);
      const bytes: number = plan.bytes;
      assert.ok(bytes > 0);
      plan.describe(tm, tn);
      assert.equal(plan.bytes, bytes, 'cached per tiling: nothing new built');
    }
    assert.equal(plan.stats('float16', 64), null, 'the CPU kernels have no tiles');
    m.dispose();
    assert.equal(plan.disposed, true, "the mask's dispose() frees its block plan");
  });

  it("a layout's lists mark a tile partial unless the layout allows all of it, keyed by Nq and Nk too", () => {
    for (const [bs, tm, tn, Nq, Nk] of [[16, 64, 32, 197, 150], [32, 16, 64, 100, 130], [64, 128, 64, 197, 197], [128, 64, 128, 130, 300]]) {
      const heads = 2;
      const [Rb, Cb] = [Math.ceil(Nq / bs), Math.ceil(Nk / bs)];
      const blocks = randomBits(bs + tm, heads * Rb * Cb, 0.5);
      const plan = native().blockPlan('cpu', { layout: blocks, heads, rows: Rb, cols: Cb, block: bs });
      const allowed = (h: number, i: number, j: number) => blocks[(h * Rb + Math.floor(i / bs)) * Cb + Math.floor(j / bs)] !== 0;
      checkTileLists(plan.describe(tm, tn, Nq, Nk), heads, Nq, Nk, tm, tn, allowed, true, `bs ${bs} tile ${tm}x${tn}`);
      const bytes: number = plan.bytes;
      plan.describe(tm, tn, Nq, Nk);
      assert.equal(plan.bytes, bytes, 'cached');
      checkTileLists(plan.describe(tm, tn, Nq - 1, Nk), heads, Nq - 1, Nk, tm, tn, allowed, true, `bs ${bs} Nq - 1`);
      assert.ok(plan.bytes > bytes, 'keyed by Nq and Nk too');
      plan.dispose();
      assert.equal(plan.bytes, 0);
    }
  });
});

// ---- the plan objects against hostile input ----------------------------------------------------

const i32 = (v: number[]) => Int32Array.from(v);
const refusal = (op: string, what: RegExp | string) => (e: Error & { code?: string }) =>
  e instanceof TypeError && e.code === 'ERR_INVALID_ARG' && e.message.startsWith(`${op}: `) && (typeof what === 'string' ? e.message.includes(what) : what.test(e.message));

/** An Int32Array whose buffer has been handed to another owner. */
function detached(values: number[]): Int32Array {
  const a = Int32Array.from(values);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

describe('sparsePlan and blockPlan refuse bad input, naming the function', () => {
  it('sparsePlan: malformed offsets, columns out of range or out of order, bad sizes', () => {
    const make = (offsets: unknown, cols: unknown, heads: unknown = 1, nq: unknown = 2, nk: unknown = 4, segment?: unknown) =>
      () => raw().sparsePlan('cpu', offsets, cols, heads, nq, nk, segment);
    const cases: [string, () => unknown, RegExp | string][] = [
      ['offsets not from 0', make(i32([1, 1, 2]), i32([0, 1])), 'rowOffsets must start with 0'],
      ['offsets decreasing', make(i32([0, 2, 1]), i32([0, 1])), 'must not decrease (entry 2)'],
      ['offsets past nnz', make(i32([0, 3, 3]), i32([0, 1])), 'past the 2 column indices'],
      ['offsets ending short', make(i32([0, 1, 1]), i32([0, 1])), 'ends at 1 but there are 2 column indices'],
      ['offsets negative', make(i32([0, -1, 2]), i32([0, 1])), 'must not decrease'],
      ['offsets of the wrong count', make(i32([0, 2]), i32([0, 1])), 'rowOffsets has 2 entries but maskHeads * Nq + 1 = 3'],
      ['no offsets', make(i32([]), i32([])), 'rowOffsets'],
      ['a column past nk', make(i32([0, 1, 2]), i32([0, 4])), 'column index 4 (entry 1) is outside [0, 4)'],
      ['a negative column', make(i32([0, 1, 2]), i32([-1, 0])), 'column index -1'],
      ['columns descending', make(i32([0, 2, 2]), i32([3, 1])), 'ascend within a row (entry 1, row 0)'],
      ['a duplicate column', make(i32([0, 2, 2]), i32([1, 1])), 'ascend within a row'],
      ['heads 0', make(i32([0]), i32([]), 0, 0), 'maskHeads must be an integer from 1'],
      ['heads 1.5', make(i32([0, 0, 0]), i32([]), 1.5), 'maskHeads must be a non-negative integer'],
      ['nq NaN', make(i32([0, 0, 0]), i32([]), 1, NaN), 'nq must be a non-negative integer'],
      ['nk -1', make(i32([0, 0, 0]), i32([]), 1, 2, -1), 'nk must be a non-negative integer'],
      ['nk 2^31', make(i32([0, 0, 0]), i32([]), 1, 2, 2 ** 31), 'Nq and Nk must be integers from 0 to 2^31 - 1'],
      ['nk a string', make(i32([0, 0, 0]), i32([]), 1, 2, '4'), 'nk must be a non-negative integer'],
      ['heads * nq past int32', make(i32([0]), i32([]), 2 ** 16, 2 ** 15), 'past the int32 limit'],
      ['segment 0', make(i32([0, 0, 0]), i32([]), 1, 2, 4, 0), 'segment must be an integer from 1'],
      ['segment 2^31', make(i32([0, 0, 0]), i32([]), 1, 2, 4, 2 ** 31), 'segment must be an integer from 1'],
      ['segment 0.5', make(i32([0, 0, 0]), i32([]), 1, 2, 4, 0.5), 'segment must be a non-negative integer'],
      ['offsets an Array', make([0, 0, 0], i32([])), 'rowOffsets must be an Int32Array'],
      ['offsets a Uint32Array', make(Uint32Array.from([0, 0, 0]), i32([])), 'rowOffsets must be an Int32Array'],
      ['columns a Float32Array', make(i32([0, 0, 0]), new Float32Array(0)), 'colIndices must be an Int32Array'],
      ['columns a DataView', make(i32([0, 0, 0]), new DataView(new ArrayBuffer(0))), 'colIndices must be an Int32Array'],
      ['columns a Tensor', make(i32([0, 0, 0]), randn([0])), 'colIndices must be an Int32Array'],
      ['offsets detached', make(detached([0, 0, 0]), i32([])), "rowOffsets's buffer has been detached"],
      ['columns detached', make(i32([0, 0, 0]), detached([])), "colIndices's buffer has been detached"],
      ['device tpu', () => raw().sparsePlan('tpu', i32([0]), i32([]), 1, 0, 0), "unknown device 'tpu'"],
      ['no arguments', () => raw().sparsePlan(), 'device must be a string'],
    ];
    for (const [label, fn, what] of cases) assert.throws(fn, refusal('sparsePlan', what), label);
  });

  it('blockPlan: bad sources, layouts of the wrong size, getters that detach the layout', () => {
    const layout = (o: Record<string, unknown>) => () => raw().blockPlan('cpu', { layout: new Uint8Array(4), heads: 1, rows: 2, cols: 2, block: 16, ...o });
    const disposedPlan = native().sparsePlan('cpu', i32([0]), i32([]), 1, 0, 0);
    disposedPlan.dispose();
    const bytes = new Uint8Array(4);
    const sneaky = { get layout() { return bytes; }, get heads() { structuredClone(bytes.buffer, { transfer: [bytes.buffer] }); return 1; }, rows: 2, cols: 2, block: 16 };
    const cases: [string, () => unknown, RegExp | string][] = [
      ['no source', () => raw().blockPlan('cpu'), 'source must be a SparsePlan or { layout, heads, rows, cols, block }'],
      ['a number', () => raw().blockPlan('cpu', 5), 'source must be a SparsePlan'],
      ['a Storage', () => raw().blockPlan('cpu', randn([4])._storage), 'layout must be a Uint8Array'],
      ['a disposed SparsePlan', () => raw().blockPlan('cpu', disposedPlan), 'the SparsePlan has been disposed'],
      ['layout an Int32Array', layout({ layout: new Int32Array(4) }), 'layout must be a Uint8Array'],
      ['too few blocks', layout({ layout: new Uint8Array(3) }), 'layout has 3 values but [1, 2, 2] needs 4'],
      ['block 0', layout({ block: 0 }), 'block must be an integer from 1'],
      ['heads 0', layout({ heads: 0, layout: new Uint8Array(0) }), 'layout heads must be an integer from 1'],
      ['rows -1', layout({ rows: -1 }), 'rows must be a non-negative integer'],
      ['cols past int32 elements', layout({ cols: 2 ** 27 + 1, layout: new Uint8Array(0), rows: 0 }), 'at most 134217728 blocks of 16 a side'],
      ['a getter detaching the layout', () => raw().blockPlan('cpu', sneaky), "layout's buffer has been detached"],
    ];
    for (const [label, fn, what] of cases) assert.throws(fn, refusal('blockPlan', what), label);
    const thrown = new RangeError('from the getter');
    assert.throws(() => raw().blockPlan('cpu', { get layout() { throw thrown; } }), (e) => e === thrown, "a getter's exception goes on as it is");
    const plan = native().blockPlan('cpu', { layout: new Uint8Array(4), heads: 1, rows: 2, cols: 2, block: 16 });
    for (const [label, fn, what] of [
      ['describe without nq and nk', () => plan.describe(16, 16), 'nq and nk must be given'],
      ['describe at tile 0', () => plan.describe(0, 16, 32, 32), 'tile sizes must be integers from 1'],
      ['describe not covered', () => plan.describe(16, 16, 64, 32), 'does not cover 64 x 32'],
      ['stats of dtype int32', () => plan.stats('int32', 8, 32, 32), 'dtype must be a float dtype name'],
      ['stats of head dim 0', () => plan.stats('float32', 0, 32, 32), 'headDim must be an integer from 1'],
    ] as const) {
      assert.throws(fn, refusal(`BlockPlan.${label.split(' ')[0]}`, what), label);
    }
    plan.dispose();
  });

  it('attention and sparseAttention refuse a disposed plan, one that does not fit, and one disposed by a getter', () => {
    const shape = [1, 32, 2, 8];
    const q = randn(shape, { seed: 1 });
    const out = poisoned(shape, 'float32', 'cpu');
    const layoutPlan = native().blockPlan('cpu', { layout: new Uint8Array(4).fill(1), heads: 1, rows: 2, cols: 2, block: 16 });
    const small = native().blockPlan('cpu', { layout: new Uint8Array(1).fill(1), heads: 1, rows: 1, cols: 1, block: 16 });
    const threeHeads = native().blockPlan('cpu', { layout: new Uint8Array(12).fill(1), heads: 3, rows: 2, cols: 2, block: 16 });
    native().attention(out, q, q, q, null, null, 0.5, false, layoutPlan);
    assert.throws(() => native().attention(out, q, q, q, null, null, 0.5, false, small), refusal('attention', "the plan's layout must be [ceil(Nq / block), ceil(Nk / block)]"));
    assert.throws(() => native().attention(out, q, q, q, null, null, 0.5, false, threeHeads), refusal('attention', 'the plan is for 3 heads'));
    assert.throws(() => native().attention(out, q, q, q, null, null, 0.5, false, {} as NativeBlockPlan), refusal('attention', 'plan must be a BlockPlan'));
    const csr = native().sparsePlan('cpu', new Int32Array(33), i32([]), 1, 32, 32);
    assert.throws(() => native().attention(out, q, q, q, null, null, 0.5, false, csr as never), refusal('attention', 'plan must be a BlockPlan'));
    assert.throws(() => native().sparseAttention(out, q, q, q, layoutPlan as never, 0.5), refusal('sparseAttention', 'plan must be a SparsePlan'));
    // A getter of an argument read before the plan disposes it: refused at bind, not read.
    const arg = (t: typeof q, effect: () => void) => ({ _storage: t._storage, offset: 0, strides: t.strides, dtype: t.dtype, get shape() { effect(); return t.shape; } });
    assert.throws(() => raw().attention(out, q, q, arg(q, () => layoutPlan.dispose()), null, null, 0.5, false, layoutPlan), refusal('attention', 'the plan has been disposed'));
    assert.throws(() => raw().sparseAttention(out, q, q, arg(q, () => csr.dispose()), csr, 0.5), refusal('sparseAttention', 'the plan has been disposed'));
    const maskPlan = native().blockPlan('cpu', native().sparsePlan('cpu', new Int32Array(33), i32([]), 1, 32, 32));
    assert.throws(() => native().attention(out, q, q, randn([1, 31, 2, 8]), null, null, 0.5, false, maskPlan), refusal('attention', 'shapes disagree'));
    for (const p of [small, threeHeads, maskPlan]) p.dispose();
  });

  it('every SparsePlan and BlockPlan member refuses another receiver; a plan made from JS holds nothing', () => {
    const sparse = native().sparsePlan('cpu', i32([0, 1]), i32([0]), 1, 1, 1);
    const block = native().blockPlan('cpu', sparse);
    const storage = randn([4])._storage as object;
    for (const [cls, plan, other] of [['SparsePlan', sparse, block], ['BlockPlan', block, sparse]] as const) {
      const proto = Object.getPrototypeOf(plan) as Record<string, (...a: unknown[]) => unknown>;
      for (const r of [other, storage, {}, 5, null, proto]) {
        for (const name of ['dispose', 'stats', 'describe']) {
          assert.throws(() => proto[name].call(r, 'float32', 8), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: `${cls}.${name}: the receiver is not a ${cls}` });
        }
        for (const name of ['bytes', 'disposed']) {
          assert.throws(() => Object.getOwnPropertyDescriptor(proto, name)!.get!.call(r), { message: `${cls}.${name}: the receiver is not a ${cls}` });
        }
      }
      const bare = new (proto.constructor as unknown as new () => NativeSparsePlan & NativeBlockPlan)();
      assert.equal(bare.disposed, true);
      assert.equal(bare.bytes, 0);
      assert.throws(() => bare.stats('float32', 8), { message: `${cls}.stats: the plan has been disposed` });
      assert.throws(() => bare.describe(1, 1), { message: `${cls}.describe: the plan has been disposed` });
      bare.dispose();
      const q = randn([1, 1, 1, 4]);
      const call = cls === 'SparsePlan' ? () => native().sparseAttention(q, q, q, q, bare, 1) : () => native().attention(q, q, q, q, null, null, 1, false, bare);
      assert.throws(call, { message: /the plan has been disposed/ });
    }
    sparse.dispose();
    assert.equal(block.disposed, true, "a mask's block plan goes with its SparsePlan");
    sparse.dispose();
    block.dispose();
    assert.throws(() => raw().blockPlan('cpu', sparse), refusal('blockPlan', 'the SparsePlan has been disposed'));
  });
});

describe('plans the GC can see', function () {
  this.timeout(60000);

  it('dropped 5 MiB plans, never disposed, keep the RSS bounded', async () => {
    const rows = 2 ** 18; // 1 MiB of offsets and 4 MiB of schedule items a plan
    const offsets = new Int32Array(rows + 1);
    const cols = new Int32Array(0);
    const before = process.memoryUsage().rss;
    let peak = before;
    for (let i = 0; i < 400; i++) {
      native().sparsePlan('cpu', offsets, cols, 1, rows, 1);
      await new Promise((resolve) => setImmediate(resolve));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const grown = (peak - before) / 2 ** 20;
    assert.ok(grown < 512, `RSS grew by ${grown.toFixed(0)} MiB over 400 dropped 5 MiB plans (2000 MiB made)`);
  });
});

describeDevice('cuda:0', 'plans across devices', () => {
  it('a plan on one device serves no attention on another, and blockPlan names both', () => {
    const plan = native().sparsePlan('cpu', new Int32Array(17), i32([]), 1, 16, 16);
    assert.throws(() => raw().blockPlan('cuda:0', plan), refusal('blockPlan', 'the SparsePlan is on cpu, not cuda:0'));
    const q = randn([1, 16, 1, 8], { device: 'cuda:0' });
    assert.throws(() => native().sparseAttention(q, q, q, q, plan, 1), refusal('sparseAttention', 'the plan is on cpu but q is on cuda:0'));
    const block = native().blockPlan('cpu', plan);
    assert.throws(() => native().attention(q, q, q, q, null, null, 1, false, block), refusal('attention', 'the plan is on cpu but q is on cuda:0'));
    const stats = native().blockPlan('cuda:0', native().sparsePlan('cuda:0', new Int32Array(17), i32([]), 1, 16, 16)).stats('float16', 64);
    assert.ok(stats !== null && stats.tileM > 0 && stats.tileN > 0 && stats.tiles === 0 && stats.area === 0, JSON.stringify(stats));
  });
});
