// Device smoke test of the CUDA sparse kernels against memory_efficient with the same mask
// as a dense mask, and first timings. Self-contained (inline masks, CSR, schedule, tile lists).
// Usage: node --import tsx bench/sparse_smoke.ts
import { attention, randn, tensor, Tensor, empty, FloatDType, splitQkv, patterns } from '../ts/index';
import { native } from '../ts/native';
import { benchmark } from '../ts/bench/timer';
import { Random } from '../ts/random';

type Mask = { nq: number; nk: number; heads: number; data: Uint8Array };

function randomMask(nq: number, nk: number, heads: number, density: number, seed: number, emptyRows = 0): Mask {
  const r = new Random(seed);
  const data = new Uint8Array(heads * nq * nk);
  for (let i = 0; i < data.length; i++) data[i] = r.nextUint32() / 2 ** 32 < density ? 1 : 0;
  for (let h = 0; h < heads; h++) for (let e = 0; e < emptyRows; e++) data.fill(0, (h * nq + ((e * 7) % nq)) * nk, (h * nq + ((e * 7) % nq) + 1) * nk);
  return { nq, nk, heads, data };
}

function gaussianGrid(side: number, sigma: number, perRow: number, randomDensity: number, seed: number, local = 0, axial = false): Mask {
  const n = side * side + 1;
  const r = new Random(seed);
  const data = new Uint8Array(n * n);
  for (let j = 0; j < n; j++) { data[j] = 1; data[j * n] = 1; }
  const normal = () => Math.sqrt(-2 * Math.log(1 - r.nextUint32() / 2 ** 32)) * Math.cos(2 * Math.PI * (r.nextUint32() / 2 ** 32));
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const i = 1 + y * side + x;
      for (let s = 0; s < perRow; s++) {
        const yy = Math.round(y + sigma * normal()), xx = Math.round(x + sigma * normal());
        if (yy >= 0 && yy < side && xx >= 0 && xx < side) data[i * n + 1 + yy * side + xx] = 1;
      }
      for (let j = 1; j < n; j++) if (r.nextUint32() / 2 ** 32 < randomDensity) data[i * n + j] = 1;
      if (local > 0 || axial)
        for (let yy = 0; yy < side; yy++)
          for (let xx = 0; xx < side; xx++) {
            const near = (yy - y) ** 2 + (xx - x) ** 2 < local * local;
            if (near || (axial && (yy === y || xx === x))) data[i * n + 1 + yy * side + xx] = 1;
          }
    }
  return { nq: n, nk: n, heads: 1, data };
}

function csr(m: Mask) {
  const rows = m.heads * m.nq;
  const offsets = new Int32Array(rows + 1);
  let nnz = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m.nk; j++) nnz += m.data[r * m.nk + j];
    offsets[r + 1] = nnz;
  }
  const cols = new Int32Array(nnz);
  let e = 0;
  for (let r = 0; r < rows; r++) for (let j = 0; j < m.nk; j++) if (m.data[r * m.nk + j]) cols[e++] = j;
  return { offsets, cols, nnz };
}

function schedule(offsets: Int32Array, segment = 256) {
  const items: number[] = [], merges: number[] = [];
  let slots = 0;
  for (let r = 0; r + 1 < offsets.length; r++) {
    const b = offsets[r], e = offsets[r + 1], len = e - b;
    if (len <= segment) { items.push(r, b, e, -1); continue; }
    const pieces = Math.ceil(len / segment);
    merges.push(r, slots, pieces);
    for (let k = 0; k < pieces; k++) items.push(r, b + Math.floor((len * k) / pieces), b + Math.floor((len * (k + 1)) / pieces), slots++);
  }
  return { items: Int32Array.from(items), merges: Int32Array.from(merges), slots };
}

function uploadCsr(m: Mask, segment = 256) {
  const c = csr(m);
  const s = schedule(c.offsets, segment);
  const t = (a: Int32Array) => tensor(a.length ? a : new Int32Array(0), [a.length], { dtype: 'int32', device: 'cuda' });
  return { offsets: t(c.offsets), cols: t(c.cols), items: t(s.items), merges: t(s.merges), slots: s.slots, nnz: c.nnz, heads: m.heads };
}

