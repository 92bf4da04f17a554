// The CPU's two attention kernels: the vectorized one (native/cpu/attention_simd.cc, float32
// where the CPU has AVX2 and FMA) and the plain one it replaces (cpu_backend.cc, what the
// reference GEMM selects), each against float64 over awkward sizes, masks, biases, causal
// rows and grouped kv heads. test/attention.test.ts runs the default path over more cases.
import { attention, cpu, randn, tensor, Tensor } from '../ts/index';
import { assertClose, freshSeed, host } from './helpers';
import { attentionReference } from './attention_reference';

interface Case { B: number; Nq: number; Nk: number; H: number; D: number; Hkv?: number; mask?: boolean; bias?: boolean; causal?: boolean }

const CASES: Case[] = [
  { B: 1, Nq: 1, Nk: 1, H: 1, D: 1 },
  { B: 2, Nq: 197, Nk: 197, H: 2, D: 12 },
  { B: 1, Nq: 33, Nk: 1000, H: 1, D: 100 },
  { B: 1, Nq: 70, Nk: 65, H: 2, D: 64, causal: true },
  { B: 2, Nq: 97, Nk: 131, H: 2, D: 24, mask: true, bias: true },
  { B: 1, Nq: 40, Nk: 57, H: 4, D: 16, Hkv: 2, causal: true, mask: true },
  { B: 1, Nq: 9, Nk: 300, H: 1, D: 256 },
  { B: 1, Nq: 20, Nk: 77, H: 1, D: 200, bias: true },
];

function check(c: Case): void {
  const seed = freshSeed();
  const Hkv = c.Hkv ?? c.H;
  const q = randn([c.B, c.Nq, c.H, c.D], { seed });
  const k = randn([c.B, c.Nk, Hkv, c.D], { seed: seed + 1 });
  const v = randn([c.B, c.Nk, Hkv, c.D], { seed: seed + 2 });
  const maskHost = c.mask ? Uint8Array.from({ length: c.B * c.H * c.Nq * c.Nk }, (_, i) => ((i * 2654435761) >>> 7) % 5 === 0 ? 0 : 1) : null;
  const mask = maskHost && tensor(maskHost, [c.B, c.H, c.Nq, c.Nk]);
  const bias = c.bias ? randn([c.B, c.H, c.Nq, c.Nk], { seed: seed + 3 }) : null;
  const out: Tensor = attention(q, k, v, { mechanism: 'memory_efficient', mask, bias, causal: c.causal ?? false });
  const ref = attentionReference({ ...c, Hkv, scale: 1 / Math.sqrt(c.D), causal: c.causal ?? false, mask: maskHost, bias: bias && host(bias) }, host(q), host(k), host(v));
  assertClose(host(out), ref, 1e-5, `${JSON.stringify(c)} seed ${seed}`);
  for (const t of [q, k, v, mask, bias, out]) t?.dispose();
}

for (const kernel of ['best', 'reference'] as const) {
  describe(`cpu attention: the ${kernel === 'best' ? 'vectorized' : 'plain'} kernel against float64`, () => {
    let before = '';
    beforeEach(() => { before = cpu.gemmKernel(); cpu.gemmKernel(kernel); });
    afterEach(() => { cpu.gemmKernel(before === 'reference' ? 'reference' : 'best'); });
    for (const c of CASES) {
      it(`B${c.B} Nq${c.Nq} Nk${c.Nk} H${c.H}${c.Hkv ? `/${c.Hkv}` : ''} D${c.D}${c.mask ? ' mask' : ''}${c.bias ? ' bias' : ''}${c.causal ? ' causal' : ''}`, () => check(c));
    }
  });
}
