// info(): what runs on this machine (after `python -m xformers.info`): the backends, the
// GPU and its CUDA/cuBLASLt versions, the registered attention mechanisms and which dtypes
// and head dims each kernel serves here — and, where something does not run, why not.
import { attentionMechanisms } from '../attention';
import { MAX_HEAD_DIM } from '../attention/limits';
import { backends, cuda } from '../cuda';
import { native } from '../native';

export interface InfoReport {
  version: string;
  node: string;
  backends: string[];
  build: { cuda: boolean; cudaArchitectures: string | null; napiVersion: number };
  /** Why the CUDA backend is not usable here, or null when it is. */
  cudaUnavailable: string | null;
  gpu: null | { name: string; computeCapability: string; totalMemoryGB: number; smCount: number; cudaRuntime: string; cudaDriver: string; cublasLt: string };
  /** NVRTC, which cuda.compile needs: its version, library and architectures, or why it is missing. */
  nvrtc: { available: boolean; version: string | null; library: string | null; archs: number[]; unavailable: string | null };
  mechanisms: { name: string; serves: { backend: string; what: string }[] }[];
}

/** What each known mechanism's kernels serve, per backend (the rules in ts/attention and native/). */
const KERNELS: Record<string, { cuda: string; cpu: string }> = {
  memory_efficient: {
    cuda: `float16/bfloat16 on tensor cores for D <= ${MAX_HEAD_DIM}; float32 SIMT (exact FMA) for 16 < D <= ${MAX_HEAD_DIM}`,
    cpu: `float32/float16/bfloat16 (float32 accumulation) for D <= ${MAX_HEAD_DIM}`,
  },
  vanilla: {
    cuda: 'float16/bfloat16/float32, any D (cuBLASLt GEMMs around the softmax kernel)',
    cpu: 'float32/float16/bfloat16, any D',
  },
  sparse: { cuda: 'float16/bfloat16/float32 over a CSR mask', cpu: 'float32/float16/bfloat16 over a CSR mask' },
  block_sparse: { cuda: 'float16/bfloat16 flash tiles over a block layout', cpu: 'float32/float16/bfloat16 over a block layout' },
};

/** CUDA's version integers (1000 * major + 10 * minor) as "13.0". */
export function cudaVersion(v: number): string {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

/** cuBLASLt's version integer (10000 * major + 100 * minor + patch) as "13.1.0". */
export function cublasLtVersion(v: number): string {
  return v > 0 ? `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}` : 'unknown';
}

export function info(): InfoReport {
  const addon = native();
  const bs = backends();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const version = (require('../../package.json') as { version: string }).version;
  let cudaUnavailable: string | null = null;
  if (!addon.buildInfo.cuda) cudaUnavailable = 'not in this build (no nvcc/cuBLASLt at build time; see the cmake-js build line)';
  else if (!bs.includes('cuda')) cudaUnavailable = `built, but no usable GPU (${addon.cudaDeviceCount()} devices found)`;
  let gpu: InfoReport['gpu'] = null;
  if (cudaUnavailable === null) {
    const d = cuda.device();
    gpu = {
      name: d.name, computeCapability: d.computeCapability, totalMemoryGB: d.totalMemory / 2 ** 30, smCount: d.smCount,
      cudaRuntime: cudaVersion(d.runtimeVersion), cudaDriver: cudaVersion(d.driverVersion), cublasLt: cublasLtVersion(d.cublasLtVersion),
    };
  }
  // float32 at D <= 16: the 3xTF32 tensor-core kernel (native/cuda/attention/fwd_tf32x3.cuh) at precision 'high'.
  const tf32x3 = "; float32 at D <= 16 on tensor cores by 3xTF32 (about float32 precision; precision 'highest' for the SIMT kernel)";
  const mechanisms = attentionMechanisms().map((name) => {
    const k = KERNELS[name];
    const cudaWhat = k ? k.cuda + (name === 'memory_efficient' ? tf32x3 : '') : 'registered here; its kernel facts are not listed';
    const serves = [
      { backend: 'cuda', what: cudaUnavailable ?? cudaWhat },
      { backend: 'cpu', what: k?.cpu ?? 'registered here; its kernel facts are not listed' },
    ];
    return { name, serves };
  });
  const nv = addon.nvrtcInfo();
  const nvrtc: InfoReport['nvrtc'] = {
    available: nv.available, version: nv.version?.join('.') ?? null, library: nv.available ? nv.library : null, archs: nv.archs,
    unavailable: nv.available ? null : nv.error,
  };
  return {
    version, node: process.version, backends: bs, nvrtc,
    build: { cuda: addon.buildInfo.cuda, cudaArchitectures: addon.buildInfo.cudaArchitectures ?? null, napiVersion: addon.buildInfo.napiVersion },
    cudaUnavailable, gpu, mechanisms,
  };
}

/** info() as the lines `npx nodeformers info` prints. */
export function formatInfo(r: InfoReport = info()): string {
  const lines = [
    `nodeformers ${r.version} (Node ${r.node}, N-API ${r.build.napiVersion})`,
    `backends: ${r.backends.join(', ')}`,
    `  cpu: yes`,
    `  cuda: ${r.cudaUnavailable ?? `yes (architectures ${r.build.cudaArchitectures ?? 'default'})`}`,
  ];
  const nv = r.nvrtc;
  lines.push(`  nvrtc (cuda.compile): ${nv.available ? `yes (NVRTC ${nv.version}, ${nv.library}; sm_${Math.min(...nv.archs)} to sm_${Math.max(...nv.archs)})` : `no: ${nv.unavailable}`}`);
  if (r.gpu) {
    lines.push(`GPU: ${r.gpu.name}, compute capability ${r.gpu.computeCapability}, ${r.gpu.totalMemoryGB.toFixed(1)} GiB, ${r.gpu.smCount} SMs`,
      `  CUDA runtime ${r.gpu.cudaRuntime}, driver ${r.gpu.cudaDriver}, cuBLASLt ${r.gpu.cublasLt}`);
  } else {
    lines.push('GPU: none');
  }
  lines.push(`attention mechanisms: ${r.mechanisms.map((m) => m.name).join(', ')}`);
  for (const m of r.mechanisms) {
    lines.push(`  ${m.name}`);
    for (const s of m.serves) lines.push(`    ${s.backend}: ${s.what}`);
  }
  return lines.join('\n');
}