function sparse(q: Tensor, k: Tensor, v: Tensor, g: ReturnType<typeof uploadCsr>, scale: number): Tensor {
  const out = empty(q.shape, { dtype: q.dtype, device: 'cuda' });
  native().fill(out, NaN);
  native().sparseAttention(out, q, k, v, native().sparsePlan(g.offsets, g.cols, g.heads, g.items, g.merges, g.slots), scale);
  return out;
}

function denseMask(m: Mask): Tensor {
  return tensor(m.data, m.heads === 1 ? [m.nq, m.nk] : [1, m.heads, m.nq, m.nk], { dtype: 'uint8', device: 'cuda' });
}

function relErr(a: Tensor, b: Tensor): number {
  const x = a.cast('float32').dataSync() as Float32Array, y = b.cast('float32').dataSync() as Float32Array;
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) { num += (x[i] - y[i]) ** 2; den += y[i] ** 2; if (Number.isNaN(x[i])) return NaN; }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

// Tile lists of a block layout (uint8 [LH, Rb, Cb], block bs) at the kernel's [tm, tn].
function tileLists(layout: Uint8Array, lh: number, rb: number, cb: number, bs: number, nq: number, nk: number, tm: number, tn: number) {
  const mt = Math.ceil(nq / tm), nt = Math.ceil(nk / tn);
  const offsets = [0], cols: number[] = [];
  for (let h = 0; h < lh; h++)
    for (let t = 0; t < mt; t++) {
      const r0 = Math.floor((t * tm) / bs), r1 = Math.min(rb, Math.ceil(Math.min((t + 1) * tm, nq) / bs));
      for (let u = 0; u < nt; u++) {
        const c0 = Math.floor((u * tn) / bs), c1 = Math.min(cb, Math.ceil(Math.min((u + 1) * tn, nk) / bs));
        let any = false, all = true;
        for (let a = r0; a < r1; a++) for (let c = c0; c < c1; c++) { const on = layout[(h * rb + a) * cb + c] !== 0; any ||= on; all &&= on; }
        if (any) cols.push((u << 1) | (all ? 0 : 1));
      }
      offsets.push(cols.length);
    }
  return { offsets: tensor(Int32Array.from(offsets), [offsets.length], { dtype: 'int32', device: 'cuda' }), colsArr: Int32Array.from(cols) };
}

function blockSparse(q: Tensor, k: Tensor, v: Tensor, layout: Uint8Array, lh: number, bs: number, opts: { causal?: boolean; mask?: Tensor | null } = {}) {
  const [B, N, H, D] = q.shape;
  const nk = k.shape[1];
  const rb = Math.ceil(N / bs), cb = Math.ceil(nk / bs);
  const [tm, tn] = native().attentionTileShape('cuda', q.dtype, D);
  const lists = tileLists(layout, lh, rb, cb, bs, N, nk, tm, tn);
  const colsT = tensor(lists.colsArr.length ? lists.colsArr : new Int32Array(1), [Math.max(lists.colsArr.length, 1)], { dtype: 'int32', device: 'cuda' });
  const layoutT = tensor(layout, [lh, rb, cb], { dtype: 'uint8', device: 'cuda' });
  const run = () => {
    const out = empty([B, N, H, D], { dtype: q.dtype, device: 'cuda' });
    const maskView = opts.mask ? opts.mask._view([B, H, N, nk], [0, 0, nk, 1]) : null;
    native().attention(out, q, k, v, maskView, null, 1 / Math.sqrt(D), !!opts.causal,
      { layout: layoutT, block: bs, tileOffsets: lists.offsets, tileCols: colsT, tileM: tm, tileN: tn });
    return out;
  };
  return { run, dispose: () => { layoutT.dispose(); colsT.dispose(); lists.offsets.dispose(); } };
}

function expandLayout(layout: Uint8Array, lh: number, bs: number, nq: number, nk: number): Mask {
  const rb = Math.ceil(nq / bs), cb = Math.ceil(nk / bs);
  const data = new Uint8Array(lh * nq * nk);
  for (let h = 0; h < lh; h++) for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) data[(h * nq + i) * nk + j] = layout[(h * rb + Math.floor(i / bs)) * cb + Math.floor(j / bs)];
  return { nq, nk, heads: lh, data };
}

function randomLayout(lh: number, rb: number, cb: number, density: number, seed: number): Uint8Array {
  const r = new Random(seed);
  const l = new Uint8Array(lh * rb * cb);
  for (let i = 0; i < l.length; i++) l[i] = r.nextUint32() / 2 ** 32 < density ? 1 : 0;
  return l;
}

const ms = (m: { median: number; q1: number; q3: number }) => `${(m.median * 1e3).toFixed(4)} ms (IQR ${((m.q3 - m.q1) * 1e3).toFixed(4)})`;

function parity(): void {
  let worst = 0;
  const line = (what: string, e: number, tol: number) => {
    const ok = e <= tol;
    if (!ok || Number.isNaN(e)) worst = Infinity;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: rel err ${e.toExponential(2)}`);
  };
  const tol = (dt: FloatDType) => (dt === 'float32' ? 1e-5 : dt === 'float16' ? 2e-3 : 1.6e-2);
  const shapes = [
    { B: 2, N: 1, H: 3, D: 8 }, { B: 2, N: 197, H: 8, D: 12 }, { B: 1, N: 1000, H: 2, D: 64 }, { B: 2, N: 300, H: 4, D: 128 },
    { B: 1, N: 130, H: 2, D: 256 }, { B: 3, N: 77, H: 5, D: 40 },
  ];
  for (const dt of ['float16', 'bfloat16', 'float32'] as FloatDType[])
    for (const s of shapes)
      for (const [density, heads, emptyRows, segment] of [[0.1, 1, 3, 256], [0.02, s.H, 1, 256], [1.0, 1, 0, 64], [0.001, 1, 0, 256]] as const) {
        const q = randn([s.B, s.N, s.H, s.D], { device: 'cuda', dtype: dt, seed: 1 });
        const k = randn([s.B, s.N, s.H, s.D], { device: 'cuda', dtype: dt, seed: 2 });
        const v = randn([s.B, s.N, s.H, s.D], { device: 'cuda', dtype: dt, seed: 3 });
        const m = randomMask(s.N, s.N, heads, density, 7 + s.N, emptyRows);
        const g = uploadCsr(m, segment);
        const ref = attention(q, k, v, { mask: denseMask(m) });
        const got = sparse(q, k, v, g, 1 / Math.sqrt(s.D));
        line(`csr ${dt} B${s.B} N${s.N} H${s.H} D${s.D} density ${density} heads ${heads} seg ${segment} slots ${g.slots}`, relErr(got, ref), tol(dt));
      }
  // qkv read in place
  {
    const qkv = randn([4, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 4 });
    const { q, k, v } = splitQkv(qkv);
    const m = gaussianGrid(14, 5, 60, 0.01, 3, 2, true);
    const g = uploadCsr(m);
    line('csr float16 qkv-in-place notebook-like', relErr(sparse(q, k, v, g, 1 / Math.sqrt(12)), attention(q, k, v, { mask: denseMask(m) })), 2e-3);
  }
  // block sparse
  for (const dt of ['float16', 'bfloat16', 'float32'] as FloatDType[])
    for (const [N, D, bs, lh, causal, withMask] of [[197, 12, 16, 1, false, false], [1000, 64, 32, 2, false, true], [300, 128, 64, 1, true, false], [513, 64, 128, 2, false, false], [257, 32, 16, 1, true, true]] as const) {
      const B = 2, H = 2;
      const q = randn([B, N, H, D], { device: 'cuda', dtype: dt, seed: 11 });
      const k = randn([B, N, H, D], { device: 'cuda', dtype: dt, seed: 12 });
      const v = randn([B, N, H, D], { device: 'cuda', dtype: dt, seed: 13 });
      const rb = Math.ceil(N / bs);
      const layout = randomLayout(lh, rb, rb, 0.3, N + bs);
      const elem = withMask ? randomMask(N, N, 1, 0.5, 99) : null;
      const elemT = elem ? denseMask(elem) : null;
      const bsA = blockSparse(q, k, v, layout, lh, bs, { causal, mask: elemT });
      const ex = expandLayout(layout, lh, bs, N, N);
      if (elem) for (let h = 0; h < lh; h++) for (let i = 0; i < N * N; i++) ex.data[h * N * N + i] &= elem.data[i];
      const ref = attention(q, k, v, { mask: denseMask(ex), causal });
      line(`block ${dt} N${N} D${D} bs${bs} lh${lh} causal ${causal} mask ${withMask}`, relErr(bsA.run(), ref), tol(dt));
      bsA.dispose();
    }
  console.log(worst === Infinity ? 'PARITY: FAILURES' : 'PARITY: all ok');
}

function timings(): void {
  // Notebook ViT attention: B64 N197 H8 D12, qkv in place.
  const qkv = randn([64, 197, 3, 8, 12], { device: 'cuda', dtype: 'float16', seed: 5 });
  const { q, k, v } = splitQkv(qkv);
  const nb = patterns.vitNotebook(14, 14, 0);
  const m: Mask = { nq: 197, nk: 197, heads: 1, data: nb.data };
  const g = uploadCsr(m);
  console.log(`notebook mask: density ${(g.nnz / (197 * 197)).toFixed(3)}`);
  const dense = benchmark(() => attention(q, k, v).dispose(), { device: 'cuda', minRunTime: 0.5 });
  const denseMasked = benchmark(() => attention(q, k, v, { mask: denseMask(m) }).dispose(), { device: 'cuda', minRunTime: 0.5 });
  const sp = benchmark(() => sparse(q, k, v, g, 1 / Math.sqrt(12)).dispose(), { device: 'cuda', minRunTime: 0.5 });
  console.log(`B64 N197 H8 D12 f16: dense ${ms(dense)}; dense+mask ${ms(denseMasked)}; csr ${ms(sp)}; csr/dense ${(sp.median / dense.median).toFixed(2)}`);
  // Scaling: N = 12545, B8 H8 D12, gaussian sigma 16 + 0.1% random, class token dense.
  const big = gaussianGrid(112, 16, 70, 0.001, 9);
  const gb = uploadCsr(big);
  console.log(`N12545 mask: density ${(gb.nnz / 12545 ** 2).toFixed(5)} nnz ${gb.nnz} slots ${gb.slots}`);
  const qb = randn([8, 12545, 8, 12], { device: 'cuda', dtype: 'float16', seed: 6 });
  const kb = randn([8, 12545, 8, 12], { device: 'cuda', dtype: 'float16', seed: 7 });
  const vb = randn([8, 12545, 8, 12], { device: 'cuda', dtype: 'float16', seed: 8 });
  const spb = benchmark(() => sparse(qb, kb, vb, gb, 1 / Math.sqrt(12)).dispose(), { device: 'cuda', minRunTime: 0.5 });
  const denseB = benchmark(() => attention(qb, kb, vb).dispose(), { device: 'cuda', minRunTime: 0.5 });
  console.log(`N12545 B8 H8 D12 f16: csr ${ms(spb)}; ours dense ${ms(denseB)}`);
  {
    const mt = denseMask(big);
    const ref = attention(qb, kb, vb, { mask: mt });
    console.log(`N12545 parity vs dense+mask: ${relErr(sparse(qb, kb, vb, gb, 1 / Math.sqrt(12)), ref).toExponential(2)}`);
    mt.dispose();
  }
  // Block sparse B8 H16 N4096 D64, block 128, 10% / 50%.
  const q4 = randn([8, 4096, 16, 64], { device: 'cuda', dtype: 'float16', seed: 1 });
  const k4 = randn([8, 4096, 16, 64], { device: 'cuda', dtype: 'float16', seed: 2 });
  const v4 = randn([8, 4096, 16, 64], { device: 'cuda', dtype: 'float16', seed: 3 });
  const d4 = benchmark(() => attention(q4, k4, v4).dispose(), { device: 'cuda', minRunTime: 0.5 });
  console.log(`B8 H16 N4096 D64 dense ${ms(d4)}`);
  for (const density of [0.1, 0.5]) {
    const layout = randomLayout(1, 32, 32, density, 42);
    let on = 0;
    for (const x of layout) on += x;
    const bsA = blockSparse(q4, k4, v4, layout, 1, 128);
    const t = benchmark(() => bsA.run().dispose(), { device: 'cuda', minRunTime: 0.5 });
    console.log(`block_sparse ${(on / 1024 * 100).toFixed(1)}% of 128-blocks: ${ms(t)} (${(t.median / d4.median).toFixed(3)} x dense)`);
    bsA.dispose();
  }
}

parity();
timings();
